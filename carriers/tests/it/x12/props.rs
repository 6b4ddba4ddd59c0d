//! Properties: `parse` and `split` never panic, whatever the bytes (11,000 cases in all: arbitrary
//! bytes, element- and segment-level edits of the fixtures, byte edits), and what they return
//! stays coherent: events oldest first, and split pieces that parse back to exactly the records
//! of the whole interchange.

use gluey_carriers::x12::X12Status;
use gluey_carriers::{CarrierFormat, ParsedRecord};
use proptest::prelude::*;

use super::{fixture, parse, FIXTURES};

fn check(payload: &[u8]) -> Result<(), TestCaseError> {
    let parsed = parse(payload);
    let split = X12Status.split(payload);
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
                let records = parse(&part.payload);
                prop_assert!(
                    records.is_ok(),
                    "a piece of a parseable interchange fails: {:?}",
                    records
                );
                let records = records.unwrap_or_default();
                prop_assert!(records
                    .iter()
                    .all(|r| r.tracking_number() == part.tracking_number));
                from_splits.extend(records.iter().map(|r| format!("{r:?}")));
            }
            let mut whole: Vec<String> = whole.iter().map(|r| format!("{r:?}")).collect();
            whole.sort();
            from_splits.sort();
            prop_assert_eq!(whole, from_splits);
        }
    }
    Ok(())
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "", " ", "AT7", "LX", "MS1", "N1", "N4", "B10", "ISA", "GS", "GE", "IEA", "ST", "SE",
            "214", "997", "0001", "0002", "D1", "X6", "AG", "X2", "AB", "AA", "BT", "NS", "A1",
            "LT", "ET", "CS", "GM", "UT", "13", "24", "00", "25", "QQ", "20240116", "20241305",
            "00000229", "1432", "143", "2400", "14321", "99999999", "GB", "US", "USA", "IL", "ON",
            "CN", "ST", "*", "~", ">", "\n", "é",
        ])
        .prop_map(str::to_string),
        "[0-9]{1,9}",
        "\\PC{0,8}",
    ]
}

/// A fixture as segments of elements (all fixtures here use `*` and `~`).
fn segments(name: &str) -> Vec<Vec<String>> {
    String::from_utf8(fixture(name))
        .unwrap_or_default()
        .split('~')
        .map(|s| s.trim().split('*').map(str::to_string).collect())
        .filter(|s: &Vec<String>| s.iter().any(|e| !e.is_empty()))
        .collect()
}

fn join(segments: &[Vec<String>]) -> Vec<u8> {
    segments
        .iter()
        .map(|s| format!("{}~\n", s.join("*")))
        .collect::<String>()
        .into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes)?;
    }

    #[test]
    fn mutated_segments_never_panic(
        which in 0..FIXTURES.len(),
        edits in prop::collection::vec((any::<usize>(), any::<usize>(), 0u8..5, token()), 1..6),
    ) {
        let mut segs = segments(FIXTURES[which]);
        for (at, element, op, token) in edits {
            if segs.is_empty() {
                break;
            }
            let at = at % segs.len();
            match op {
                0 => {
                    let segment = &mut segs[at];
                    let element = element % (segment.len() + 1);
                    if element == segment.len() {
                        segment.push(token);
                    } else {
                        segment[element] = token;
                    }
                }
                1 => {
                    segs.remove(at);
                }
                2 => {
                    let copy = segs[at].clone();
                    segs.insert(at, copy);
                }
                3 => {
                    let other = element % segs.len();
                    segs.swap(at, other);
                }
                _ => {
                    let keep = element % (segs[at].len() + 1);
                    segs[at].truncate(keep.max(1));
                }
            }
        }
        check(&join(&segs))?;
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
