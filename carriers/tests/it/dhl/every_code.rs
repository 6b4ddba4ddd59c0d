//! The mapping file against CARRIERS.md's DHL table: every code, and every description rule text
//! (CARRIERS.md: "keep a test for each rule").

use gluey_carriers::ParsedRecord;
use gluey_contract::Status;
use serde_json::{json, Value};

use super::{classification, events, fixture, push, unified};

/// One event with this code and description, as a unified response.
fn one(code: &str, description: &str) -> (Status, String, Option<usize>) {
    let payload = json!({"shipments": [{"id": "1", "events": [
        {"timestamp": "2024-06-10T08:00:00Z", "statusCode": code, "description": description}
    ]}]});
    let records = unified(&serde_json::to_vec(&payload).unwrap()).unwrap();
    match records.as_slice() {
        [ParsedRecord::Event {
            event, mapping_row, ..
        }] => (event.status, classification(event), *mapping_row),
        other => panic!("one event expected, got {other:?}"),
    }
}

#[test]
fn every_rule_text_classifies_as_its_row_says_in_any_case() {
    let file: Value = serde_json::from_str(include_str!("../../../mappings/dhl.json")).unwrap();
    let rows = file["rows"].as_array().unwrap();
    let mut texts = 0;
    for (index, row) in rows.iter().enumerate() {
        let expected = (
            row["status"].as_str().unwrap().to_string(),
            format!(
                "{}/{}/{}",
                row["milestone"].as_str().unwrap(),
                row["canonical_code"].as_str().unwrap(),
                row["sub_code"].as_str().unwrap_or("")
            ),
        );
        let code = row["code"].as_str().unwrap();
        let rules: Vec<&str> = row["description_contains"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let descriptions: Vec<String> = if rules.is_empty() {
            vec!["Some text no rule mentions".to_string()]
        } else {
            rules
                .iter()
                .flat_map(|r| {
                    [
                        format!("The shipment: {r}."),
                        format!("THE SHIPMENT: {}.", r.to_uppercase()),
                    ]
                })
                .collect()
        };
        for description in descriptions {
            for spelling in [code.to_string(), code.to_uppercase()] {
                let (status, class, mapping_row) = one(&spelling, &description);
                let status = serde_json::to_value(status).unwrap();
                assert_eq!(
                    (status.as_str().unwrap().to_string(), class),
                    expected,
                    "{spelling} {description:?}"
                );
                assert_eq!(mapping_row, Some(index), "{spelling} {description:?}");
                texts += 1;
            }
        }
    }
    assert!(texts > 100, "every rule text was tried ({texts} cases)");
}

#[test]
fn the_coarse_codes_and_the_rule_order_follow_carriers_md() {
    use Status::*;
    let cases: [(&str, &str, Status, &str); 12] = [
        (
            "pre-transit",
            "Shipment information received",
            InfoReceived,
            "order/info_received/",
        ),
        (
            "transit",
            "Arrived at the sort facility",
            InTransit,
            "in_transit/in_transit/",
        ),
        (
            "transit",
            "OUT FOR DELIVERY",
            OutForDelivery,
            "delivery/out_for_delivery/",
        ),
        (
            "transit",
            "The shipment is available for pick-up at the Packstation 123",
            AvailableForPickup,
            "delivery/available_for_pickup/",
        ),
        (
            "transit",
            "The shipment is being returned to the sender",
            ReturnedToSender,
            "return_to_sender/returned_to_sender/",
        ),
        (
            "transit",
            "Out for delivery to the parcel shop",
            OutForDelivery,
            "delivery/out_for_delivery/",
        ),
        ("delivered", "Delivered", Delivered, "delivery/delivered/"),
        (
            "failure",
            "The shipment could not be delivered and is being returned to the sender",
            ReturnedToSender,
            "return_to_sender/returned_to_sender/",
        ),
        (
            "failure",
            "The recipient was not at home. A second delivery attempt will be made.",
            FailedAttempt,
            "delivery/attempt/recipient_unavailable",
        ),
        (
            "failure",
            "Die Sendung konnte nicht zugestellt werden.",
            FailedAttempt,
            "delivery/attempt/",
        ),
        (
            "failure",
            "Customs hold",
            Exception,
            "exception/shipment_exception/",
        ),
        // unknown has no row: status unknown keeps the previous status, the event is kept.
        ("unknown", "Status unknown", Unknown, "unknown/unknown/"),
    ];
    for (code, description, status, class) in cases {
        let (actual_status, actual_class, _) = one(code, description);
        assert_eq!(
            (actual_status, actual_class.as_str()),
            (status, class),
            "{code} {description:?}"
        );
    }
    let (_, _, row) = one("unknown", "Status unknown");
    assert_eq!(row, None, "unknown is not a row");
    // The status text stands in for a missing description.
    let payload = json!({"shipments": [{"id": "1", "events": [
        {"timestamp": "2024-06-10T08:00:00Z", "statusCode": "transit", "status": "OUT FOR DELIVERY"}
    ]}]});
    let records = unified(&serde_json::to_vec(&payload).unwrap()).unwrap();
    assert_eq!(events(&records)[0].2.status, OutForDelivery);
}

#[test]
fn the_every_code_fixtures_reach_every_row_in_both_formats() {
    for records in [
        unified(&fixture("dhl.unified", "every_code.json")).unwrap(),
        push(&fixture("dhl.push", "every_code.json")).unwrap(),
    ] {
        let mut rows: Vec<usize> = records
            .iter()
            .filter_map(|r| match r {
                ParsedRecord::Event { mapping_row, .. } => *mapping_row,
                ParsedRecord::Update { .. } => None,
            })
            .collect();
        rows.sort_unstable();
        rows.dedup();
        assert_eq!(rows, (0..10).collect::<Vec<_>>());
        let unknown: Vec<&str> = events(&records)
            .into_iter()
            .filter(|(_, _, e)| e.status == Status::Unknown)
            .map(|(_, _, e)| e.carrier_code.as_str())
            .collect();
        assert_eq!(unknown, ["unknown", "in_customs"]);
    }
}
