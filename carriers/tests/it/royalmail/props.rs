//! Properties: `parse` and `split` never panic, whatever the bytes (10,600 cases in all), and
//! what they return on mutated fixtures stays coherent: events oldest first, splits that neither
//! lose nor invent records, and one id for one event however its offset is spelled.

use chrono::{Duration, NaiveDate};
use gluey_carriers::royalmail::RoyalMailV2;
use gluey_carriers::{CarrierFormat, ParsedRecord};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::{fixture, parse, FIXTURES};

use crate::support::json_mutation::mutate;

/// Runs both entry points and checks what they return; a panic fails the property on its own.
fn check(payload: &[u8]) -> Result<(), TestCaseError> {
    crate::support::properties::check_parse_and_split(payload, parse, |p| RoyalMailV2.split(p))
}

/// Values that poke at what the parser reads: codes, timestamps (valid, odd and broken), windows.
fn json_value() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        prop::sample::select(vec![
            "", " ", "EVKSP", "evksp", "EVGMI", "RFRXS", "E1142", "RM123456785GB",
            "2024-03-28T13:02:11+00:00", "2024-03-28T13:02:11+0100", "2024-03-28T13:02:11",
            "2024-03-28T13:02:11Z", "2024-03-28T13:02:11+", "08:00:00+01:00", "08:00:00", "2024-03-28",
            "2024-10-27T01:30:00", "+262143-12-31T23:59:59-18:00", "-262143-01-01T00:00:00+18:00",
            "2024-03-28T13:02:11\u{2212}01:00", "T-", "é",
        ])
        .prop_map(str::to_string),
        "[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}T[0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2}(\\.[0-9]{0,9})?)?([+-][0-9:]{0,6}|Z)?",
        "[0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2})?([+-][0-9:]{0,6}|Z)?",
        "\\PC{0,24}",
    ];
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text.prop_map(Value::String),
        Just(json!({})),
        Just(json!([])),
        Just(json!({"mailPieceId": "X1", "error": {"errorCode": "E1142"}})),
        Just(json!({"eventCode": "EVKSP", "eventDateTime": "2024-03-28T13:02:11+00:00"})),
        Just(json!({"date": "2024-03-28", "endOfEstimatedWindow": "14:00:00+00:00"})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes)?;
    }

    #[test]
    fn mutated_fixture_json_never_panics(
        which in 0..FIXTURES.len(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), json_value()), 1..5),
    ) {
        let mut root: Value = serde_json::from_slice(&fixture(FIXTURES[which])).unwrap();
        for (pick, op, replacement) in edits {
            mutate(&mut root, pick, op, replacement);
        }
        check(&serde_json::to_vec(&root).unwrap())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn mutated_fixture_bytes_never_panic(
        which in 0..FIXTURES.len(),
        edits in prop::collection::vec((any::<usize>(), 0u8..4, any::<u8>()), 1..6),
    ) {
        let mut bytes = fixture(FIXTURES[which]);
        super::byte_mutation::mutate_bytes(&mut bytes, edits);
        check(&bytes)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// `+hh:mm`, `+hhmm` and the same instant in `Z` are one event, through the events endpoint
    /// and the summary endpoint alike: same time, same id.
    #[test]
    fn offset_spellings_and_endpoints_give_one_event(
        minutes in 0i64..(60 * 24 * 365 * 30),
        offset_minutes in (-18i64 * 60)..=(18 * 60),
        seconds in 0u32..60,
        code in prop::sample::select(vec!["EVKSP", "EVGMI", "EVZZZ", "evimc"]),
    ) {
        let base = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap().and_hms_opt(0, 0, seconds).unwrap();
        let local = base + Duration::minutes(minutes);
        let utc = local - Duration::minutes(offset_minutes);
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let (h, m) = (offset_minutes.abs() / 60, offset_minutes.abs() % 60);
        let local_text = local.format("%Y-%m-%dT%H:%M:%S");
        let spellings = [
            format!("{local_text}{sign}{h:02}:{m:02}"),
            format!("{local_text}{sign}{h:02}{m:02}"),
            format!("{}Z", utc.format("%Y-%m-%dT%H:%M:%S")),
        ];
        let mut seen = Vec::new();
        for time in &spellings {
            let from_events = json!({"mailPieces": {"mailPieceId": "RM123456785GB",
                "events": [{"eventCode": code, "eventDateTime": time}]}});
            let from_summary = json!({"mailPieces": [{"mailPieceId": "RM123456785GB",
                "summary": {"lastEventCode": code, "lastEventDateTime": time}}]});
            for payload in [from_events, from_summary] {
                let records = parse(&serde_json::to_vec(&payload).unwrap()).unwrap();
                let [ParsedRecord::Event { event_id, event, .. }] = records.as_slice() else {
                    return Err(TestCaseError::fail("one event expected"));
                };
                prop_assert_eq!(event.occurred_at.naive_utc(), utc);
                seen.push(event_id.clone());
            }
        }
        prop_assert!(seen.iter().all(|id| *id == seen[0]), "{:?} for {:?}", seen, spellings);
    }
}
