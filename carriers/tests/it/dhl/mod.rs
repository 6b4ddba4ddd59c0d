//! Golden tests for `dhl.unified` and `dhl.push` against the fixtures in `tests/fixtures/dhl.*/`,
//! and properties proving that parse and split never panic on arbitrary or mutated input.

use crate::support::byte_mutation;
use crate::support::records;
use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use gluey_carriers::dhl::{DhlPush, DhlUnified};
use gluey_carriers::identity::event_id;
use gluey_carriers::{CarrierFormat, ParseError, Parsed, ParsedRecord, RawInput};
use gluey_contract::{OffsetSource, Route, Status, TrackingEvent, UpdateType};

use records::{classification, events, utc};

mod divisions;
mod errors;
mod every_code;
mod props;
mod push_bodies;

pub const UNIFIED_FIXTURES: [&str; 7] = [
    "carriers_md_example.json",
    "multi_shipment.json",
    "timestamp_traps.json",
    "cross_division.json",
    "cross_division_with_service.json",
    "problem_404.json",
    "every_code.json",
];

pub const PUSH_FIXTURES: [&str; 7] = [
    "status_only.json",
    "shipment_events.json",
    "array_multi.json",
    "timestamp_traps.json",
    "cross_division.json",
    "express_body.json",
    "every_code.json",
];

pub fn fixture(format: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses as the normalizer would, with the envelope context given.
pub fn parse_with(
    format: &dyn CarrierFormat,
    payload: &[u8],
    context: &[(&str, &str)],
) -> Result<Parsed, ParseError> {
    let context: BTreeMap<String, String> = context
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    format.parse(RawInput {
        carrier: "dhl",
        payload,
        context: &context,
        received_at: Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap(),
    })
}

pub fn unified(payload: &[u8]) -> Result<Vec<ParsedRecord>, ParseError> {
    parse_with(&DhlUnified, payload, &[]).map(|p| p.records)
}

pub fn push(payload: &[u8]) -> Result<Vec<ParsedRecord>, ParseError> {
    parse_with(&DhlPush, payload, &[]).map(|p| p.records)
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

/// (code, UTC, local, offset, offset source, time flags) of every event.
type TimeRow<'a> = (
    &'a str,
    DateTime<Utc>,
    &'a str,
    i32,
    OffsetSource,
    Vec<&'a str>,
);

/// A time row without the code.
type TimeCols<'a> = (DateTime<Utc>, &'a str, i32, OffsetSource, Vec<&'a str>);

fn times<'a>(events: &[(&str, &str, &'a TrackingEvent)]) -> Vec<TimeRow<'a>> {
    events
        .iter()
        .map(|(_, _, e)| {
            (
                e.carrier_code.as_str(),
                e.occurred_at,
                e.occurred_at_local.as_str(),
                e.utc_offset_seconds,
                e.offset_source,
                e.time_flags.iter().map(String::as_str).collect(),
            )
        })
        .collect()
}

#[test]
fn both_formats_are_registered_with_their_routes_and_one_table() {
    let unified = gluey_carriers::format("dhl.unified").unwrap();
    let push = gluey_carriers::format("dhl.push").unwrap();
    assert_eq!((unified.carrier(), push.carrier()), ("dhl", "dhl"));
    assert_eq!(unified.routes(), [Route::Api]);
    assert_eq!(push.routes(), [Route::Webhook]);
    let (a, b) = (unified.mapping().unwrap(), push.mapping().unwrap());
    assert!(std::ptr::eq(a, b), "one mapping table for every DHL format");
    assert_eq!(a.file, "dhl.json");
    assert_eq!(a.len(), 10);
}

#[test]
fn carriers_md_example_resolves_offset_less_times_from_the_event_location() {
    let records = unified(&fixture("dhl.unified", "carriers_md_example.json")).unwrap();
    let events = events(&records);
    let summary: Vec<(&str, Status, String)> = events
        .iter()
        .map(|(_, _, e)| (e.carrier_code.as_str(), e.status, classification(e)))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "pre-transit",
                Status::InfoReceived,
                "order/info_received/".to_string()
            ),
            (
                "transit",
                Status::InTransit,
                "in_transit/in_transit/".to_string()
            ),
            (
                "transit",
                Status::OutForDelivery,
                "delivery/out_for_delivery/".to_string()
            ),
        ]
    );
    // CARRIERS.md: 10:41 BST → 09:41Z (matches status.timestamp); Köln 22:05:12 CEST → 20:05:12Z;
    // the pre-transit event has no location: Europe/Berlin, flagged as assumed.
    assert_eq!(
        times(&events),
        [
            (
                "pre-transit",
                utc("2024-05-12T14:11:03Z"),
                "2024-05-12T16:11:03",
                7200,
                OffsetSource::AssumedDefault,
                vec![]
            ),
            (
                "transit",
                utc("2024-05-13T20:05:12Z"),
                "2024-05-13T22:05:12",
                7200,
                OffsetSource::InferredFromLocation,
                vec![]
            ),
            (
                "transit",
                utc("2024-05-14T09:41:00Z"),
                "2024-05-14T10:41:00",
                3600,
                OffsetSource::InferredFromLocation,
                vec![]
            ),
        ]
    );
    let (tn, id, ofd) = events[2];
    assert_eq!(tn, "00340434161094022115");
    assert_eq!(
        ofd.carrier_description.as_deref(),
        Some("The shipment has been loaded onto the delivery vehicle")
    );
    assert_eq!(ofd.carrier_sub_code, None);
    let location = ofd.location.as_ref().unwrap();
    assert_eq!(
        (location.city.as_deref(), location.country_iso2.as_deref()),
        (Some("Leeds"), Some("GB"))
    );
    assert_eq!(
        id,
        event_id(
            "dhl",
            "00340434161094022115",
            "TRANSIT",
            utc("2024-05-14T09:41:00Z"),
            &["the shipment has been loaded onto the delivery vehicle"]
        )
    );
    assert_eq!(events[0].2.location, None);
    assert_eq!(
        etas(&records),
        [("00340434161094022115", Some(utc("2024-05-14T17:00:00Z")))]
    );
    assert!(matches!(records.last(), Some(ParsedRecord::Update { .. })));
}

#[test]
fn the_same_event_gets_the_same_id_by_poll_and_by_push() {
    let ofd_of = |records: &[ParsedRecord]| -> (String, Status, DateTime<Utc>) {
        let (_, id, event) = events(records)
            .into_iter()
            .find(|(_, _, e)| e.status == Status::OutForDelivery)
            .unwrap();
        (id.to_string(), event.status, event.occurred_at)
    };
    // Polled: offset-less 10:41 in Leeds. Pushed with only `status`: 09:41Z. Pushed with events:
    // offset-less again, the description re-spaced.
    let polled = ofd_of(&unified(&fixture("dhl.unified", "carriers_md_example.json")).unwrap());
    let pushed = ofd_of(&push(&fixture("dhl.push", "status_only.json")).unwrap());
    let pushed_events = ofd_of(&push(&fixture("dhl.push", "shipment_events.json")).unwrap());
    assert_eq!(polled, pushed);
    assert_eq!(polled, pushed_events);
    // The formats read the same shapes: the same bytes give the same records either way.
    for name in UNIFIED_FIXTURES {
        let payload = fixture("dhl.unified", name);
        let as_unified = unified(&payload).map_err(|e| e.kind());
        let as_push = push(&payload).map_err(|e| e.kind());
        assert_eq!(as_unified, as_push, "{name}");
    }
}

#[test]
fn multi_shipment_orders_events_keeps_ties_reversed_and_signs_only_deliveries() {
    let payload = fixture("dhl.unified", "multi_shipment.json");
    let records = unified(&payload).unwrap();
    let summary: Vec<(&str, &str, Status, String)> = events(&records)
        .iter()
        .map(|(tn, _, e)| {
            (
                *tn,
                e.carrier_description.as_deref().unwrap(),
                e.status,
                e.occurred_at.format("%m-%dT%H:%M:%SZ").to_string(),
            )
        })
        .collect();
    let parcel = "JJD000390007827104871";
    let express = "1234567890";
    assert_eq!(
        summary,
        [
            (
                parcel,
                "Die Auftragsdaten zu dieser Sendung wurden vom Absender elektronisch an DHL übermittelt.",
                Status::InfoReceived,
                "11-04T17:20:00Z".to_string()
            ),
            // Same time: DHL lists "bearbeitet" (newer) first, so oldest first is the arrival.
            (
                parcel,
                "Die Sendung ist im Ziel-Paketzentrum eingetroffen.",
                Status::InTransit,
                "11-05T03:12:00Z".to_string()
            ),
            (
                parcel,
                "Die Sendung wurde im Ziel-Paketzentrum bearbeitet.",
                Status::InTransit,
                "11-05T03:12:00Z".to_string()
            ),
            (
                parcel,
                "Die Sendung wurde in das Zustellfahrzeug geladen.",
                Status::OutForDelivery,
                "11-05T06:31:40Z".to_string()
            ),
            (
                parcel,
                "Die Sendung wurde erfolgreich zugestellt.",
                Status::Delivered,
                "11-05T10:02:00Z".to_string()
            ),
            (express, "Shipment picked up", Status::InTransit, "11-05T15:05:00Z".to_string()),
            (
                express,
                "Departed Facility in LEIPZIG - GERMANY",
                Status::InTransit,
                "11-05T22:40:00Z".to_string()
            ),
            (
                express,
                "Arrived at DHL Delivery Facility DUBLIN - IRELAND",
                Status::InTransit,
                "11-06T09:14:00Z".to_string()
            ),
        ]
    );
    for (_, _, event) in events(&records) {
        let delivered = event.status == Status::Delivered;
        assert_eq!(
            event.signed_by.as_deref(),
            delivered.then_some("Erika Muster"),
            "given and family name, on the delivery only"
        );
        assert_eq!(event.proof_of_delivery_ref.is_some(), delivered);
    }
    let leipzig = events(&records)[6].2.location.clone().unwrap();
    assert_eq!(
        (leipzig.city.as_deref(), leipzig.country_iso2.as_deref()),
        (Some("LEIPZIG"), Some("DE"))
    );
    // The express time frame has no offset: the destination (Dublin) zone, GMT in November.
    assert_eq!(
        etas(&records),
        [(express, Some(utc("2024-11-07T18:00:00Z")))]
    );

    let splits = DhlUnified.split(&payload).unwrap();
    let numbers: Vec<&str> = splits.iter().map(|s| s.tracking_number.as_str()).collect();
    assert_eq!(numbers, [parcel, express]);
    assert_round_trip(&DhlUnified, &payload);
}

/// Parsing the splits gives exactly the records of the whole, each under its own number.
pub fn assert_round_trip(format: &dyn CarrierFormat, payload: &[u8]) {
    let whole = parse_with(format, payload, &[]).unwrap().records;
    let splits = format.split(payload).unwrap();
    assert!(splits.len() > 1, "a multi-shipment payload");
    let mut from_splits = Vec::new();
    for split in &splits {
        let part = parse_with(format, &split.payload, &[]).unwrap().records;
        assert!(part
            .iter()
            .all(|r| r.tracking_number() == split.tracking_number));
        from_splits.extend(part);
    }
    let key = |r: &ParsedRecord| format!("{r:?}");
    let mut whole: Vec<String> = whole.iter().map(key).collect();
    let mut parts: Vec<String> = from_splits.iter().map(key).collect();
    whole.sort();
    parts.sort();
    assert_eq!(whole, parts, "splitting loses and invents nothing");
}

#[test]
fn timestamp_traps_resolve_through_the_location_or_the_berlin_default() {
    let records = unified(&fixture("dhl.unified", "timestamp_traps.json")).unwrap();
    let events = events(&records);
    let rows: Vec<TimeCols> = times(&events)
        .into_iter()
        .map(|(_, t, l, o, s, f)| (t, l, o, s, f))
        .collect();
    use OffsetSource::*;
    assert_eq!(
        rows,
        [
            // `Z` and `+0100` are explicit; the Pre-Transit spelling is the same code.
            (
                utc("2024-01-15T08:00:00Z"),
                "2024-01-15T08:00:00",
                0,
                ExplicitOffset,
                vec![]
            ),
            (
                utc("2024-01-15T08:00:00Z"),
                "2024-01-15T09:00:00",
                3600,
                ExplicitOffset,
                vec![]
            ),
            // Clocks go forward in Germany: 02:30 does not exist, moved forward by the gap.
            (
                utc("2024-03-31T01:30:00Z"),
                "2024-03-31T02:30:00",
                3600,
                InferredFromLocation,
                vec!["nonexistent_local_time"]
            ),
            // "Oderweg 2, AMSTERDAM" names no country: the Berlin default, flagged.
            (
                utc("2024-07-01T07:30:00.250Z"),
                "2024-07-01T09:30:00",
                7200,
                AssumedDefault,
                vec![]
            ),
            // The same locality with countryCode NL: Amsterdam's zone.
            (
                utc("2024-07-01T10:00:00Z"),
                "2024-07-01T12:00:00",
                7200,
                InferredFromLocation,
                vec![]
            ),
            // "CINCINNATI HUB - USA": a multi-zone country without a state, so the default.
            (
                utc("2024-07-03T03:00:00Z"),
                "2024-07-03T05:00:00",
                7200,
                AssumedDefault,
                vec![]
            ),
            // Clocks go back: 02:30 happens twice; the earlier (CEST) instant, flagged.
            (
                utc("2024-10-27T00:30:00Z"),
                "2024-10-27T02:30:00",
                7200,
                InferredFromLocation,
                vec!["ambiguous_local_time"]
            ),
            (
                utc("2024-11-07T14:00:00Z"),
                "2024-11-07T10:00:00",
                -14400,
                ExplicitOffset,
                vec![]
            ),
        ]
    );
    let cincinnati = events[5].2.location.clone().unwrap();
    assert_eq!(cincinnati.country_iso2.as_deref(), Some("US"));
    assert_eq!(
        events[0].2.status,
        Status::InfoReceived,
        "Pre-Transit is pre-transit"
    );
    assert_eq!(
        events[0].1,
        event_id(
            "dhl",
            "00340434161094099999",
            "PRE-TRANSIT",
            utc("2024-01-15T08:00:00Z"),
            &["shipment data received"]
        )
    );
    // An offset-less ETA is read in the destination's zone (Amsterdam, CET in November).
    assert_eq!(
        etas(&records),
        [("00340434161094099999", Some(utc("2024-11-08T17:00:00Z")))]
    );

    let pushed = push(&fixture("dhl.push", "timestamp_traps.json")).unwrap();
    let rows: Vec<(DateTime<Utc>, i32, OffsetSource, Vec<&str>)> = times(&self::events(&pushed))
        .into_iter()
        .map(|(_, t, _, o, s, f)| (t, o, s, f))
        .collect();
    assert_eq!(
        rows,
        [
            (utc("2024-10-26T10:00:00Z"), 7200, AssumedDefault, vec![]),
            (utc("2024-10-26T16:00:00Z"), 7200, ExplicitOffset, vec![]),
            (
                utc("2024-10-26T21:59:59.999Z"),
                7200,
                InferredFromLocation,
                vec![]
            ),
            (
                utc("2024-10-27T00:30:00Z"),
                3600,
                InferredFromLocation,
                vec!["ambiguous_local_time"]
            ),
        ],
        "`+02` is an offset; Warszawa, Polska is Poland; London's 01:30 happens twice"
    );
}
