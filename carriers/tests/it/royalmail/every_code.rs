//! The mapping file against CARRIERS.md's Royal Mail table, code by code.

use gluey_carriers::SkipReason;
use gluey_contract::Status;

use super::{classification, events, fixture, parse_all};

/// The whole Royal Mail table of CARRIERS.md 1.2, one case per code, as the coverage fixture
/// presents them (oldest first). The fixtures test proves the fixture reaches every row of the
/// mapping file; this proves what each row says.
#[test]
fn every_code_maps_as_carriers_md_says() {
    use Status::*;
    let expected: [(&str, Status, &str, &[&str]); 45] = [
        ("EVAIP", InfoReceived, "order/info_received/", &[]),
        (
            "EVAIE",
            InfoReceived,
            "order/info_received/despatch_advised",
            &[],
        ),
        (
            "EVPPA",
            InTransit,
            "collection/dropped_off/post_office",
            &[],
        ),
        (
            "EVOCO",
            InTransit,
            "in_transit/arrived_at_carrier_facility/processing",
            &[],
        ),
        (
            "EVDAC",
            InTransit,
            "in_transit/arrived_at_carrier_facility/",
            &[],
        ),
        (
            "EVDAV",
            InTransit,
            "in_transit/arrived_at_carrier_facility/",
            &[],
        ),
        (
            "EVIMC",
            InTransit,
            "in_transit/arrived_at_carrier_facility/",
            &[],
        ),
        (
            "EVIAV",
            InTransit,
            "in_transit/arrived_at_carrier_facility/",
            &[],
        ),
        (
            "EVBAH",
            InTransit,
            "in_transit/arrived_at_carrier_facility/",
            &[],
        ),
        (
            "EVBAV",
            InTransit,
            "in_transit/arrived_at_carrier_facility/",
            &[],
        ),
        (
            "EVOAC",
            InTransit,
            "in_transit/arrived_at_carrier_facility/",
            &[],
        ),
        (
            "EVORI",
            InTransit,
            "in_transit/arrived_at_carrier_facility/",
            &[],
        ),
        (
            "EVODO",
            InTransit,
            "in_transit/departed_carrier_facility/to_delivery_office",
            &[],
        ),
        (
            "EVGMI",
            InTransit,
            "in_transit/rerouted/missort",
            &["missort"],
        ),
        (
            "EVIPI",
            InTransit,
            "in_transit/rerouted/missort",
            &["missort"],
        ),
        (
            "EVNMI",
            InTransit,
            "in_transit/rerouted/missort",
            &["missort"],
        ),
        ("EVNAR", InTransit, "delivery/redelivery_scheduled/", &[]),
        (
            "EVGPD",
            OutForDelivery,
            "delivery/out_for_delivery/due_today",
            &[],
        ),
        (
            "EVKNA",
            FailedAttempt,
            "delivery/attempt/recipient_unavailable",
            &[],
        ),
        (
            "EVNDA",
            FailedAttempt,
            "delivery/attempt/recipient_unavailable",
            &[],
        ),
        (
            "EVKNR",
            FailedAttempt,
            "delivery/attempt/recipient_unavailable",
            &[],
        ),
        (
            "EVKAA",
            FailedAttempt,
            "delivery/attempt/address_inaccessible",
            &[],
        ),
        (
            "EVNAA",
            FailedAttempt,
            "delivery/attempt/address_inaccessible",
            &[],
        ),
        (
            "EVKSU",
            FailedAttempt,
            "delivery/attempt/safe_place_unavailable",
            &[],
        ),
        (
            "EVNDN",
            FailedAttempt,
            "delivery/attempt/retry_next_day",
            &[],
        ),
        (
            "EVNSR",
            FailedAttempt,
            "delivery/attempt/redelivery_prepared",
            &["non_alerting"],
        ),
        (
            "EVNKS",
            Exception,
            "exception/held/customer_hold",
            &["non_alerting"],
        ),
        ("EVNRT", Exception, "exception/held/item_retention", &[]),
        (
            "EVKLC",
            AvailableForPickup,
            "delivery/available_for_pickup/collection_point",
            &[],
        ),
        (
            "EVKLS",
            AvailableForPickup,
            "delivery/available_for_pickup/collection_point",
            &[],
        ),
        (
            "EVPLA",
            AvailableForPickup,
            "delivery/available_for_pickup/",
            &[],
        ),
        ("EVKSP", Delivered, "delivery/delivered/with_signature", &[]),
        ("EVKOP", Delivered, "delivery/delivered/", &[]),
        ("EVKSF", Delivered, "delivery/delivered/safe_place", &[]),
        ("EVKDN", Delivered, "delivery/delivered/neighbour", &[]),
        (
            "EVPLC",
            Delivered,
            "delivery/delivered/collected_from_post_office",
            &[],
        ),
        (
            "EVNOC",
            Delivered,
            "delivery/delivered/collected_from_delivery_office",
            &[],
        ),
        (
            "EVKAI",
            ReturnedToSender,
            "return_to_sender/returned_to_sender/address_unidentifiable",
            &[],
        ),
        (
            "EVKGA",
            ReturnedToSender,
            "return_to_sender/returned_to_sender/recipient_moved",
            &[],
        ),
        (
            "EVNGA",
            ReturnedToSender,
            "return_to_sender/returned_to_sender/recipient_moved",
            &[],
        ),
        (
            "EVKRF",
            ReturnedToSender,
            "return_to_sender/returned_to_sender/refused",
            &[],
        ),
        (
            "EVNRF",
            ReturnedToSender,
            "return_to_sender/returned_to_sender/refused",
            &[],
        ),
        (
            "EVRTS",
            ReturnedToSender,
            "return_to_sender/returned_to_sender/delivered_to_sender",
            &[],
        ),
        // Not in the table: kept as unknown. A lower-case code is the same code.
        ("EVZZZ", Unknown, "unknown/unknown/", &[]),
        ("evkop", Delivered, "delivery/delivered/", &[]),
    ];
    let parsed = parse_all(&fixture("every_code.json")).unwrap();
    let actual: Vec<(&str, Status, String, Vec<&str>)> = events(&parsed.records)
        .into_iter()
        .map(|(_, _, e)| {
            (
                e.carrier_code.as_str(),
                e.status,
                classification(e),
                e.flags.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    let expected: Vec<(&str, Status, String, Vec<&str>)> = expected
        .into_iter()
        .map(|(c, s, k, f)| (c, s, k.to_string(), f.to_vec()))
        .collect();
    assert_eq!(actual, expected);
    // The customer-side requests: no event, reported as no status change (newest first).
    let no_change: Vec<&str> = parsed
        .skipped
        .iter()
        .map(|s| {
            assert!(matches!(s.why, SkipReason::NoStatusChange { .. }));
            s.carrier_code.as_str()
        })
        .collect();
    assert_eq!(
        no_change,
        ["RSRXS", "RPRXS", "RORXS", "RNRXS", "RFRXS", "ASRXS"]
    );
}
