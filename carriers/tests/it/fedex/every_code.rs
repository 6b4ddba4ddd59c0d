//! The mapping file against CARRIERS.md's FedEx table, code by code.

use gluey_contract::Status;

use super::{classification, events, fixture, parse};

/// The whole FedEx table of CARRIERS.md 1.8, one case per code (and per DE reason), as the
/// coverage fixture presents them. The unit test in `fedex::mapping` proves the fixture reaches
/// every row of the mapping file; this proves what each row says.
#[test]
fn every_code_maps_as_carriers_md_says() {
    use Status::*;
    let expected: [(&str, &str, Status, &str); 51] = [
        ("OC", "", InfoReceived, "order/info_received/"),
        (
            "OX",
            "",
            InfoReceived,
            "order/info_received/sent_to_postal_partner",
        ),
        ("EP", "", InfoReceived, "collection/en_route_to_pickup/"),
        ("AP", "", InfoReceived, "collection/at_pickup/"),
        ("DS", "", InfoReceived, "collection/vehicle_dispatched/"),
        ("DR", "", InfoReceived, "collection/vehicle_not_used/"),
        ("PU", "", InTransit, "collection/picked_up/"),
        ("PX", "", InTransit, "collection/picked_up/see_details"),
        ("AA", "", InTransit, "in_transit/at_airport/"),
        (
            "AC",
            "",
            InTransit,
            "in_transit/arrived_at_partner_facility/canada_post",
        ),
        (
            "AF",
            "",
            InTransit,
            "in_transit/arrived_at_carrier_facility/local",
        ),
        (
            "AR",
            "",
            InTransit,
            "in_transit/arrived_at_carrier_facility/",
        ),
        (
            "AX",
            "",
            InTransit,
            "in_transit/arrived_at_partner_facility/usps",
        ),
        ("DP", "", InTransit, "in_transit/departed_carrier_facility/"),
        ("EA", "", InTransit, "in_transit/in_transit/"),
        ("EO", "", InTransit, "in_transit/en_route_to_airport/origin"),
        (
            "FD",
            "",
            InTransit,
            "in_transit/arrived_at_carrier_facility/destination",
        ),
        ("IT", "", InTransit, "in_transit/in_transit/"),
        ("IX", "", InTransit, "in_transit/in_transit/see_details"),
        (
            "LO",
            "",
            InTransit,
            "in_transit/departed_carrier_facility/origin",
        ),
        (
            "OF",
            "",
            InTransit,
            "in_transit/arrived_at_carrier_facility/origin",
        ),
        ("PF", "", InTransit, "in_transit/in_flight/"),
        ("PL", "", InTransit, "in_transit/plane_landed/"),
        ("PM", "", InTransit, "in_transit/in_transit/in_progress"),
        ("SF", "", InTransit, "in_transit/arrived_at_sort_facility/"),
        ("TR", "", InTransit, "in_transit/transferred/"),
        ("CH", "", InTransit, "in_transit/location_changed/"),
        ("AO", "", InTransit, "in_transit/on_schedule/"),
        ("Ow", "", InTransit, "in_transit/in_transit/on_the_way"),
        ("CC", "", InTransit, "customs/cleared/"),
        ("CP", "", InTransit, "customs/clearance_in_progress/"),
        ("SP", "", InTransit, "in_transit/split_shipment/"),
        ("OD", "", OutForDelivery, "delivery/out_for_delivery/"),
        (
            "ED",
            "",
            OutForDelivery,
            "delivery/out_for_delivery/en_route",
        ),
        ("AD", "", OutForDelivery, "delivery/at_delivery_location/"),
        (
            "DE",
            "08",
            FailedAttempt,
            "delivery/attempt/recipient_unavailable",
        ),
        (
            "DE",
            "15",
            FailedAttempt,
            "delivery/attempt/recipient_unavailable",
        ),
        (
            "HP",
            "",
            AvailableForPickup,
            "delivery/available_for_pickup/",
        ),
        (
            "HL",
            "",
            AvailableForPickup,
            "delivery/available_for_pickup/hold_at_location",
        ),
        ("DL", "", Delivered, "delivery/delivered/"),
        ("SE", "", Exception, "exception/shipment_exception/"),
        ("DE", "03", Exception, "exception/delivery_exception/"),
        ("DE", "", Exception, "exception/delivery_exception/"),
        ("DD", "", Exception, "exception/delayed/delivery"),
        ("DY", "", Exception, "exception/delayed/"),
        ("PD", "", Exception, "exception/delayed/pickup"),
        ("CD", "", Exception, "customs/delayed/"),
        (
            "CA",
            "",
            Exception,
            "exception/shipment_exception/cancelled",
        ),
        (
            "RS",
            "",
            ReturnedToSender,
            "return_to_sender/returned_to_sender/",
        ),
        // RR, RM, RC, RP, LP, RG, RD: no status change, so no event (absent here).
        ("ZZ", "", Unknown, "unknown/unknown/"),
        ("OW", "", Unknown, "unknown/unknown/"),
    ];
    let records = parse(&fixture("every_code.json")).unwrap();
    let mut actual: Vec<(&str, &str, Status, String)> = events(&records)
        .into_iter()
        .map(|(_, _, e)| {
            (
                e.carrier_code.as_str(),
                e.carrier_sub_code.as_deref().unwrap_or(""),
                e.status,
                classification(e),
            )
        })
        .collect();
    let expected: Vec<(&str, &str, Status, String)> = expected
        .into_iter()
        .map(|(c, r, s, k)| (c, r, s, k.to_string()))
        .collect();
    actual.reverse(); // the fixture lists scans newest first, as FedEx does
    assert_eq!(actual, expected);
    let fixture_json: serde_json::Value =
        serde_json::from_slice(&fixture("every_code.json")).unwrap();
    let no_change: Vec<&str> = fixture_json["scanEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["eventType"].as_str())
        .filter(|t| !actual.iter().any(|(c, ..)| c == t))
        .collect();
    assert_eq!(no_change, ["RR", "RM", "RC", "RP", "LP", "RG", "RD"]);
}
