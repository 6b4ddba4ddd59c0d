//! Properties: `parse` and `split` of both DHL formats never panic, whatever the bytes (each format
//! sees 10,500 cases), and what they return on mutated fixtures stays coherent: events oldest
//! first, splits that neither lose nor invent records, both formats agreeing, and one id for one
//! event however its time is spelled.

use chrono::{Duration, NaiveDate};
use gluey_carriers::dhl::{DhlPush, DhlUnified};
use gluey_carriers::{CarrierFormat, ParsedRecord};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::{fixture, parse_with, PUSH_FIXTURES, UNIFIED_FIXTURES};

use crate::support::json_mutation::mutate;

fn formats() -> [&'static dyn CarrierFormat; 2] {
    [&DhlUnified, &DhlPush]
}

/// Every fixture of both formats, as (format directory, file).
fn all_fixtures() -> Vec<(&'static str, &'static str)> {
    UNIFIED_FIXTURES
        .iter()
        .map(|f| ("dhl.unified", *f))
        .chain(PUSH_FIXTURES.iter().map(|f| ("dhl.push", *f)))
        .collect()
}

/// Runs both entry points of both formats and checks what they return; a panic fails the
/// property on its own.
fn check(payload: &[u8], service: Option<&str>) -> Result<(), TestCaseError> {
    let context: Vec<(&str, &str)> = service.map(|s| ("service", s)).into_iter().collect();
    let mut outcomes = Vec::new();
    for format in formats() {
        let parsed = parse_with(format, payload, &context);
        let split = format.split(payload);
        if let Ok(parsed) = &parsed {
            let times: Vec<_> = parsed
                .records
                .iter()
                .filter_map(|r| match r {
                    ParsedRecord::Event { event, .. } => Some(event.occurred_at),
                    ParsedRecord::Update { .. } => None,
                })
                .collect();
            prop_assert!(
                times.windows(2).all(|w| w[0] <= w[1]),
                "events not oldest first"
            );
            prop_assert!(parsed
                .records
                .iter()
                .all(|r| !r.tracking_number().is_empty()));
        }
        if let Ok(splits) = &split {
            prop_assert!(!splits.is_empty());
            if let [one] = splits.as_slice() {
                prop_assert_eq!(&one.payload, &payload.to_vec());
            }
            if let (Ok(whole), true) = (&parsed, splits.len() > 1) {
                let mut from_splits = Vec::new();
                for part in splits {
                    let records = parse_with(format, &part.payload, &context);
                    prop_assert!(
                        records.is_ok(),
                        "a split of a parseable payload fails: {:?}",
                        records
                    );
                    from_splits.extend(
                        records
                            .map(|p| p.records)
                            .unwrap_or_default()
                            .iter()
                            .map(|r| format!("{r:?}")),
                    );
                }
                let mut whole: Vec<String> =
                    whole.records.iter().map(|r| format!("{r:?}")).collect();
                whole.sort();
                from_splits.sort();
                prop_assert_eq!(whole, from_splits);
            }
        }
        outcomes.push((parsed.map_err(|e| e.kind()), split.map_err(|e| e.kind())));
    }
    prop_assert_eq!(
        &outcomes[0],
        &outcomes[1],
        "the formats read the same shapes"
    );
    Ok(())
}

/// Values that poke at what the parser reads: codes, descriptions, timestamps, localities.
fn json_value() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        prop::sample::select(vec![
            "", " ", "transit", "Transit", "delivered", "failure", "pre-transit", "unknown",
            "express", "parcel-de", "out for delivery", "returned to the sender", "Packstation",
            "2024-05-14T10:41:00", "2024-05-14T09:41:00Z", "2024-05-14T10:41:00+0100",
            "2024-05-14T10:41:00+01", "2024-10-27T02:30:00", "2024-03-31T02:30:00",
            "+262143-12-31T23:59:59", "-262143-01-01T00:00:00+18:00", "2024-05-14T10:41:00\u{2212}01:00",
            "Leeds, United Kingdom", "Köln, Germany", "LEIPZIG - GERMANY", ", ", " - ", "DE", "de", "XX",
            "é", "T-",
        ])
        .prop_map(str::to_string),
        "[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}T[0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2}(\\.[0-9]{0,9})?)?([+-][0-9:]{0,6}|Z)?",
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
        Just(json!({"id": "7777777777", "service": "parcel-de"})),
        Just(json!({"timestamp": "2024-05-14T10:41:00", "statusCode": "delivered"})),
        Just(json!({"address": {"addressLocality": "Bonn, Deutschland"}})),
    ]
}

fn service() -> impl Strategy<Value = Option<&'static str>> {
    prop::option::of(prop::sample::select(vec!["express", "parcel-de", " "]))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        service in service(),
    ) {
        check(&bytes, service)?;
    }

    #[test]
    fn mutated_fixture_bytes_never_panic(
        which in 0..(UNIFIED_FIXTURES.len() + PUSH_FIXTURES.len()),
        edits in prop::collection::vec((any::<usize>(), 0u8..4, any::<u8>()), 1..6),
    ) {
        let (dir, name) = all_fixtures()[which];
        let mut bytes = fixture(dir, name);
        super::byte_mutation::mutate_bytes(&mut bytes, edits);
        check(&bytes, None)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn mutated_fixture_json_never_panics(
        which in 0..(UNIFIED_FIXTURES.len() + PUSH_FIXTURES.len()),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), json_value()), 1..5),
        service in service(),
    ) {
        let (dir, name) = all_fixtures()[which];
        let mut root: Value = serde_json::from_slice(&fixture(dir, name)).unwrap();
        for (pick, op, replacement) in edits {
            mutate(&mut root, pick, op, replacement);
        }
        check(&serde_json::to_vec(&root).unwrap(), service)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// `Z`, `+hh:mm`, `+hhmm` and the offset-less local time at a location whose zone has that
    /// offset are one event: same time, same id, through either format.
    #[test]
    fn time_spellings_give_one_event(
        minutes in 0i64..(60 * 24 * 365 * 30),
        seconds in 0u32..60,
        description in "[A-Za-z ]{1,30}",
    ) {
        // Tokyo: +09:00 all year, so the offset-less spelling has exactly one reading.
        let offset_minutes = 9 * 60;
        let base = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap().and_hms_opt(0, 0, seconds).unwrap();
        let local = base + Duration::minutes(minutes);
        let utc = local - Duration::minutes(offset_minutes);
        let local_text = local.format("%Y-%m-%dT%H:%M:%S");
        let spellings = [
            format!("{local_text}+09:00"),
            format!("{local_text}+0900"),
            format!("{local_text}"),
            format!("{}Z", utc.format("%Y-%m-%dT%H:%M:%S")),
        ];
        let mut seen = Vec::new();
        for timestamp in &spellings {
            let shipment = json!({
                "id": "00340434161094022115",
                "status": {"timestamp": timestamp, "statusCode": "transit", "description": description,
                           "location": {"address": {"addressLocality": "Tokyo", "countryCode": "JP"}}},
            });
            for format in formats() {
                let parsed = parse_with(format, &serde_json::to_vec(&shipment).unwrap(), &[]).unwrap();
                let [ParsedRecord::Event { event_id, event, .. }] = parsed.records.as_slice() else {
                    return Err(TestCaseError::fail("one event expected"));
                };
                prop_assert_eq!(event.occurred_at.naive_utc(), utc);
                seen.push(event_id.clone());
            }
        }
        prop_assert!(seen.iter().all(|id| *id == seen[0]), "{:?} for {:?}", seen, spellings);
    }
}
