//! Golden tests for `royalmail.v2` against the fixtures in `tests/fixtures/royalmail.v2/`, and
//! properties proving that parse and split never panic on arbitrary or mutated input.

use crate::support::byte_mutation;
use crate::support::records;
use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use gluey_carriers::identity::event_id;
use gluey_carriers::royalmail::RoyalMailV2;
use gluey_carriers::{CarrierFormat, ParseError, Parsed, ParsedRecord, RawInput, SkipReason};
use gluey_contract::{OffsetSource, Route, Status, UpdateType};

use records::{classification, events, utc};

mod errors;
mod every_code;
mod props;

pub const FIXTURES: [&str; 9] = [
    "events_example.json",
    "events_bst_signed.json",
    "post_delivery.json",
    "summary_multi.json",
    "summary_all_errors.json",
    "timestamp_traps.json",
    "error_response.json",
    "signature_endpoint.json",
    "every_code.json",
];

pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/royalmail.v2")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn parse_all(payload: &[u8]) -> Result<Parsed, ParseError> {
    let context = BTreeMap::new();
    RoyalMailV2.parse(RawInput {
        carrier: "royalmail",
        payload,
        context: &context,
        received_at: Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap(),
    })
}

pub fn parse(payload: &[u8]) -> Result<Vec<ParsedRecord>, ParseError> {
    parse_all(payload).map(|p| p.records)
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
                Some((tracking_number.as_str(), update.new_eta))
            }
            ParsedRecord::Event { .. } => None,
        })
        .collect()
}

/// (code, status, classification, UTC, location name) of an event.
type EventRow<'a> = (&'a str, Status, String, DateTime<Utc>, Option<&'a str>);

/// (code, UTC, local, offset, offset source, time flags) of an event.
type TimeRow<'a> = (
    &'a str,
    DateTime<Utc>,
    &'a str,
    i32,
    OffsetSource,
    Vec<&'a str>,
);

fn id_of(records: &[ParsedRecord], code: &str) -> String {
    events(records)
        .into_iter()
        .find(|(_, _, e)| e.carrier_code == code)
        .map(|(_, id, _)| id.to_string())
        .unwrap()
}

#[test]
fn the_format_is_registered_for_polls() {
    let format = gluey_carriers::format("royalmail.v2").unwrap();
    assert_eq!(format.carrier(), "royalmail");
    assert_eq!(format.routes(), [Route::Api]);
    let table = format.mapping().unwrap();
    assert_eq!(table.file, "royalmail.json");
    assert_eq!(
        table.len(),
        49,
        "one row per code in CARRIERS.md's Royal Mail table"
    );
}

#[test]
fn carriers_md_example_gives_five_events_oldest_first_and_the_window_end() {
    let records = parse(&fixture("events_example.json")).unwrap();
    let summary: Vec<EventRow> = events(&records)
        .iter()
        .map(|(_, _, e)| {
            (
                e.carrier_code.as_str(),
                e.status,
                classification(e),
                e.occurred_at,
                e.location.as_ref().and_then(|l| l.name.as_deref()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "EVAIE",
                Status::InfoReceived,
                "order/info_received/despatch_advised".to_string(),
                utc("2024-03-26T18:03:00Z"),
                None
            ),
            (
                "EVPPA",
                Status::InTransit,
                "collection/dropped_off/post_office".to_string(),
                utc("2024-03-27T11:20:41Z"),
                None
            ),
            (
                "EVIMC",
                Status::InTransit,
                "in_transit/arrived_at_carrier_facility/".to_string(),
                utc("2024-03-27T23:15:02Z"),
                Some("Leeds MC")
            ),
            (
                "EVGPD",
                Status::OutForDelivery,
                "delivery/out_for_delivery/due_today".to_string(),
                utc("2024-03-28T06:47:50Z"),
                Some("Harrogate DO")
            ),
            (
                "EVKSF",
                Status::Delivered,
                "delivery/delivered/safe_place".to_string(),
                utc("2024-03-28T13:02:11Z"),
                Some("Harrogate DO")
            ),
        ]
    );
    let (tn, id, ksf) = events(&records)[4];
    assert_eq!(tn, "RM123456785GB");
    assert_eq!(
        id,
        event_id(
            "royalmail",
            "RM123456785GB",
            "EVKSF",
            utc("2024-03-28T13:02:00Z"),
            &[]
        )
    );
    assert_eq!(
        ksf.carrier_description.as_deref(),
        Some("Delivered to Safeplace")
    );
    assert_eq!(ksf.signed_by, None, "no signature object, no signatory");
    assert_eq!(
        (
            ksf.occurred_at_local.as_str(),
            ksf.utc_offset_seconds,
            ksf.offset_source
        ),
        ("2024-03-28T13:02:11", 0, OffsetSource::ExplicitOffset)
    );
    // "endOfEstimatedWindow": "14:00:00+00:00" on 2024-03-28.
    assert_eq!(
        etas(&records),
        [("RM123456785GB", Some(utc("2024-03-28T14:00:00Z")))]
    );
}

#[test]
fn a_bst_offset_is_kept_never_read_as_utc() {
    let records = parse(&fixture("events_bst_signed.json")).unwrap();
    let (_, id, missort) = events(&records)
        .into_iter()
        .find(|(_, _, e)| e.carrier_code == "EVNMI")
        .unwrap();
    // The karrio bug: 10:04:00+01:00 became 10:04:00Z. It is 09:04 UTC, 10:04 local.
    assert_eq!(missort.occurred_at, utc("2016-10-20T09:04:00Z"));
    assert_eq!(missort.occurred_at_local, "2016-10-20T10:04:00");
    assert_eq!(missort.utc_offset_seconds, 3600);
    assert_eq!(missort.offset_source, OffsetSource::ExplicitOffset);
    assert_eq!(missort.status, Status::InTransit);
    assert_eq!(missort.flags, ["missort"]);
    assert_eq!(
        id,
        event_id(
            "royalmail",
            "FQ087430672GB",
            "EVNMI",
            utc("2016-10-20T09:04:00Z"),
            &[]
        )
    );
    // Same time for EVDAV and EVODO: Royal Mail lists EVODO (newer) first.
    let order: Vec<&str> = events(&records)
        .iter()
        .map(|(_, _, e)| e.carrier_code.as_str())
        .collect();
    assert_eq!(
        order,
        ["EVPPA", "EVDAV", "EVODO", "EVNMI", "EVGPD", "EVKSP"]
    );
    for (_, _, event) in events(&records) {
        let signed = event.carrier_code == "EVKSP";
        assert_eq!(event.signed_by.as_deref(), signed.then_some("Simon"));
        assert_eq!(
            event.proof_of_delivery_ref.as_deref(),
            signed.then_some("001234")
        );
    }
    // Full date-times in the window are read as they are: 13:00+01:00.
    assert_eq!(
        etas(&records),
        [("FQ087430672GB", Some(utc("2016-10-21T12:00:00Z")))]
    );
}

#[test]
fn the_summary_endpoint_reports_the_same_event_under_the_same_id() {
    let from_events = parse(&fixture("events_example.json")).unwrap();
    let from_summary = parse(&fixture("summary_multi.json")).unwrap();
    assert_eq!(id_of(&from_events, "EVKSF"), id_of(&from_summary, "EVKSF"));
    let content = |records: &[ParsedRecord]| {
        let (_, _, e) = events(records)
            .into_iter()
            .find(|(_, _, e)| e.carrier_code == "EVKSF")
            .unwrap();
        e.clone()
    };
    assert_eq!(
        content(&from_events),
        content(&from_summary),
        "and the same content"
    );
}

#[test]
fn summary_items_with_errors_are_skipped_and_the_rest_parsed() {
    let payload = fixture("summary_multi.json");
    let parsed = parse_all(&payload).unwrap();
    let summary: Vec<(&str, &str, Status, Vec<String>)> = events(&parsed.records)
        .iter()
        .map(|(tn, _, e)| (*tn, e.carrier_code.as_str(), e.status, e.flags.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("RM123456785GB", "EVKSF", Status::Delivered, vec![]),
            (
                "AB123456789GB",
                "EVNMI",
                Status::InTransit,
                vec!["missort".to_string()]
            ),
        ]
    );
    // Time-only window "11:00:00+01:00" on 2024-04-04: 10:00 UTC.
    assert_eq!(
        etas(&parsed.records),
        [("AB123456789GB", Some(utc("2024-04-04T10:00:00Z")))]
    );
    let skipped: Vec<(Option<&str>, &str, String)> = parsed
        .skipped
        .iter()
        .map(|s| {
            let why = match &s.why {
                SkipReason::ItemError { message } => format!("error: {message}"),
                SkipReason::NoStatusChange { mapping_row } => {
                    format!("no change: row {mapping_row}")
                }
            };
            (s.tracking_number.as_deref(), s.carrier_code.as_str(), why)
        })
        .collect();
    assert_eq!(
        skipped,
        [
            // The error wins over the summary the same item carries.
            (
                Some("090367574000000FE1E1B"),
                "E1142",
                "error: Barcode reference 090367574000000FE1E1B isn't recognised".to_string()
            ),
            (
                Some("FQ087430672GB"),
                "RFRXS",
                "no change: row 44".to_string()
            ),
            (
                None,
                "E1142",
                "error: Barcode reference isn't recognised".to_string()
            ),
        ]
    );

    let splits = RoyalMailV2.split(&payload).unwrap();
    let numbers: Vec<&str> = splits.iter().map(|s| s.tracking_number.as_str()).collect();
    assert_eq!(
        numbers,
        [
            "RM123456785GB",
            "090367574000000FE1E1B",
            "FQ087430672GB",
            "AB123456789GB",
            "XX000000000GB"
        ],
        "an error item without a mailPieceId belongs to no shipment"
    );
    let mut from_splits = Vec::new();
    for split in &splits {
        let part = parse(&split.payload).unwrap();
        assert!(part
            .iter()
            .all(|r| r.tracking_number() == split.tracking_number));
        from_splits.extend(part);
    }
    assert_eq!(
        from_splits, parsed.records,
        "splitting loses and invents nothing"
    );

    let all_errors = parse_all(&fixture("summary_all_errors.json")).unwrap();
    assert!(all_errors.records.is_empty());
    let codes: Vec<&str> = all_errors
        .skipped
        .iter()
        .map(|s| s.carrier_code.as_str())
        .collect();
    assert_eq!(codes, ["E1142", "E1143"]);
}

#[test]
fn an_events_response_is_one_shipment_split_as_its_bytes() {
    for name in [
        "events_example.json",
        "post_delivery.json",
        "signature_endpoint.json",
    ] {
        let payload = fixture(name);
        let splits = RoyalMailV2.split(&payload).unwrap();
        assert_eq!(splits.len(), 1, "{name}");
        assert_eq!(splits[0].payload, payload);
    }
    assert_eq!(
        RoyalMailV2.split(&fixture("events_example.json")).unwrap()[0].tracking_number,
        "RM123456785GB"
    );
    // The signature endpoint has no events and no summary: nothing to report.
    let signature = parse_all(&fixture("signature_endpoint.json")).unwrap();
    assert!(signature.records.is_empty() && signature.skipped.is_empty());
}

#[test]
fn events_after_delivery_keep_their_own_classification_and_order() {
    let parsed = parse_all(&fixture("post_delivery.json")).unwrap();
    let summary: Vec<(&str, Status, Option<&str>, Vec<String>)> = events(&parsed.records)
        .iter()
        .map(|(_, _, e)| {
            (
                e.carrier_code.as_str(),
                e.status,
                e.signed_by.as_deref(),
                e.flags.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("EVGPD", Status::OutForDelivery, None, vec![]),
            ("EVKNA", Status::FailedAttempt, None, vec![]),
            ("EVKSP", Status::Delivered, Some("J SMITH"), vec![]),
            // Six days after delivery: a missort, in transit with the incident flag; the
            // normalizer's terminal stickiness marks it post_terminal.
            (
                "EVGMI",
                Status::InTransit,
                None,
                vec!["missort".to_string()]
            ),
        ]
    );
    assert_eq!(parsed.skipped.len(), 1);
    assert_eq!(parsed.skipped[0].carrier_code, "RFRXS");
    assert!(matches!(
        parsed.skipped[0].why,
        SkipReason::NoStatusChange { .. }
    ));
}

#[test]
fn timestamp_traps_are_resolved_through_the_offset_or_uk_time() {
    let records = parse(&fixture("timestamp_traps.json")).unwrap();
    let rows: Vec<TimeRow> = events(&records)
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
        .collect();
    use OffsetSource::*;
    assert_eq!(
        rows,
        [
            (
                "EVAIP",
                utc("2024-01-10T10:04:00Z"),
                "2024-01-10T10:04:00",
                0,
                ExplicitOffset,
                vec![]
            ),
            // No offset, and 01:30 does not exist in the UK that night: moved forward, flagged.
            (
                "EVOCO",
                utc("2024-03-31T01:30:00Z"),
                "2024-03-31T01:30:00",
                0,
                AssumedDefault,
                vec!["nonexistent_local_time"]
            ),
            // `+01:00` and `+0100`: the same instant (the tie keeps reversed array order).
            (
                "EVDAC",
                utc("2024-10-26T09:04:00Z"),
                "2024-10-26T10:04:00",
                3600,
                ExplicitOffset,
                vec![]
            ),
            (
                "EVIMC",
                utc("2024-10-26T09:04:00Z"),
                "2024-10-26T10:04:00",
                3600,
                ExplicitOffset,
                vec![]
            ),
            (
                "EVGPD",
                utc("2024-10-26T23:59:00Z"),
                "2024-10-26T23:59:00",
                0,
                ExplicitOffset,
                vec![]
            ),
            // No offset, and 01:30 happens twice: the earlier (BST) reading, flagged.
            (
                "EVKOP",
                utc("2024-10-27T00:30:00Z"),
                "2024-10-27T01:30:00",
                3600,
                AssumedDefault,
                vec!["ambiguous_local_time"]
            ),
        ]
    );
    // Only a start of window, time-only: 08:00 GMT on the date.
    assert_eq!(
        etas(&records),
        [("TT123456789GB", Some(utc("2024-10-28T08:00:00Z")))]
    );
}
