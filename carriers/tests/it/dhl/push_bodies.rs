//! Unified Push bodies: one shipment object, a list of them or a unified response, read alike.

use chrono::{DateTime, Utc};
use gluey_carriers::dhl::DhlPush;
use gluey_carriers::CarrierFormat;
use gluey_contract::Status;

use super::{assert_round_trip, classification, etas, events, fixture, push, utc};

#[test]
fn push_bodies_come_as_one_shipment_a_list_or_a_unified_response() {
    let payload = fixture("dhl.push", "array_multi.json");
    let records = push(&payload).unwrap();
    let summary: Vec<(&str, Status, DateTime<Utc>)> = events(&records)
        .iter()
        .map(|(tn, _, e)| (&tn[tn.len() - 5..], e.status, e.occurred_at))
        .collect();
    assert_eq!(
        summary,
        [
            ("44444", Status::InTransit, utc("2024-09-01T19:05:00Z")),
            (
                "55555",
                Status::ReturnedToSender,
                utc("2024-09-02T07:00:00Z")
            ),
            (
                "44444",
                Status::AvailableForPickup,
                utc("2024-09-02T12:20:00Z")
            ),
            ("44444", Status::Delivered, utc("2024-09-03T08:00:00Z")),
        ]
    );
    let splits = DhlPush.split(&payload).unwrap();
    let numbers: Vec<&str> = splits.iter().map(|s| s.tracking_number.as_str()).collect();
    assert_eq!(numbers, ["00340434161094044444", "00340434161094055555"]);
    assert_round_trip(&DhlPush, &payload);

    // One shipment object: the original bytes are the split.
    let single = fixture("dhl.push", "shipment_events.json");
    let splits = DhlPush.split(&single).unwrap();
    assert_eq!(splits.len(), 1);
    assert_eq!(splits[0].tracking_number, "00340434161094022115");
    assert_eq!(splits[0].payload, single);
    // The same shipment wrapped as a unified response or in an array gives the same records.
    let value: serde_json::Value = serde_json::from_slice(&single).unwrap();
    let wrapped = serde_json::to_vec(&serde_json::json!({ "shipments": [value.clone()] })).unwrap();
    let listed = serde_json::to_vec(&serde_json::json!([value])).unwrap();
    assert_eq!(push(&wrapped).unwrap(), push(&single).unwrap());
    assert_eq!(push(&listed).unwrap(), push(&single).unwrap());
}

#[test]
fn a_pushed_delivery_carries_the_signature_and_the_attempt_is_classified_by_its_text() {
    let records = push(&fixture("dhl.push", "shipment_events.json")).unwrap();
    let events = events(&records);
    let summary: Vec<(&str, Status, String, Option<&str>)> = events
        .iter()
        .map(|(_, _, e)| {
            (
                e.carrier_code.as_str(),
                e.status,
                classification(e),
                e.signed_by.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "transit",
                Status::OutForDelivery,
                "delivery/out_for_delivery/".to_string(),
                None
            ),
            (
                "failure",
                Status::FailedAttempt,
                "delivery/attempt/recipient_unavailable".to_string(),
                None
            ),
            (
                "delivered",
                Status::Delivered,
                "delivery/delivered/".to_string(),
                Some("A. Smith")
            ),
        ]
    );
    assert_eq!(
        events[2].2.proof_of_delivery_ref.as_deref(),
        Some("https://example.invalid/pod/sig/00340434161094022115"),
        "signatureUrl when there is no documentUrl"
    );
    // estimatedThrough without an offset, destination GB: BST.
    assert_eq!(
        etas(&records),
        [("00340434161094022115", Some(utc("2024-05-14T17:00:00Z")))]
    );
}
