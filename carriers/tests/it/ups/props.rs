//! Properties: `parse` and `split` of both UPS formats never panic, whatever the bytes (10,000
//! cases per format: arbitrary bytes, mutated fixture JSON, mutated fixture bytes), and what they
//! return stays coherent: events oldest first, splits that neither lose nor invent records. And
//! one scan gets one id by poll and by push, however UPS spells its GMT time and offset.

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};

use chrono::{Duration, NaiveDate};
use gluey_carriers::ups::{UpsAlert, UpsTrack};
use gluey_carriers::{CarrierFormat, ParsedRecord};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::{fixture, parse_as, ALERT_FIXTURES, TRACK_FIXTURES};

/// Runs both entry points of `format` and checks what they return; a panic fails on its own.
fn check(format: &dyn CarrierFormat, payload: &[u8]) -> Result<(), TestCaseError> {
    let parsed = parse_as(format, payload).map(|p| p.records);
    let split = format.split(payload);
    if let Ok(records) = &parsed {
        let times: Vec<_> = records
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
        prop_assert!(records.iter().all(|r| !r.tracking_number().is_empty()));
    }
    if let Ok(splits) = &split {
        prop_assert!(!splits.is_empty());
        if let [one] = splits.as_slice() {
            prop_assert_eq!(&one.payload, &payload.to_vec());
        }
        if let (Ok(whole), true) = (&parsed, splits.len() > 1) {
            let mut from_splits = Vec::new();
            for part in splits {
                let records = parse_as(format, &part.payload).map(|p| p.records);
                prop_assert!(
                    records.is_ok(),
                    "a split of a parseable payload fails: {:?}",
                    records
                );
                from_splits.extend(records.unwrap_or_default().iter().map(|r| format!("{r:?}")));
            }
            let mut whole: Vec<String> = whole.iter().map(|r| format!("{r:?}")).collect();
            whole.sort();
            from_splits.sort();
            prop_assert_eq!(whole, from_splits);
        }
    }
    Ok(())
}

/// Values that poke at what the parsers read: codes, split dates and times (valid, short,
/// broken), offsets in both spellings, numbers where strings are expected.
fn json_value() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        prop::sample::select(vec![
            "",
            " ",
            "021",
            "21",
            "005",
            "011",
            "013",
            "000",
            "154",
            "MP",
            "DP",
            "OT",
            "FS",
            "AR",
            "OR",
            "UP",
            "I",
            "D",
            "M",
            "MV",
            "X",
            "U",
            "TW0001",
            "DEL",
            "SDD",
            "RDD",
            "EDW",
            "EOD",
            "DESTINATION",
            "US",
            "GB",
            "MY",
            "NC",
            "CA",
            "-04.00",
            "-04:00",
            "+0530",
            "+14:00",
            "-18:00",
            "Z",
            "74700",
            "63100",
            "0",
            "235959",
            "240000",
            "20240423",
            "20241103",
            "20240310",
            "00000101",
            "99991231",
            "2024-04-23",
            "1Z999AA10123456784",
            "Delivered to UPS Access Point",
            "receiver was not available",
            "é",
        ])
        .prop_map(str::to_string),
        "[0-9]{0,9}",
        "[+-][0-9]{1,2}[.:][0-9]{1,2}",
        "\\PC{0,24}",
    ];
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (0u64..1_000_000_000).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text.prop_map(Value::String),
        Just(json!({})),
        Just(json!([])),
        Just(json!({"code": "TW0001", "message": "Tracking Information Not Found"})),
        Just(json!({"type": "I", "code": "OT", "statusCode": "021"})),
        Just(json!({"gmtDate": "20240423", "gmtTime": "74700", "status": {"statusCode": "011"}})),
    ]
}

/// A node of the tree, chosen by a walk from the root that `pick` steers: at each level it
/// stops with probability 1/5, else descends into a child. Cheap on big fixtures, where listing
/// every path per edit is not, and it still reaches the leaves (codes, dates, times).
fn pick_path(root: &Value, pick: u64) -> Vec<Value> {
    let mut state = pick;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut path = Vec::new();
    let mut node = root;
    loop {
        let len = match node {
            Value::Object(map) => map.len(),
            Value::Array(items) => items.len(),
            _ => 0,
        };
        if len == 0 || next() % 5 == 0 {
            return path;
        }
        let index = (next() % len as u64) as usize;
        node = match node {
            Value::Object(map) => match map.iter().nth(index) {
                Some((key, child)) => {
                    path.push(Value::String(key.clone()));
                    child
                }
                None => return path,
            },
            Value::Array(items) => match items.get(index) {
                Some(child) => {
                    path.push(Value::from(index));
                    child
                }
                None => return path,
            },
            _ => return path,
        };
    }
}

fn node_mut<'a>(mut value: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    for step in path {
        value = match step {
            Value::String(key) => value.get_mut(key.as_str())?,
            other => value.get_mut(usize::try_from(other.as_u64()?).ok()?)?,
        };
    }
    Some(value)
}

/// Replaces, removes or duplicates the node `pick` leads to.
fn mutate(root: &mut Value, pick: u64, op: u8, replacement: Value) {
    let path = pick_path(root, pick);
    let Some((last, parent_path)) = path.split_last() else {
        *root = replacement;
        return;
    };
    let Some(parent) = node_mut(root, parent_path) else {
        return;
    };
    match (op % 3, parent, last) {
        (0, parent, _) => {
            if let Some(node) = node_mut(parent, std::slice::from_ref(last)) {
                *node = replacement;
            }
        }
        (1, Value::Object(map), Value::String(key)) => {
            map.remove(key);
        }
        (1, Value::Array(items), index) => {
            if let Some(index) = index.as_u64().and_then(|i| usize::try_from(i).ok()) {
                if index < items.len() {
                    items.remove(index);
                }
            }
        }
        (_, Value::Array(items), index) => {
            if let Some(copy) = index.as_u64().and_then(|i| items.get(i as usize)).cloned() {
                items.push(copy);
            }
        }
        _ => {}
    }
}

/// The fixtures, read and parsed once per test binary.
fn fixture_json(dir: &str, name: &str) -> Value {
    static CACHE: LazyLock<Mutex<BTreeMap<String, Value>>> = LazyLock::new(Default::default);
    let key = format!("{dir}/{name}");
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(key)
        .or_insert_with(|| serde_json::from_slice(&fixture(dir, name)).unwrap())
        .clone()
}

fn mutated_json(
    format: &dyn CarrierFormat,
    dir: &str,
    name: &str,
    edits: Vec<(u64, u8, Value)>,
) -> Result<(), TestCaseError> {
    let mut root = fixture_json(dir, name);
    for (pick, op, replacement) in edits {
        mutate(&mut root, pick, op, replacement);
    }
    check(format, &serde_json::to_vec(&root).unwrap())
}

fn mutated_bytes(
    format: &dyn CarrierFormat,
    dir: &str,
    name: &str,
    edits: Vec<(usize, u8, u8)>,
) -> Result<(), TestCaseError> {
    let mut bytes = fixture(dir, name);
    super::byte_mutation::mutate_bytes(&mut bytes, edits);
    check(format, &bytes)
}

fn json_edits() -> impl Strategy<Value = Vec<(u64, u8, Value)>> {
    prop::collection::vec((any::<u64>(), any::<u8>(), json_value()), 1..5)
}

fn byte_edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    prop::collection::vec((any::<usize>(), 0u8..4, any::<u8>()), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn track_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&UpsTrack, &bytes)?;
    }

    #[test]
    fn alert_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&UpsAlert, &bytes)?;
    }

    #[test]
    fn track_mutated_fixture_bytes_never_panic(which in 0..TRACK_FIXTURES.len(), edits in byte_edits()) {
        mutated_bytes(&UpsTrack, "ups.track", TRACK_FIXTURES[which], edits)?;
    }

    #[test]
    fn alert_mutated_fixture_bytes_never_panic(which in 0..ALERT_FIXTURES.len(), edits in byte_edits()) {
        mutated_bytes(&UpsAlert, "ups.alert", ALERT_FIXTURES[which], edits)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn track_mutated_fixture_json_never_panics(which in 0..TRACK_FIXTURES.len(), edits in json_edits()) {
        mutated_json(&UpsTrack, "ups.track", TRACK_FIXTURES[which], edits)?;
    }

    #[test]
    fn alert_mutated_fixture_json_never_panics(which in 0..ALERT_FIXTURES.len(), edits in json_edits()) {
        mutated_json(&UpsAlert, "ups.alert", ALERT_FIXTURES[which], edits)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// One scan, polled (`gmtOffset "-05:00"`, gmtTime maybe sent as a number) and pushed
    /// (`"-05.00"`, gmtTime with its leading zeros stripped), statusCode padded or not: the same
    /// UTC time and the same id.
    #[test]
    fn poll_and_push_of_one_scan_share_the_id(
        minutes in 0i64..(60 * 24 * 365 * 30),
        seconds in 0i64..60,
        quarter_hours in -48i32..=56,
        code in prop::sample::select(vec!["3", "5", "11", "13", "21", "72", "161", "999"]),
        numeric_time in any::<bool>(),
    ) {
        let gmt = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap()
            + Duration::minutes(minutes) + Duration::seconds(seconds);
        let offset = quarter_hours * 15;
        let local = gmt + Duration::minutes(i64::from(offset));
        let sign = if offset < 0 { '-' } else { '+' };
        let (h, m) = (offset.abs() / 60, offset.abs() % 60);
        let gmt_date = gmt.format("%Y%m%d").to_string();
        let gmt_time = gmt.format("%H%M%S").to_string();
        let stripped = gmt_time.trim_start_matches('0').to_string();
        let polled_time = if numeric_time {
            json!(gmt_time.parse::<u64>().unwrap())
        } else {
            json!(gmt_time)
        };
        let poll = json!({"trackResponse": {"shipment": [{"package": [{
            "trackingNumber": "1Z999AA10123456784",
            "activity": [{
                "date": local.format("%Y%m%d").to_string(), "time": local.format("%H%M%S").to_string(),
                "gmtDate": gmt_date, "gmtTime": polled_time, "gmtOffset": format!("{sign}{h:02}:{m:02}"),
                "location": {"address": {"city": "Charlotte", "stateProvince": "NC", "countryCode": "US"}},
                "status": {"type": "I", "code": "OT", "statusCode": format!("{code:0>3}")}}]}]}]}});
        let push = json!({
            "trackingNumber": " 1Z999AA10123456784 ",
            "localActivityDate": local.format("%Y%m%d").to_string(),
            "localActivityTime": local.format("%H%M%S").to_string(),
            "gmtActivityDate": gmt_date, "gmtActivityTime": stripped,
            "gmtOffset": format!("{sign}{h:02}.{m:02}"),
            "activityLocation": {"city": "CHARLOTTE", "stateProvince": "NC", "postalCode": "", "country": "US"},
            "activityStatus": {"type": "D", "code": "OT", "description": "Out for Delivery", "descriptionCode": code}});
        let ids = |format: &dyn CarrierFormat, payload: &Value| -> Vec<(String, chrono::NaiveDateTime)> {
            parse_as(format, &serde_json::to_vec(payload).unwrap())
                .unwrap()
                .records
                .into_iter()
                .filter_map(|r| match r {
                    ParsedRecord::Event { event_id, event, .. } => Some((event_id, event.occurred_at.naive_utc())),
                    ParsedRecord::Update { .. } => None,
                })
                .collect()
        };
        let polled = ids(&UpsTrack, &poll);
        prop_assert_eq!(polled.len(), 1);
        prop_assert_eq!(polled[0].1, gmt);
        prop_assert_eq!(polled, ids(&UpsAlert, &push));
    }
}
