//! The direct format: golden assertions and properties.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use gluey_carriers::{CarrierFormat, ParseError, Parsed, ParsedRecord, RawInput, SkipReason};
use gluey_contract::{OffsetSource, Status};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/direct.v1")
            .join(name),
    )
    .unwrap()
}

fn parse_as(carrier: &str, payload: &[u8]) -> Result<Parsed, ParseError> {
    let context = BTreeMap::new();
    gluey_carriers::direct::DirectV1.parse(RawInput {
        carrier,
        payload,
        context: &context,
        received_at: Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap(),
    })
}

fn events(parsed: &Parsed) -> Vec<(&str, &gluey_contract::TrackingEvent)> {
    parsed
        .records
        .iter()
        .filter_map(|r| match r {
            ParsedRecord::Event {
                event_id, event, ..
            } => Some((event_id.as_str(), event)),
            ParsedRecord::Update { .. } => None,
        })
        .collect()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn a_journey_comes_out_oldest_first_with_times_resolved() {
    let parsed = parse_as("acme-couriers", &fixture("journey.json")).unwrap();
    let evs = events(&parsed);
    let codes: Vec<(&str, Status)> = evs
        .iter()
        .map(|(_, e)| (e.carrier_code.as_str(), e.status))
        .collect();
    assert_eq!(
        codes,
        [
            ("info_received", Status::InfoReceived),
            ("PICKED_UP", Status::InTransit),
            ("OUT_FOR_DELIVERY", Status::OutForDelivery)
        ]
    );
    // Explicit offset, offset-less resolved in Manchester (BST in June), and Z.
    assert_eq!(
        (evs[0].1.occurred_at, evs[0].1.offset_source),
        (utc("2024-06-01T18:02:11Z"), OffsetSource::ExplicitOffset)
    );
    assert_eq!(
        (
            evs[1].1.occurred_at,
            evs[1].1.utc_offset_seconds,
            evs[1].1.offset_source
        ),
        (
            utc("2024-06-02T08:15:00Z"),
            3600,
            OffsetSource::InferredFromLocation
        )
    );
    assert_eq!(
        (evs[2].1.occurred_at, evs[2].1.occurred_at_local.as_str()),
        (utc("2024-06-03T06:52:00Z"), "2024-06-03T07:52:00")
    );
    assert_eq!(
        evs[2].1.location.as_ref().unwrap().country_iso2.as_deref(),
        Some("GB")
    );
    let eta = parsed.records.iter().find_map(|r| match r {
        ParsedRecord::Update { update, .. } => update.new_eta,
        _ => None,
    });
    assert_eq!(eta, Some(utc("2024-06-03T16:00:00Z")));
}

#[test]
fn identity_is_namespaced_by_the_envelope_carrier_and_uses_the_event_id() {
    let a = parse_as("acme-couriers", &fixture("journey.json")).unwrap();
    let again = parse_as("acme-couriers", &fixture("journey.json")).unwrap();
    let other = parse_as("other-couriers", &fixture("journey.json")).unwrap();
    assert_eq!(
        events(&a).iter().map(|e| e.0).collect::<Vec<_>>(),
        events(&again).iter().map(|e| e.0).collect::<Vec<_>>()
    );
    assert_ne!(events(&a)[0].0, events(&other)[0].0);
    let with = br#"{"schema":"gluey.direct.v1","shipments":[{"tracking_number":"T","events":[{"id":"a","code":"DELIVERED","occurred_at":"2024-06-01T08:12:00Z"},{"id":"b","code":"DELIVERED","occurred_at":"2024-06-01T08:12:30Z"}]}]}"#;
    let p = parse_as("acme", with).unwrap();
    let ids = events(&p);
    assert_ne!(
        ids[0].0, ids[1].0,
        "the integrator's id separates two scans of one code in one minute"
    );
}

#[test]
fn dst_edges_error_items_and_versions() {
    let parsed = parse_as("acme", &fixture("multi_shipment_with_error.json")).unwrap();
    let evs = events(&parsed);
    assert_eq!(evs.len(), 2);
    let flags: Vec<&[String]> = evs.iter().map(|(_, e)| e.time_flags.as_slice()).collect();
    assert_eq!(
        flags,
        [
            vec!["nonexistent_local_time".to_string()].as_slice(),
            &["ambiguous_local_time".to_string()]
        ]
    );
    assert!(
        matches!(&parsed.skipped[..], [s] if s.carrier_code == "NOT_FOUND" && matches!(s.why, SkipReason::ItemError { .. }))
    );
    let err = parse_as("acme", &fixture("wrong_version.json")).unwrap_err();
    assert!(err.to_string().contains("gluey.direct.v2"), "{err}");
    assert!(matches!(
        parse_as("acme", b"{"),
        Err(ParseError::InvalidJson(_))
    ));
    let err = parse_as("acme", br#"{"schema":"gluey.direct.v1","shipments":[{"tracking_number":"T","events":[{"code":"X","occurred_at":"soon"}]}]}"#).unwrap_err();
    assert!(
        err.to_string()
            .contains("shipments[0].events[0].occurred_at"),
        "{err}"
    );
}

#[test]
fn split_gives_one_piece_per_number_that_parses_back_to_the_same_records() {
    let format = gluey_carriers::direct::DirectV1;
    let whole = fixture("multi_shipment_with_error.json");
    let pieces = format.split(&whole).unwrap();
    assert_eq!(
        pieces
            .iter()
            .map(|p| p.tracking_number.as_str())
            .collect::<Vec<_>>(),
        ["AC1000000003", "AC1000000004", "AC1000000005"]
    );
    let mut records = Vec::new();
    for piece in &pieces {
        records.extend(parse_as("acme", &piece.payload).unwrap().records);
    }
    let mut expected = parse_as("acme", &whole).unwrap().records;
    gluey_carriers::event::oldest_first(&mut records);
    gluey_carriers::event::oldest_first(&mut expected);
    assert_eq!(records, expected);
    let single = fixture("journey.json");
    assert_eq!(
        format.split(&single).unwrap()[0].payload,
        single,
        "one shipment: the bytes unchanged"
    );
}

fn mutate(value: serde_json::Value, choice: u8, seed: u64) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .enumerate()
                .map(|(i, (k, v))| {
                    if (seed >> (i % 60)) & 1 == 1 {
                        (k, mutate(v, choice, seed.rotate_left(7)))
                    } else {
                        (k, v)
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| mutate(v, choice, seed.rotate_left(3)))
                .collect(),
        ),
        _ => match choice % 6 {
            0 => Value::Null,
            1 => Value::String(String::new()),
            2 => Value::from(seed as i64),
            3 => Value::String("2024-13-45T99:99:99+25:00".into()),
            4 => Value::Bool(true),
            _ => Value::String("\u{0}\u{ffff}💥".into()),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_as("acme", &bytes);
        let _ = gluey_carriers::direct::DirectV1.split(&bytes);
    }

    #[test]
    fn mutated_fixtures_never_panic(choice in any::<u8>(), seed in any::<u64>(), which in 0usize..3) {
        let name = ["journey.json", "every_code.json", "multi_shipment_with_error.json"][which];
        let value: serde_json::Value = serde_json::from_slice(&fixture(name)).unwrap();
        let bytes = mutate(value, choice, seed).to_string().into_bytes();
        if let Ok(parsed) = parse_as("acme", &bytes) {
            let times: Vec<_> = events(&parsed).iter().map(|(_, e)| e.occurred_at).collect();
            prop_assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
        }
        let _ = gluey_carriers::direct::DirectV1.split(&bytes);
    }

    #[test]
    fn flipped_bytes_never_panic(at in any::<usize>(), byte in any::<u8>(), which in 0usize..3) {
        let name = ["journey.json", "every_code.json", "multi_shipment_with_error.json"][which];
        let mut bytes = fixture(name);
        let i = at % bytes.len();
        bytes[i] = byte;
        let _ = parse_as("acme", &bytes);
        let _ = gluey_carriers::direct::DirectV1.split(&bytes);
    }
}
