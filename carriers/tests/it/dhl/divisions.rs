//! Another DHL division's shipment with the same id: skipped and reported, never mixed in.

use gluey_carriers::dhl::{DhlPush, DhlUnified};
use gluey_carriers::{CarrierFormat, Parsed, SkipReason};

use super::{events, fixture, parse_with};

fn item_errors(parsed: &Parsed) -> Vec<(Option<&str>, &str, &str)> {
    parsed
        .skipped
        .iter()
        .map(|s| match &s.why {
            SkipReason::ItemError { message } => (
                s.tracking_number.as_deref(),
                s.carrier_code.as_str(),
                message.as_str(),
            ),
            other => panic!("expected an item error, got {other:?}"),
        })
        .collect()
}

#[test]
fn another_divisions_shipment_with_the_same_id_is_skipped_not_mixed_in() {
    let payload = fixture("dhl.unified", "cross_division.json");
    let parsed = parse_with(&DhlUnified, &payload, &[]).unwrap();
    let kept: Vec<&str> = events(&parsed.records).iter().map(|(tn, ..)| *tn).collect();
    assert_eq!(kept, ["00340434161094033333"]);
    let skipped = item_errors(&parsed);
    assert_eq!(skipped.len(), 2);
    for (tn, service, message) in &skipped {
        assert_eq!(*tn, Some("7777777777"));
        assert!(["express", "parcel-de"].contains(service));
        assert!(
            message.contains("several dhl services (express, parcel-de)"),
            "{message}"
        );
    }

    // The poll asked for express: the express shipment is read, the others are not ours.
    for service in ["express", " EXPRESS "] {
        let parsed = parse_with(&DhlUnified, &payload, &[("service", service)]).unwrap();
        let kept: Vec<(&str, &str)> = events(&parsed.records)
            .iter()
            .map(|(tn, _, e)| (*tn, e.carrier_description.as_deref().unwrap()))
            .collect();
        assert_eq!(kept, [("7777777777", "Shipment picked up")]);
        let skipped: Vec<(Option<&str>, &str)> = item_errors(&parsed)
            .into_iter()
            .map(|(tn, code, _)| (tn, code))
            .collect();
        assert_eq!(
            skipped,
            [
                (Some("7777777777"), "parcel-de"),
                (Some("00340434161094033333"), "parcel-de")
            ]
        );
    }

    // Split keeps an id's shipments together, so each part is judged the same way again.
    let splits = DhlUnified.split(&payload).unwrap();
    assert_eq!(splits.len(), 2);
    let part = parse_with(&DhlUnified, &splits[0].payload, &[]).unwrap();
    assert_eq!(splits[0].tracking_number, "7777777777");
    assert!(part.records.is_empty());
    assert_eq!(item_errors(&part).len(), 2);

    let pushed = parse_with(&DhlPush, &fixture("dhl.push", "cross_division.json"), &[]).unwrap();
    assert!(pushed.records.is_empty());
    assert_eq!(item_errors(&pushed).len(), 2);
}
