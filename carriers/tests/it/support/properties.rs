//! The invariants every carrier parser's property tests check, in one place.

use gluey_carriers::{ParseError, ParsedRecord, ShipmentSplit};
use proptest::prelude::*;

/// Runs a format's parse and split on `payload` and checks what they return: events oldest first,
/// every record with a tracking number, a one-shipment split keeping the bytes, and the pieces of a
/// split parsing back to exactly the records of the whole. A panic fails the property on its own.
pub fn check_parse_and_split(
    payload: &[u8],
    parse: impl Fn(&[u8]) -> Result<Vec<ParsedRecord>, ParseError>,
    split: impl Fn(&[u8]) -> Result<Vec<ShipmentSplit>, ParseError>,
) -> Result<(), TestCaseError> {
    let parsed = parse(payload);
    let split = split(payload);
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
