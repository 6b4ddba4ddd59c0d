//! Golden tests for `fedex.aiv` against the fixtures in `tests/fixtures/fedex.aiv/`, and properties
//! proving that parse and split never panic on arbitrary or mutated input.

use crate::support::byte_mutation;
use crate::support::records;
use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use gluey_carriers::fedex::FedexAiv;
use gluey_carriers::identity::event_id;
use gluey_carriers::{CarrierFormat, ParseError, ParsedRecord, RawInput};
use gluey_contract::{OffsetSource, Status, UpdateType};

use records::{classification, events, utc};

mod errors;
mod every_code;
mod props;

pub const FIXTURES: [&str; 7] = [
    "example_track_api.json",
    "delivered_signature.json",
    "not_found.json",
    "multi_shipment.json",
    "offset_no_colon.json",
    "offset_less.json",
    "every_code.json",
];

pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fedex.aiv")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn parse(payload: &[u8]) -> Result<Vec<ParsedRecord>, ParseError> {
    let context = BTreeMap::new();
    FedexAiv
        .parse(RawInput {
            carrier: "fedex",
            payload,
            context: &context,
            received_at: Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap(),
        })
        .map(|parsed| parsed.records)
}

/// (tracking number, new ETA) of every ETA update, in order.
fn etas(records: &[ParsedRecord]) -> Vec<(&str, Option<DateTime<Utc>>)> {
    records
        .iter()
        .filter_map(|r| match r {
            ParsedRecord::Update {
                tracking_number,
                update,
            } => {
                assert_eq!(update.update_type, UpdateType::EtaChanged);
                assert_eq!(update.new_tracking_number, None);
                Some((tracking_number.as_str(), update.new_eta))
            }
            ParsedRecord::Event { .. } => None,
        })
        .collect()
}

#[test]
fn the_format_is_registered_under_its_name() {
    let format = gluey_carriers::format("fedex.aiv").unwrap();
    assert_eq!(format.name(), "fedex.aiv");
    assert_eq!(format.carrier(), "fedex");
    assert!(format.mapping().is_ok());
}

#[test]
fn carriers_md_example_gives_two_events_oldest_first_and_the_eta() {
    let records = parse(&fixture("example_track_api.json")).unwrap();
    assert_eq!(records.len(), 3);
    let events = events(&records);
    let [(tn_od, id_od, od), (tn_de, id_de, de)] = events.as_slice() else {
        panic!("two events: {events:?}")
    };

    assert_eq!((*tn_od, *tn_de), ("794612345678", "794612345678"));
    assert_eq!(od.status, Status::OutForDelivery);
    assert_eq!(classification(od), "delivery/out_for_delivery/");
    assert_eq!(od.carrier_code, "OD");
    assert_eq!(
        od.carrier_sub_code, None,
        "an empty exceptionCode is no sub-code"
    );
    assert_eq!(
        od.carrier_description.as_deref(),
        Some("On FedEx vehicle for delivery")
    );
    assert_eq!(od.occurred_at, utc("2024-04-25T15:55:00Z"));
    assert_eq!(od.occurred_at_local, "2024-04-25T08:55:00");
    assert_eq!(od.utc_offset_seconds, -7 * 3600);
    assert_eq!(od.offset_source, OffsetSource::ExplicitOffset);
    let location = od.location.as_ref().unwrap();
    assert_eq!(location.city.as_deref(), Some("CLOVIS"));
    assert_eq!(location.region.as_deref(), Some("CA"));
    assert_eq!(location.postal_code, None);
    assert_eq!(location.country_iso2.as_deref(), Some("US"));
    assert_eq!(location.carrier_location_code, None);
    assert_eq!(
        *id_od,
        event_id("fedex", "794612345678", "OD", od.occurred_at, &[])
    );

    assert_eq!(de.status, Status::FailedAttempt);
    assert_eq!(classification(de), "delivery/attempt/recipient_unavailable");
    assert_eq!(de.carrier_code, "DE");
    assert_eq!(de.carrier_sub_code.as_deref(), Some("08"));
    assert_eq!(
        de.carrier_description.as_deref(),
        Some("Delivery exception")
    );
    assert_eq!(de.occurred_at, utc("2024-04-25T18:26:00Z"));
    assert_eq!(
        de.location.as_ref().unwrap().postal_code.as_deref(),
        Some("93612")
    );
    assert_eq!(
        *id_de,
        event_id("fedex", "794612345678", "DE", de.occurred_at, &[])
    );

    for event in [od, de] {
        assert_eq!(event.eta, None);
        assert_eq!(event.signed_by, None);
        assert!(event.time_flags.is_empty() && event.flags.is_empty());
    }
    assert_eq!(
        etas(&records),
        [("794612345678", Some(utc("2024-04-26T07:00:00Z")))]
    );
    assert!(
        matches!(records.last(), Some(ParsedRecord::Update { .. })),
        "updates follow events"
    );
}

#[test]
fn delivered_snapshot_orders_events_keeps_ties_reversed_and_signs_only_dl() {
    let records = parse(&fixture("delivered_signature.json")).unwrap();
    let events = events(&records);
    let summary: Vec<(&str, Status, String)> = events
        .iter()
        .map(|(_, _, e)| {
            (
                e.carrier_code.as_str(),
                e.status,
                e.occurred_at.format("%m-%dT%H:%MZ").to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("OC", Status::InfoReceived, "04-23T16:00Z".to_string()),
            ("PU", Status::InTransit, "04-24T21:25Z".to_string()),
            ("DP", Status::InTransit, "04-25T03:13Z".to_string()),
            // Same time: FedEx lists IT (newer) before AR, so oldest first is AR, then IT.
            ("AR", Status::InTransit, "04-25T13:40Z".to_string()),
            ("IT", Status::InTransit, "04-25T13:40Z".to_string()),
            ("OD", Status::OutForDelivery, "04-25T15:55Z".to_string()),
            ("DE", Status::FailedAttempt, "04-25T18:26Z".to_string()),
            ("OD", Status::OutForDelivery, "04-26T15:10Z".to_string()),
            ("DL", Status::Delivered, "04-26T17:02Z".to_string()),
        ],
        "RR (delivery option requested) is not a tracking event"
    );
    for (_, _, event) in &events {
        let expected = (event.carrier_code == "DL").then_some("J.SMITH");
        assert_eq!(
            event.signed_by.as_deref(),
            expected,
            "{}",
            event.carrier_code
        );
    }
    let (_, _, dl) = events.last().unwrap();
    assert_eq!(classification(dl), "delivery/delivered/");
    assert_eq!(
        dl.location
            .as_ref()
            .unwrap()
            .carrier_location_code
            .as_deref(),
        Some("FATA")
    );
    let (_, _, oc) = events.first().unwrap();
    let oc_location = oc.location.as_ref().unwrap();
    assert_eq!(
        (
            oc_location.city.as_deref(),
            oc_location.country_iso2.as_deref()
        ),
        (None, Some("US"))
    );
    let mut ids: Vec<&str> = events.iter().map(|(_, id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "distinct scans have distinct ids");
    assert!(
        etas(&records).is_empty(),
        "a delivered snapshot without ESTIMATED_DELIVERY has no ETA"
    );
}

#[test]
fn the_same_scan_gets_the_same_id_in_every_payload_and_spelling() {
    let ids_of = |name: &str, code: &str| -> Vec<String> {
        events(&parse(&fixture(name)).unwrap())
            .into_iter()
            .filter(|(tn, _, e)| *tn == "794612345678" && e.carrier_code == code)
            .map(|(_, id, _)| id.to_string())
            .collect()
    };
    // OD at 08:55-07:00 is written `-07:00` (example), `-0700` (delivered), `+00:00` (multi).
    let od = ids_of("example_track_api.json", "OD");
    assert_eq!(od.len(), 1);
    assert!(ids_of("delivered_signature.json", "OD").contains(&od[0]));
    assert_eq!(ids_of("multi_shipment.json", "OD"), od);
    // DE at 11:26:00-07:00 (example) and 18:26:45Z (delivered): same minute, same id.
    let de = ids_of("example_track_api.json", "DE");
    assert_eq!(ids_of("delivered_signature.json", "DE"), de);
    // And the content is the same too, apart from what only the later snapshot knows (locationId).
    let example = parse(&fixture("example_track_api.json")).unwrap();
    let delivered = parse(&fixture("delivered_signature.json")).unwrap();
    let de_of = |records: &[ParsedRecord]| {
        let (_, _, event) = events(records)
            .into_iter()
            .find(|(_, _, e)| e.carrier_code == "DE")
            .unwrap();
        (
            event.status,
            classification(event),
            event.carrier_sub_code.clone(),
        )
    };
    assert_eq!(de_of(&example), de_of(&delivered));
}

#[test]
fn not_found_items_are_skipped_and_still_split_by_their_number() {
    let payload = fixture("not_found.json");
    assert_eq!(parse(&payload).unwrap(), []);
    let splits = FedexAiv.split(&payload).unwrap();
    assert_eq!(splits.len(), 1);
    assert_eq!(splits[0].tracking_number, "123456789012");
    assert_eq!(
        splits[0].payload, payload,
        "one shipment: the original bytes"
    );
}

#[test]
fn multi_shipment_response_parses_all_and_splits_per_number() {
    let payload = fixture("multi_shipment.json");
    let records = parse(&payload).unwrap();
    let summary: Vec<(&str, &str, DateTime<Utc>)> = events(&records)
        .into_iter()
        .map(|(tn, _, e)| (tn, e.carrier_code.as_str(), e.occurred_at))
        .collect();
    assert_eq!(
        summary,
        [
            ("771234567890", "DL", utc("2023-11-02T19:40:00Z")),
            ("771234567890", "PU", utc("2024-04-25T13:12:00Z")),
            ("794612345678", "OD", utc("2024-04-25T15:55:00Z")),
            ("771234567890", "AR", utc("2024-04-26T03:05:00Z")),
        ]
    );
    let dl = events(&records)[0].2;
    assert_eq!(
        dl.signed_by.as_deref(),
        Some("FRONT DESK"),
        "receivedByName when signedByName is empty"
    );
    assert_eq!(
        etas(&records),
        [("771234567890", Some(utc("2024-04-29T05:00:00Z")))]
    );

    let splits = FedexAiv.split(&payload).unwrap();
    let numbers: Vec<&str> = splits.iter().map(|s| s.tracking_number.as_str()).collect();
    assert_eq!(numbers, ["794612345678", "771234567890", "999999999999"]);
    let json = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).unwrap();
    assert!(
        json(&splits[0].payload).is_object(),
        "one trackResult: the object itself"
    );
    assert_eq!(
        json(&splits[1].payload).as_array().map(Vec::len),
        Some(2),
        "two results: an array"
    );
    assert!(parse(&splits[2].payload).unwrap().is_empty());

    let mut from_splits: Vec<ParsedRecord> = Vec::new();
    for split in &splits {
        let part = parse(&split.payload).unwrap();
        assert!(part
            .iter()
            .all(|r| r.tracking_number() == split.tracking_number));
        from_splits.extend(part);
    }
    let key = |r: &ParsedRecord| format!("{r:?}");
    let mut whole: Vec<String> = records.iter().map(key).collect();
    let mut parts: Vec<String> = from_splits.iter().map(key).collect();
    whole.sort();
    parts.sort();
    assert_eq!(whole, parts, "splitting loses and invents nothing");
}

#[test]
fn offsets_without_a_colon_are_explicit() {
    let payload = fixture("offset_no_colon.json");
    let records = parse(&payload).unwrap();
    let summary: Vec<(&str, DateTime<Utc>, &str, i32, OffsetSource)> = events(&records)
        .into_iter()
        .map(|(_, _, e)| {
            (
                e.carrier_code.as_str(),
                e.occurred_at,
                e.occurred_at_local.as_str(),
                e.utc_offset_seconds,
                e.offset_source,
            )
        })
        .collect();
    let explicit = OffsetSource::ExplicitOffset;
    assert_eq!(
        summary,
        [
            (
                "PU",
                utc("2024-04-30T23:02:00Z"),
                "2024-04-30T16:02:00",
                -25_200,
                explicit
            ),
            (
                "Ow",
                utc("2024-05-01T18:29:00Z"),
                "2024-05-01T23:59:00",
                19_800,
                explicit
            ),
            (
                "OD",
                utc("2024-05-02T14:48:00Z"),
                "2024-05-02T07:48:00",
                -25_200,
                explicit
            ),
        ]
    );
    let ow = events(&records)[1].2;
    assert_eq!(
        (ow.status, classification(ow)),
        (
            Status::InTransit,
            "in_transit/in_transit/on_the_way".to_string()
        )
    );
    assert_eq!(
        etas(&records),
        [("612345678901", Some(utc("2024-05-02T07:00:00Z")))]
    );
    let splits = FedexAiv.split(&payload).unwrap();
    assert_eq!(splits.len(), 1);
    assert_eq!(
        (splits[0].tracking_number.as_str(), &splits[0].payload),
        ("612345678901", &payload)
    );
}

#[test]
fn offset_less_times_are_resolved_from_the_location_and_unknown_codes_are_kept() {
    let records = parse(&fixture("offset_less.json")).unwrap();
    let events = events(&records);
    let codes: Vec<(&str, Status, String)> = events
        .iter()
        .map(|(_, _, e)| (e.carrier_code.as_str(), e.status, classification(e)))
        .collect();
    assert_eq!(
        codes,
        [
            ("ZZ", Status::Unknown, "unknown/unknown/".to_string()),
            ("CC", Status::InTransit, "customs/cleared/".to_string()),
            (
                "HL",
                Status::AvailableForPickup,
                "delivery/available_for_pickup/hold_at_location".to_string()
            ),
        ]
    );
    // No offset: the IANA zone of the scan's location (state for US and CA), daylight time in
    // September: Toronto and Indianapolis -04:00, Denver -06:00.
    let resolved: Vec<(i32, chrono::DateTime<chrono::Utc>, &str)> = events
        .iter()
        .map(|(_, _, e)| {
            (
                e.utc_offset_seconds,
                e.occurred_at,
                e.occurred_at_local.as_str(),
            )
        })
        .collect();
    assert_eq!(
        resolved,
        [
            (
                -4 * 3600,
                utc("2021-09-27T22:40:00Z"),
                "2021-09-27T18:40:00"
            ),
            (
                -4 * 3600,
                utc("2021-09-28T07:15:00Z"),
                "2021-09-28T03:15:00"
            ),
            (
                -6 * 3600,
                utc("2021-09-30T20:05:00Z"),
                "2021-09-30T14:05:00"
            ),
        ]
    );
    for (_, _, event) in &events {
        assert_eq!(event.offset_source, OffsetSource::InferredFromLocation);
    }
    // No ESTIMATED_DELIVERY in dateAndTimes: the window's end, which has an offset.
    assert_eq!(
        etas(&records),
        [("449044304137821", Some(utc("2021-10-15T06:00:00Z")))]
    );
}

#[test]
fn event_type_is_kept_verbatim_but_identified_trimmed() {
    let payload = br#"{"trackingNumberInfo":{"trackingNumber":" 7946 "},
        "scanEvents":[{"date":"2024-04-26T10:02:00-07:00","eventType":" DL ","eventDescription":"Delivered"}],
        "deliveryDetails":{"signedByName":"  "}}"#;
    let records = parse(payload).unwrap();
    let [(tn, id, event)] = events(&records)[..] else {
        panic!("one event")
    };
    assert_eq!(tn, "7946");
    assert_eq!(event.carrier_code, " DL ");
    assert_eq!(event.status, Status::Delivered);
    assert_eq!(event.signed_by, None, "blank names are no signature");
    assert_eq!(event.location, None);
    assert_eq!(
        id,
        event_id("fedex", "7946", "DL", utc("2024-04-26T17:02:00Z"), &[])
    );
}
