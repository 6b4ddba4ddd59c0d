//! Malformed files and lines: each is a typed, poison error with a reason naming the line.

use std::collections::BTreeMap;

use gluey_carriers::csv_feed::CsvFeed;
use gluey_carriers::{CarrierFormat, ParseError};

use super::{fixture, parse_file, parse_with};

fn shape_reason(result: Result<impl std::fmt::Debug, ParseError>) -> String {
    match result {
        Err(ParseError::Shape { format, reason }) => {
            assert_eq!(format, "csv.feed");
            reason
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
}

const HEADER: &str = "record_type,tracking_number,event_code,event_description,event_date,event_time,event_tz,eta_date,eta_window";

fn line(text: &str) -> Result<gluey_carriers::Parsed, ParseError> {
    let context = BTreeMap::from([
        ("header".to_string(), HEADER.to_string()),
        ("file".to_string(), "f.csv".to_string()),
        ("line".to_string(), "12".to_string()),
    ]);
    parse_with("dpd", text.as_bytes(), &context)
}

#[test]
fn malformed_lines_are_typed_errors_naming_the_line() {
    for (text, expected) in [
        (
            "X,155,001,,03/06/2024,10:00,,,",
            "file f.csv line 12: record_type \"X\" is not H, E or T",
        ),
        (
            "E,,001,,03/06/2024,10:00,,,",
            "file f.csv line 12: tracking_number is empty",
        ),
        (
            "E,155,001,\"unclosed,03/06/2024,10:00,,,",
            "file f.csv line 12: a quoted field is not closed",
        ),
        (
            "E,155,001,a,b,03/06/2024,10:00,,,12:10-13:10",
            "file f.csv line 12: 10 fields, the header has 9",
        ),
    ] {
        let reason = shape_reason(line(text));
        assert!(reason.contains(expected), "{text}: {reason:?}");
    }
    for (text, value, expected) in [
        (
            "E,155,001,,06/13/2024,10:00,,,",
            "06/13/2024",
            "event_date is not dd/MM/yyyy",
        ),
        (
            "E,155,001,,2024/13/06,10:00,,,",
            "2024/13/06",
            "event_date is not dd/MM/yyyy",
        ),
        (
            "E,155,001,,03/06/2024,,,,",
            "03/06/2024",
            "event_time is empty",
        ),
        (
            "E,155,001,,03/06/2024,7h52,,,",
            "7h52",
            "event_time is not hh:mm[:ss]",
        ),
        (
            "E,155,001,,03/06/2024,07:52,Mars/Base,,",
            "Mars/Base",
            "event_tz is not an offset",
        ),
        (
            "E,155,001,,03/06/2024,07:52,,32/06/2024,",
            "32/06/2024",
            "eta_date is not dd/MM/yyyy",
        ),
        (
            "E,155,001,,03/06/2024,07:52,,,12:10-noon",
            "12:10-noon",
            "eta_window is not hh:mm-hh:mm",
        ),
    ] {
        match line(text) {
            Err(ParseError::Timestamp { value: v, reason }) => {
                assert_eq!(v, value, "{text}");
                assert!(
                    reason.contains(expected) && reason.contains("line 12"),
                    "{text}: {reason:?}"
                );
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    // Extra fields that are empty (a trailing delimiter) are fine; fewer fields are empty ones.
    assert_eq!(
        line("E,155,001,,03/06/2024,10:00,,,,")
            .unwrap()
            .records
            .len(),
        1
    );
    assert_eq!(
        line("E,155,001,,03/06/2024,10:00").unwrap().records.len(),
        1
    );
    // Blank lines carry nothing.
    assert_eq!(line("\r").unwrap(), gluey_carriers::Parsed::default());
}

#[test]
fn malformed_files_and_contexts_are_typed_errors() {
    assert!(shape_reason(parse_file("dpd", b"")).contains("no header line"));
    assert!(shape_reason(parse_file("dpd", b"a,b\n1,2\n"))
        .contains("the header has no tracking_number column"));
    assert!(shape_reason(parse_file("dpd", b"tracking_number,x\n1,2\n"))
        .contains("the header has no event_date column"));
    let with = |key: &str, value: &str| BTreeMap::from([(key.to_string(), value.to_string())]);
    let file = fixture("dpd_file.csv");
    for (key, value, expected) in [
        (
            "encoding",
            "latin-9",
            "context encoding \"latin-9\" is not utf-8 or windows-1252",
        ),
        (
            "delimiter",
            ":",
            "context delimiter \":\" is not one of , ; | tab",
        ),
        (
            "default_zone",
            "Europe/Atlantis",
            "context default_zone \"Europe/Atlantis\" is not an iana zone",
        ),
    ] {
        let reason = shape_reason(parse_with("dpd", &file, &with(key, value)));
        assert!(reason.contains(expected), "{key}: {reason:?}");
    }
    let refused = parse_file("dpd", &fixture("us_date_refused.csv"));
    assert!(
        matches!(refused, Err(ParseError::Timestamp { ref value, .. }) if value == "06/13/2024")
    );
    for empty in [&b""[..], b"\r\n\r\n", b"\xEF\xBB\xBF"] {
        assert!(
            shape_reason(CsvFeed.split(empty)).contains("the file is empty"),
            "{empty:?}"
        );
    }
    assert!(shape_reason(CsvFeed.split(b"a,b\n1,2\n")).contains("no tracking_number column"));
    assert!(
        shape_reason(CsvFeed.split(b"tracking_number,event_date\n,03/06/2024\n"))
            .contains("line 2: tracking_number is empty")
    );
}
