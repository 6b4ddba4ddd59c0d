//! Golden tests for `x12.214` against the fixtures in `tests/fixtures/x12.214/`: CARRIERS.md's
//! example, every time code, separators from ISA / context / ST, the carrier namespace, ETA codes,
//! interchange splits; typed errors and properties in the included modules.

use crate::support::byte_mutation;
use crate::support::records;
use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use gluey_carriers::identity::event_id;
use gluey_carriers::x12::X12Status;
use gluey_carriers::{CarrierFormat, ParseError, Parsed, ParsedRecord, RawInput, SkipReason};
use gluey_contract::{OffsetSource, Route, Status, TrackingEvent, UpdateType};

use records::{classification, events, utc};

mod errors;
mod props;

/// (code, UTC, offset, offset source, time flags) of an event.
type TimeRow = (String, DateTime<Utc>, i32, OffsetSource, Vec<String>);
/// (code, reason, status, classification, UTC) of an event.
type ReasonRow<'a> = (&'a str, Option<&'a str>, Status, String, DateTime<Utc>);

/// Fixtures that parse without a file context.
pub const FIXTURES: [&str; 5] = [
    "carriers_md_example.edi",
    "time_codes.edi",
    "interchange_multi.edi",
    "bare_crlf.edi",
    "every_code.edi",
];

pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/x12.214")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn parse_with(
    carrier: &str,
    payload: &[u8],
    context: &BTreeMap<String, String>,
) -> Result<Parsed, ParseError> {
    X12Status.parse(RawInput {
        carrier,
        payload,
        context,
        received_at: Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap(),
    })
}

pub fn parse(payload: &[u8]) -> Result<Vec<ParsedRecord>, ParseError> {
    parse_with("x12", payload, &BTreeMap::new()).map(|p| p.records)
}

fn context(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
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
    let format = gluey_carriers::format("x12.214").unwrap();
    assert_eq!(
        (format.name(), format.carrier(), format.routes()),
        ("x12.214", "x12", &[Route::Sftp][..])
    );
    assert_eq!(format.mapping().unwrap().file, "x12_214.json");
}

#[test]
fn carriers_md_example_gives_what_carriers_md_expects() {
    let records = parse(&fixture("carriers_md_example.edi")).unwrap();
    let events = events(&records);
    let [(tn1, id1, x6), (tn2, id2, d1)] = events[..] else {
        panic!("two events: {events:?}")
    };
    assert_eq!(
        (tn1, tn2),
        ("PRO123456", "PRO123456"),
        "B10-01, the carrier's PRO"
    );
    // 08:15 LT in Manchester in January = 08:15Z.
    assert_eq!(x6.occurred_at, utc("2024-01-16T08:15:00Z"));
    assert_eq!(x6.occurred_at_local, "2024-01-16T08:15:00");
    assert_eq!(
        (x6.utc_offset_seconds, x6.offset_source),
        (0, OffsetSource::InferredFromLocation)
    );
    assert_eq!(x6.status, Status::InTransit);
    assert_eq!(x6.carrier_sub_code.as_deref(), Some("NS"));
    let location = x6.location.as_ref().unwrap();
    assert_eq!(
        (location.city.as_deref(), location.country_iso2.as_deref()),
        (Some("MANCHESTER"), Some("GB"))
    );
    // D1 → delivered at 14:32Z.
    assert_eq!(d1.status, Status::Delivered);
    assert_eq!(classification(d1), "delivery/delivered/");
    assert_eq!(d1.occurred_at, utc("2024-01-16T14:32:00Z"));
    assert_eq!(d1.carrier_description, None, "a 214 has no description");
    assert_eq!(
        id1,
        event_id("x12", "PRO123456", "X6", utc("2024-01-16T08:15:00Z"), &[])
    );
    assert_eq!(
        id2,
        event_id("x12", "PRO123456", "D1", utc("2024-01-16T14:32:00Z"), &[])
    );
    assert!(etas(&records).is_empty());
}

#[test]
fn every_time_code_and_place_resolves_as_the_standard_says() {
    let records = parse(&fixture("time_codes.edi")).unwrap();
    let explicit = OffsetSource::ExplicitOffset;
    let named = OffsetSource::CarrierTzAbbrev;
    let inferred = OffsetSource::InferredFromLocation;
    let summary: Vec<TimeRow> = events(&records)
        .into_iter()
        .map(|(_, _, e)| {
            (
                e.carrier_code.clone(),
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
            // LT, N4 inside the LX loop (New York), 01:30 twice that night: the earlier.
            (
                "AV".into(),
                utc("2023-11-05T05:30:00Z"),
                -4 * 3600,
                inferred,
                vec!["ambiguous_local_time".to_string()]
            ),
            // 01 = UTC+1, time HHMMSSDD.
            (
                "XB".into(),
                utc("2024-07-09T07:00:00Z"),
                3600,
                explicit,
                none.clone()
            ),
            // 24 = UTC−1, time HHMMSS.
            (
                "CP".into(),
                utc("2024-07-10T17:30:05Z"),
                -3600,
                explicit,
                none.clone()
            ),
            (
                "L1".into(),
                utc("2024-07-10T22:30:00Z"),
                0,
                explicit,
                none.clone()
            ),
            // CS is central standard time even in July.
            (
                "AF".into(),
                utc("2024-07-10T23:00:00Z"),
                -6 * 3600,
                named,
                none.clone()
            ),
            (
                "AM".into(),
                utc("2024-07-10T23:00:00Z"),
                0,
                explicit,
                none.clone()
            ),
            // 13 = UTC−12.
            (
                "X3".into(),
                utc("2024-07-11T00:00:00Z"),
                -12 * 3600,
                explicit,
                none.clone()
            ),
            // No time code, MS1 TORONTO ON without a country: Canada.
            (
                "I1".into(),
                utc("2024-07-11T10:00:00Z"),
                -4 * 3600,
                inferred,
                none.clone()
            ),
            // ET is New York time with its DST: EDT in July.
            (
                "P1".into(),
                utc("2024-07-11T13:30:00Z"),
                -4 * 3600,
                named,
                none.clone()
            ),
            // LT, MS1 CHICAGO IL without a country: the US state.
            (
                "X4".into(),
                utc("2024-07-12T03:10:00Z"),
                -5 * 3600,
                inferred,
                none.clone()
            ),
            // Same minute, file order kept.
            (
                "X1".into(),
                utc("2024-07-12T20:00:00Z"),
                -5 * 3600,
                inferred,
                none.clone()
            ),
            (
                "X5".into(),
                utc("2024-07-12T20:00:00Z"),
                -5 * 3600,
                inferred,
                none.clone()
            ),
            // LT without MS1: the consignee's N4 (Dallas) gives the zone, not the location.
            (
                "D1".into(),
                utc("2024-07-12T21:05:00Z"),
                -5 * 3600,
                inferred,
                none.clone()
            ),
        ]
    );
    let d1 = events(&records).last().unwrap().2;
    assert_eq!(d1.location, None);
    let p1 = events(&records)[8].2;
    assert_eq!(
        p1.location.as_ref().unwrap().country_iso2.as_deref(),
        Some("US"),
        "USA is US"
    );
}

#[test]
fn separators_from_the_context_and_the_namespace_from_the_envelope() {
    let payload = fixture("context_separators.edi");
    let ctx = context(&[
        ("element_separator", "|"),
        ("segment_terminator", "\n"),
        ("default_zone", "America/Chicago"),
    ]);
    let parsed = parse_with("estes", &payload, &ctx).unwrap();
    let estes = events(&parsed.records);
    assert_eq!(estes.len(), 2);
    for (tn, id, event) in &estes {
        assert_eq!(*tn, "PRO555");
        assert_eq!(event.offset_source, OffsetSource::AssumedDefault);
        assert_eq!(event.utc_offset_seconds, -6 * 3600);
        let expected = event_id(
            "estes",
            "PRO555",
            &event.carrier_code,
            event.occurred_at,
            &[],
        );
        assert_eq!(*id, expected, "the envelope's carrier is the namespace");
    }
    // Without the default zone, LT with no place is read as UTC, flagged assumed.
    let ctx = context(&[("element_separator", "|"), ("segment_terminator", "\n")]);
    let parsed = parse_with("estes", &payload, &ctx).unwrap();
    let first = events_of(&parsed)[0].clone();
    assert_eq!(
        (first.occurred_at, first.offset_source),
        (utc("2024-03-01T08:15:00Z"), OffsetSource::AssumedDefault)
    );
    // An empty envelope carrier falls back to the format's namespace.
    let ids = |carrier: &str| {
        let parsed = parse_with(
            carrier,
            &fixture("carriers_md_example.edi"),
            &BTreeMap::new(),
        )
        .unwrap();
        events(&parsed.records)
            .iter()
            .map(|(_, id, _)| id.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(""), ids("x12"));
    assert_ne!(ids("abcd"), ids("x12"));
}

fn events_of(parsed: &Parsed) -> Vec<TrackingEvent> {
    events(&parsed.records)
        .into_iter()
        .map(|(_, _, e)| e.clone())
        .collect()
}

#[test]
fn a_transaction_reads_the_same_with_its_envelope_bare_or_with_odd_separators() {
    let enveloped = fixture("carriers_md_example.edi");
    let text = String::from_utf8(enveloped.clone()).unwrap();
    // Bare: ST…SE only, separators read from ST.
    let bare: String = text
        .lines()
        .filter(|l| {
            !["ISA", "GS*", "GE*", "IEA"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect::<Vec<_>>()
        .join("\n");
    // Other separators, all on one line, given by the context.
    let odd = bare.replace('*', "^").replace("~\n", "'").replace('~', "'");
    let reference = parse(&enveloped).unwrap();
    assert_eq!(parse(bare.as_bytes()).unwrap(), reference);
    let ctx = context(&[("element_separator", "^"), ("segment_terminator", "'")]);
    assert_eq!(
        parse_with("x12", odd.as_bytes(), &ctx).unwrap().records,
        reference
    );
    // Context separators win over detection; a wrong one is a typed error, not a guess.
    let wrong = context(&[("element_separator", "|"), ("segment_terminator", "~")]);
    assert!(matches!(
        parse_with("x12", &enveloped, &wrong),
        Err(ParseError::Shape { .. })
    ));
}

#[test]
fn estimates_are_eta_updates_and_not_events() {
    let parsed = parse_with("abcd", &fixture("interchange_multi.edi"), &BTreeMap::new()).unwrap();
    let codes: Vec<(&str, &str)> = events(&parsed.records)
        .into_iter()
        .map(|(tn, _, e)| (tn, e.carrier_code.as_str()))
        .collect();
    assert_eq!(
        codes,
        [("PRO200", "XB"), ("PRO100", "P1"), ("PRO100", "X4")],
        "AG, X2, B6, C1, AA and appointments are no events"
    );
    assert_eq!(
        etas(&parsed.records),
        [
            ("PRO100", utc("2024-01-18T17:00:00Z")),
            ("PRO200", utc("2024-01-17T10:00:00Z")),
            ("PRO200", utc("2024-01-17T11:30:00Z")),
            ("PRO100", utc("2024-01-19T12:00:00Z")),
        ],
        "AG, X2 and the AB delivery appointment, in file order"
    );
    let skipped: Vec<&str> = parsed
        .skipped
        .iter()
        .map(|s| {
            assert!(matches!(s.why, SkipReason::NoStatusChange { .. }));
            s.carrier_code.as_str()
        })
        .collect();
    assert_eq!(skipped, ["AG", "B6", "C1", "X2", "AA", "AB", "AA", "AG"]);
}

#[test]
fn an_interchange_splits_into_standalone_pieces_per_shipment() {
    let payload = fixture("interchange_multi.edi");
    let splits = X12Status.split(&payload).unwrap();
    let numbers: Vec<&str> = splits.iter().map(|s| s.tracking_number.as_str()).collect();
    assert_eq!(
        numbers,
        ["PRO100", "PRO200"],
        "two transactions of PRO100 stay together"
    );
    let piece = String::from_utf8(splits[0].payload.clone()).unwrap();
    let ids: Vec<&str> = piece
        .lines()
        .map(|l| l.split('*').next().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "ISA", "GS", "ST", "B10", "N1", "N4", "LX", "AT7", "LX", "AT7", "MS1", "LX", "AT7",
            "AT7", "SE", "GE", "IEA", "ISA", "GS", "ST", "B10", "N1", "N4", "LX", "AT7", "LX",
            "AT7", "MS1", "SE", "GE", "IEA"
        ],
        "each transaction keeps its own ISA/GS envelope"
    );
    assert!(
        piece.contains("GE*1*900~")
            && piece.contains("GE*1*901~")
            && piece.contains("IEA*1*000000900~")
    );
    let whole = parse_with("abcd", &payload, &BTreeMap::new()).unwrap();
    let mut from_pieces = Vec::new();
    let mut skipped = Vec::new();
    for split in &splits {
        let part = parse_with("abcd", &split.payload, &BTreeMap::new()).unwrap();
        assert!(part
            .records
            .iter()
            .all(|r| r.tracking_number() == split.tracking_number));
        from_pieces.extend(part.records.iter().map(|r| format!("{r:?}")));
        skipped.extend(part.skipped.iter().map(|s| format!("{s:?}")));
    }
    let mut expected: Vec<String> = whole.records.iter().map(|r| format!("{r:?}")).collect();
    expected.sort();
    from_pieces.sort();
    assert_eq!(expected, from_pieces);
    let mut whole_skipped: Vec<String> = whole.skipped.iter().map(|s| format!("{s:?}")).collect();
    whole_skipped.sort();
    skipped.sort();
    assert_eq!(whole_skipped, skipped);
    // One shipment: the bytes themselves.
    let single = fixture("carriers_md_example.edi");
    let splits = X12Status.split(&single).unwrap();
    assert_eq!(splits.len(), 1);
    assert_eq!(
        (splits[0].tracking_number.as_str(), &splits[0].payload),
        ("PRO123456", &single)
    );
    // A bare transaction splits too (separators from ST).
    let bare = X12Status.split(&fixture("bare_crlf.edi")).unwrap();
    assert_eq!(bare[0].tracking_number, "PRO777");
}

#[test]
fn reasons_decide_between_attempt_and_return() {
    let records = parse(&fixture("bare_crlf.edi")).unwrap();
    let summary: Vec<ReasonRow> = events(&records)
        .into_iter()
        .map(|(_, _, e)| {
            (
                e.carrier_code.as_str(),
                e.carrier_sub_code.as_deref(),
                e.status,
                classification(e),
                e.occurred_at,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "X6",
                Some("NS"),
                Status::InTransit,
                "in_transit/in_transit/en_route_to_delivery_location".into(),
                utc("2024-06-01T14:00:00Z")
            ),
            (
                "AH",
                Some("A1"),
                Status::FailedAttempt,
                "delivery/attempt/recipient_unavailable".into(),
                utc("2024-06-01T18:30:00Z")
            ),
            (
                "AH",
                Some("BT"),
                Status::ReturnedToSender,
                "return_to_sender/returned_to_sender/".into(),
                utc("2024-06-02T16:00:00Z")
            ),
        ]
    );
}

#[test]
fn every_row_of_the_mapping_is_what_carriers_md_says() {
    let parsed = parse_with("x12", &fixture("every_code.edi"), &BTreeMap::new()).unwrap();
    let status = |code: &str, reason: &str| {
        events(&parsed.records)
            .into_iter()
            .find(|(_, _, e)| {
                e.carrier_code == code && e.carrier_sub_code.as_deref() == Some(reason)
            })
            .map(|(_, _, e)| (e.status, e.flags.clone()))
            .unwrap_or_else(|| panic!("{code} {reason}"))
    };
    use Status::*;
    for (code, expected) in [
        ("XB", InfoReceived),
        ("AF", InTransit),
        ("P1", InTransit),
        ("X4", InTransit),
        ("I1", InTransit),
        ("OA", InTransit),
        ("R1", InTransit),
        ("J1", InTransit),
        ("BA", InTransit),
        ("AM", InTransit),
        ("CP", InTransit),
        ("L1", InTransit),
        ("CL", InTransit),
        ("K1", InTransit),
        ("AR", InTransit),
        ("RL", InTransit),
        ("X3", InTransit),
        ("X8", InTransit),
        ("X6", InTransit),
        ("AV", InTransit),
        ("AJ", OutForDelivery),
        ("X1", OutForDelivery),
        ("X5", OutForDelivery),
        ("S1", OutForDelivery),
        ("AH", FailedAttempt),
        ("AP", FailedAttempt),
        ("D1", Delivered),
        ("CD", Delivered),
        ("A3", ReturnedToSender),
        ("A7", Exception),
        ("A9", Exception),
        ("SD", Exception),
        ("PR", Exception),
        ("CA", Exception),
        ("OO", Exception),
        ("ZZ", Unknown),
    ] {
        assert_eq!(status(code, "NS").0, expected, "{code}");
    }
    for code in [
        "AF", "P1", "X4", "X6", "X1", "AH", "AP", "D1", "CD", "A7", "SD",
    ] {
        assert_eq!(
            status(code, "BT").0,
            ReturnedToSender,
            "{code} with reason BT"
        );
    }
    assert_eq!(status("X4", "AA"), (InTransit, vec!["missort".to_string()]));
    let no_change: Vec<&str> = parsed
        .skipped
        .iter()
        .map(|s| s.carrier_code.as_str())
        .collect();
    assert_eq!(no_change, ["AA", "AB", "AG", "X2", "B6", "C1", "AA", "C1"]);
}
