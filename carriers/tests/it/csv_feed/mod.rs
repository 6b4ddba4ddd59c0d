//! Golden tests for `csv.feed` against the fixtures in `tests/fixtures/csv.feed/`: file pitfalls
//! (BOM, CRLF, `;`, Windows-1252, quotes, Excel's `'`, H/T records, a repeated header), day-first
//! dates, zones, per-carrier codes, one id per scan whether a file or a line carries it, and
//! line splits; typed errors and properties in the included modules.

use crate::support::byte_mutation;
use crate::support::records;
use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use gluey_carriers::csv_feed::{piece_context, CsvFeed};
use gluey_carriers::identity::event_id;
use gluey_carriers::{CarrierFormat, ParseError, Parsed, ParsedRecord, RawInput, SkipReason};
use gluey_contract::{OffsetSource, Route, Status, UpdateType};

use records::{classification, events, utc};

mod errors;
mod props;

/// (tracking number, code, status, UTC, local, offset source) of an event.
type FileRow<'a> = (
    &'a str,
    &'a str,
    Status,
    DateTime<Utc>,
    &'a str,
    OffsetSource,
);
/// (code, UTC, offset, offset source, time flags) of an event.
type TimeRow<'a> = (&'a str, DateTime<Utc>, i32, OffsetSource, Vec<String>);

/// Whole files (header first) that parse without a context, with their carrier.
pub const FILES: [(&str, &str); 6] = [
    ("dpd_file.csv", "dpd"),
    ("evri_semicolon_cp1252.csv", "evri"),
    ("yodel_descriptions.csv", "yodel"),
    ("every_code_dpd.csv", "dpd"),
    ("every_code_evri.csv", "evri"),
    ("every_code_yodel.csv", "yodel"),
];

pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/csv.feed")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn parse_with(
    carrier: &str,
    payload: &[u8],
    context: &BTreeMap<String, String>,
) -> Result<Parsed, ParseError> {
    CsvFeed.parse(RawInput {
        carrier,
        payload,
        context,
        received_at: Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap(),
    })
}

/// A whole file, as `carrier` sent it; encoding from the bytes, like `piece_context`.
pub fn parse_file(carrier: &str, payload: &[u8]) -> Result<Parsed, ParseError> {
    let mut context = piece_context(payload);
    context.remove("header");
    parse_with(carrier, payload, &context)
}

fn etas(records: &[ParsedRecord]) -> Vec<(&str, DateTime<Utc>)> {
    records
        .iter()
        .filter_map(|r| match r {
            ParsedRecord::Update {
                tracking_number,
                update,
            } => {
                assert_eq!(update.update_type, UpdateType::EtaChanged);
                Some((tracking_number.as_str(), update.new_eta.unwrap()))
            }
            ParsedRecord::Event { .. } => None,
        })
        .collect()
}

#[test]
fn the_format_is_registered_as_an_sftp_file_format() {
    let format = gluey_carriers::format("csv.feed").unwrap();
    assert_eq!(
        (format.name(), format.carrier(), format.routes()),
        ("csv.feed", "csv", &[Route::Sftp][..])
    );
    assert_eq!(format.mapping().unwrap().file, "csv_feed.json");
}

#[test]
fn a_dpd_file_with_every_pitfall_reads_cleanly() {
    let parsed = parse_file("dpd", &fixture("dpd_file.csv")).unwrap();
    let summary: Vec<FileRow> = events(&parsed.records)
        .into_iter()
        .map(|(tn, _, e)| {
            (
                tn,
                e.carrier_code.as_str(),
                e.status,
                e.occurred_at,
                e.occurred_at_local.as_str(),
                e.offset_source,
            )
        })
        .collect();
    let inferred = OffsetSource::InferredFromLocation;
    let assumed = OffsetSource::AssumedDefault;
    assert_eq!(
        summary,
        [
            // No country on the second parcel's lines: London, flagged assumed (BST in June).
            (
                "15501234567891",
                "000",
                Status::InfoReceived,
                utc("2024-06-01T17:00:00Z"),
                "2024-06-01T18:00:00",
                assumed
            ),
            (
                "15501234567891",
                "009",
                Status::InTransit,
                utc("2024-06-02T21:05:00Z"),
                "2024-06-02T22:05:00",
                assumed
            ),
            // Excel's ' is gone; 03/06/2024 is 3 June; seconds when given, none when not.
            (
                "15501234567890",
                "004",
                Status::InTransit,
                utc("2024-06-03T03:30:02Z"),
                "2024-06-03T04:30:02",
                inferred
            ),
            (
                "15501234567890",
                "015",
                Status::OutForDelivery,
                utc("2024-06-03T06:52:00Z"),
                "2024-06-03T07:52:00",
                inferred
            ),
            (
                "15501234567890",
                "001",
                Status::Delivered,
                utc("2024-06-03T11:14:00Z"),
                "2024-06-03T12:14:00",
                inferred
            ),
        ]
    );
    let delivered = events(&parsed.records)[4].2;
    assert_eq!(
        delivered.carrier_description.as_deref(),
        Some("Your parcel has been delivered and received by PATEL, at the front door"),
        "a quoted comma stays in its field"
    );
    assert_eq!(delivered.signed_by.as_deref(), Some("PATEL"));
    let location = delivered.location.as_ref().unwrap();
    assert_eq!(
        (
            location.carrier_location_code.as_deref(),
            location.name.as_deref(),
            location.postal_code.as_deref(),
            location.country_iso2.as_deref()
        ),
        (Some("0155"), Some("Leicester"), Some("LE4 9HA"), Some("GB"))
    );
    // The code-less "delivery window" line is only an ETA: 03/06 13:10 BST.
    assert_eq!(
        etas(&parsed.records),
        [("15501234567890", utc("2024-06-03T12:10:00Z"))]
    );
    let skipped: Vec<(&str, bool)> = parsed
        .skipped
        .iter()
        .map(|s| match &s.why {
            SkipReason::ItemError { message } => {
                (s.carrier_code.as_str(), message.starts_with("line "))
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        skipped,
        [("H", true), ("", true), ("T", true)],
        "H, repeated header, T"
    );
}

#[test]
fn one_scan_one_id_from_a_file_a_line_or_another_route() {
    let file = parse_file("dpd", &fixture("dpd_file.csv")).unwrap();
    let from_file = events(&file.records)
        .into_iter()
        .find(|(_, _, e)| e.carrier_code == "015")
        .map(|(_, id, e)| (id.to_string(), e.clone()))
        .unwrap();
    let line_context: BTreeMap<String, String> =
        serde_json::from_slice(&fixture("dpd_line.csv.context.json")).unwrap();
    let mut line_context = line_context;
    line_context.remove("_carrier");
    let line = parse_with("DPD ", &fixture("dpd_line.csv"), &line_context).unwrap();
    let [(tn, id, event)] = events(&line.records)[..] else {
        panic!("one event")
    };
    assert_eq!((id, event), (from_file.0.as_str(), &from_file.1));
    // The DPD UK JSON route reports this scan as eventCode "015" at 2024-06-03 07:52:10 London:
    // the same carrier namespace, code and minute.
    assert_eq!(
        id,
        event_id("dpd", tn, "015", utc("2024-06-03T06:52:10Z"), &[])
    );
    // Another carrier's namespace is another event.
    let evri = parse_with("evri", &fixture("dpd_line.csv"), &line_context).unwrap();
    assert_ne!(events(&evri.records)[0].1, id);
}

#[test]
fn semicolons_windows_1252_and_explicit_zones() {
    let payload = fixture("evri_semicolon_cp1252.csv");
    let context = BTreeMap::from([
        ("encoding".to_string(), "windows-1252".to_string()),
        ("delimiter".to_string(), ";".to_string()),
    ]);
    let parsed = parse_with("evri", &payload, &context).unwrap();
    let summary: Vec<TimeRow> = events(&parsed.records)
        .into_iter()
        .map(|(_, _, e)| {
            (
                e.carrier_code.as_str(),
                e.occurred_at,
                e.utc_offset_seconds,
                e.offset_source,
                e.time_flags.clone(),
            )
        })
        .collect();
    let none: Vec<String> = Vec::new();
    assert_eq!(
        summary,
        [
            (
                "1",
                utc("2024-03-30T10:00:00Z"),
                0,
                OffsetSource::AssumedDefault,
                none.clone()
            ),
            // 01:30 on 31 March does not exist in London: flagged, read with the offset before.
            (
                "2",
                utc("2024-03-31T01:30:00Z"),
                0,
                OffsetSource::InferredFromLocation,
                vec!["nonexistent_local_time".to_string()]
            ),
            (
                "3",
                utc("2024-03-31T08:15:00Z"),
                3600,
                OffsetSource::ExplicitOffset,
                none.clone()
            ),
            (
                "3",
                utc("2024-10-26T21:00:00Z"),
                3600,
                OffsetSource::CarrierTzAbbrev,
                none.clone()
            ),
            // 01:30 on 27 October happens twice: the earlier (BST), flagged.
            (
                "4_COURIER",
                utc("2024-10-27T00:30:00Z"),
                3600,
                OffsetSource::CarrierTzAbbrev,
                vec!["ambiguous_local_time".to_string()]
            ),
            (
                "5_courier",
                utc("2024-10-27T14:37:00Z"),
                0,
                OffsetSource::AssumedDefault,
                none.clone()
            ),
            (
                "4_COURIER",
                utc("2024-10-28T07:00:00Z"),
                3600,
                OffsetSource::InferredFromLocation,
                none.clone()
            ),
        ]
    );
    let events = events(&parsed.records);
    assert_eq!(
        events[1].2.carrier_description.as_deref(),
        Some("Received at Crème Brûlée depot – Chesterfield"),
        "é, û and – decoded from Windows-1252"
    );
    assert_eq!(
        events[2].2.carrier_description.as_deref(),
        Some("In transit; next stop; hub"),
        "a quoted field keeps its semicolons"
    );
    assert_eq!(
        events[5].2.status,
        Status::Delivered,
        "codes are upper-cased for lookup"
    );
    assert_eq!(events[5].2.carrier_code, "5_courier", "and kept as written");
    assert_eq!(
        etas(&parsed.records),
        [("H00A1B2C3D4E5F6", utc("2024-10-27T15:00:00Z"))]
    );
    // Read as UTF-8, the same bytes are a typed encoding error naming the line.
    let utf8 = BTreeMap::from([("delimiter".to_string(), ";".to_string())]);
    assert!(matches!(
        parse_with("evri", &payload, &utf8),
        Err(ParseError::Encoding { encoding: "utf-8", ref reason }) if reason.starts_with("line 3:")
    ));
}

#[test]
fn yodel_is_classified_by_its_descriptions() {
    let parsed = parse_file("yodel", &fixture("yodel_descriptions.csv")).unwrap();
    let statuses: Vec<(Status, String)> = events(&parsed.records)
        .into_iter()
        .map(|(_, _, e)| (e.status, classification(e)))
        .collect();
    use Status::*;
    assert_eq!(
        statuses,
        [
            (InfoReceived, "order/info_received/".to_string()),
            (InTransit, "collection/picked_up/".to_string()),
            (InTransit, "in_transit/in_transit/".to_string()),
            (OutForDelivery, "delivery/out_for_delivery/".to_string()),
            (FailedAttempt, "delivery/attempt/".to_string()),
            (
                AvailableForPickup,
                "delivery/available_for_pickup/".to_string()
            ),
            (Delivered, "delivery/delivered/".to_string()),
            (Unknown, "unknown/unknown/".to_string()),
            (
                ReturnedToSender,
                "return_to_sender/returned_to_sender/".to_string()
            ),
        ],
        "'not delivered' is a failure, not a delivery: the rules are ordered"
    );
    // The same descriptions under DPD match nothing: rows are per carrier.
    let as_dpd = parse_file("dpd", &fixture("yodel_descriptions.csv")).unwrap();
    assert!(events(&as_dpd.records)
        .iter()
        .all(|(_, _, e)| e.status == Unknown));
}

#[test]
fn every_row_of_the_mapping_is_what_carriers_md_says() {
    use Status::*;
    let dpd = parse_file("dpd", &fixture("every_code_dpd.csv")).unwrap();
    let dpd: Vec<(&str, Status)> = events(&dpd.records)
        .into_iter()
        .map(|(_, _, e)| (e.carrier_code.as_str(), e.status))
        .collect();
    assert_eq!(
        dpd,
        [
            ("000", InfoReceived),
            ("004", InTransit),
            ("009", InTransit),
            ("015", OutForDelivery),
            ("001", Delivered),
            ("SHIPMENT", InfoReceived),
            ("PickedUp", InTransit),
            ("BetweenDepots", InTransit),
            ("Depot", InTransit),
            ("Courier", OutForDelivery),
            ("DeliveryFailure", FailedAttempt),
            ("ReturningFromDelivery", InTransit),
            ("ParcelShop", AvailableForPickup),
            ("Delivered", Delivered),
            ("ZZ9", Unknown),
        ]
    );
    let evri = parse_file("evri", &fixture("every_code_evri.csv")).unwrap();
    let evri: Vec<(&str, Status)> = events(&evri.records)
        .into_iter()
        .map(|(_, _, e)| (e.carrier_code.as_str(), e.status))
        .collect();
    assert_eq!(
        evri,
        [
            ("1", InfoReceived),
            ("2", InTransit),
            ("3", InTransit),
            ("4_COURIER", OutForDelivery),
            ("5_COURIER", Delivered),
            ("ZZ9", Unknown),
        ]
    );
    let unmapped = parse_file("parcelforce", &fixture("unmapped_carrier.csv")).unwrap();
    let [(tn, id, event)] = events(&unmapped.records)[..] else {
        panic!("one event")
    };
    assert_eq!(
        (event.status, event.carrier_code.as_str()),
        (Unknown, "DEL")
    );
    assert_eq!(
        id,
        event_id("parcelforce", tn, "DEL", utc("2024-12-10T13:05:00Z"), &[])
    );
}

#[test]
fn a_file_splits_into_one_line_per_piece_that_parses_with_the_header_in_context() {
    for (name, carrier) in FILES {
        let file = fixture(name);
        let whole = parse_file(carrier, &file).unwrap();
        let splits = CsvFeed.split(&file).unwrap();
        let context = piece_context(&file);
        let mut from_pieces = Vec::new();
        for split in &splits {
            assert!(
                !split.payload.contains(&b'\n'),
                "{name}: one line per piece"
            );
            let part = parse_with(carrier, &split.payload, &context).unwrap();
            assert!(part
                .records
                .iter()
                .all(|r| r.tracking_number() == split.tracking_number));
            from_pieces.extend(part.records.iter().map(|r| format!("{r:?}")));
        }
        let mut expected: Vec<String> = whole.records.iter().map(|r| format!("{r:?}")).collect();
        expected.sort();
        from_pieces.sort();
        assert_eq!(expected, from_pieces, "{name}");
    }
    let dpd = fixture("dpd_file.csv");
    let splits = CsvFeed.split(&dpd).unwrap();
    let numbers: Vec<&str> = splits.iter().map(|s| s.tracking_number.as_str()).collect();
    assert_eq!(
        numbers,
        [
            "15501234567890",
            "15501234567890",
            "15501234567890",
            "15501234567890",
            "15501234567891",
            "15501234567891"
        ],
        "H, T, the repeated header and blank lines are no pieces; Excel's ' is gone"
    );
    assert_eq!(
        splits[1].payload,
        fixture("dpd_line.csv"),
        "the line's bytes, no line end"
    );
    // Windows-1252 pieces stay Windows-1252.
    let evri = fixture("evri_semicolon_cp1252.csv");
    let pieces = CsvFeed.split(&evri).unwrap();
    assert!(pieces[1].payload.contains(&0xE8), "è as one byte");
    assert_eq!(
        piece_context(&evri).get("encoding").map(String::as_str),
        Some("windows-1252")
    );
    assert_eq!(
        piece_context(&evri).get("delimiter").map(String::as_str),
        Some(";")
    );
    // A header with no data lines: nothing to ingest, not an error.
    assert_eq!(
        CsvFeed
            .split(b"tracking_number,event_date\r\n\r\n")
            .unwrap(),
        []
    );
}
