//! Properties: `parse` and `split` never panic, whatever the bytes (12,000 cases in all), and
//! what they return on mutated fixtures stays coherent: events oldest first, splits that neither
//! lose nor invent records, and one id for one scan whichever time fields carry it.

use chrono::{Duration, NaiveDate};
use gluey_carriers::usps::UspsV3;
use gluey_carriers::{CarrierFormat, ParsedRecord};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::{fixture, parse, FIXTURES};

use crate::support::json_mutation::mutate;

/// Runs both entry points and checks what they return; a panic fails the property on its own.
fn check(payload: &[u8]) -> Result<(), TestCaseError> {
    crate::support::properties::check_parse_and_split(payload, parse, |p| UspsV3.split(p))
}

fn json_value() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        prop::sample::select(vec![
            "", " ", "01", "1", "08", "OF", "ZZ", "-05:00", "-7:00", "+5:30", "-0800", "PST",
            "2024-11-22T13:58:00", "2024-11-22T21:58:40Z", "2024-11-22T21:58:40.041Z",
            "2024-11-22", "8:00 PM", "8pm", "24:00", "US", "GB", "CA", "HI", "UNITED KINGDOM",
            "2024-03-10T02:30:00", "2023-11-05T01:30:00", "+262143-12-31T23:59:59Z",
            "-262143-01-01T00:00:00", "é",
        ])
        .prop_map(str::to_string),
        "[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}T[0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2}(\\.[0-9]{0,9})?)?([+-][0-9:]{0,6}|Z)?",
        "[+-][0-9]{1,2}(:[0-9]{0,3})?",
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
        Just(json!({"trackingNumber": "9400", "error": {"code": "404"}})),
        Just(json!({"eventCode": "01", "GMTTimestamp": "2024-11-22T21:58:40Z"})),
        Just(
            json!({"trackingNumber": "9401", "trackingEvents": [{"eventCode": "OF", "eventTimestamp": "2024-11-22T09:10:00"}]})
        ),
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
    #![proptest_config(ProptestConfig::with_cases(3_000))]

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
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// Local time (seconds zeroed) with the state's zone, GMT with real seconds and an offset,
    /// GMT with the local time only: one scan, one time to the minute, one id.
    #[test]
    fn local_and_gmt_spellings_give_one_event(
        minutes in 0i64..(60 * 24 * 365 * 20),
        seconds in 0i64..60,
        state in prop::sample::select(vec![("NY", "America/New_York"), ("CA", "America/Los_Angeles"), ("AZ", "America/Phoenix"), ("HI", "Pacific/Honolulu"), ("IL", "America/Chicago")]),
    ) {
        use chrono::{Offset, TimeZone};
        let (state, zone) = state;
        let zone: chrono_tz::Tz = zone.parse().unwrap();
        let utc = NaiveDate::from_ymd_opt(2005, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap()
            + Duration::minutes(minutes) + Duration::seconds(seconds);
        let offset = zone.offset_from_utc_datetime(&utc).fix().local_minus_utc();
        let local = utc + Duration::seconds(i64::from(offset));
        let local_zeroed = local - Duration::seconds(seconds);
        let sign = if offset < 0 { '-' } else { '+' };
        let (h, m) = (offset.abs() / 3600, offset.abs() % 3600 / 60);
        let local_text = local_zeroed.format("%Y-%m-%dT%H:%M:%S").to_string();
        let gmt_text = utc.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let spellings = [
            json!({"eventTimestamp": local_text}),
            json!({"eventTimestamp": local_text, "GMTTimestamp": gmt_text, "GMTOffset": format!("{sign}{h}:{m:02}")}),
            json!({"eventTimestamp": local_text, "GMTTimestamp": gmt_text}),
            json!({"GMTTimestamp": gmt_text}),
        ];
        let mut seen = Vec::new();
        for time_fields in spellings {
            let mut scan = json!({"eventCode": "07", "eventCity": "X", "eventState": state});
            if let (Some(scan), Some(fields)) = (scan.as_object_mut(), time_fields.as_object()) {
                scan.extend(fields.clone());
            }
            let payload = json!({"trackingNumber": "9400", "trackingEvents": [scan]});
            let records = parse(&serde_json::to_vec(&payload).unwrap()).unwrap();
            let [ParsedRecord::Event { event_id, event, .. }] = records.as_slice() else {
                return Err(TestCaseError::fail("one event expected"));
            };
            // A local time in a DST overlap or gap is resolved by rule, not by knowledge: only
            // unflagged times must agree.
            if event.time_flags.is_empty() {
                prop_assert_eq!(
                    event.occurred_at.timestamp().div_euclid(60),
                    utc.and_utc().timestamp().div_euclid(60)
                );
                seen.push(event_id.clone());
            }
        }
        prop_assert!(seen.iter().all(|id| *id == seen[0]), "{:?}", seen);
    }
}
