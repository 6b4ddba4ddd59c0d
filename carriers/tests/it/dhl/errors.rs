//! Malformed payloads: each is a typed, poison error with a reason naming what is wrong, and the
//! format it was read as.

use gluey_carriers::dhl::{DhlPush, DhlUnified};
use gluey_carriers::{CarrierFormat, ParseError};

use super::parse_with;

fn shape_reason(
    format: &dyn CarrierFormat,
    result: Result<impl std::fmt::Debug, ParseError>,
) -> String {
    match result {
        Err(ParseError::Shape {
            format: named,
            reason,
        }) => {
            assert_eq!(named, format.name(), "the error names the format");
            reason
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
}

#[test]
fn malformed_payloads_are_typed_errors_naming_the_format() {
    let formats: [&dyn CarrierFormat; 2] = [&DhlUnified, &DhlPush];
    for format in formats {
        let parse = |payload: &str| parse_with(format, payload.as_bytes(), &[]);
        for bad in [&b"not json"[..], b"", b"{\"shipments\":", b"\xff\xfe"] {
            assert!(
                matches!(
                    parse_with(format, bad, &[]),
                    Err(ParseError::InvalidJson(_))
                ),
                "{bad:?}"
            );
            assert!(matches!(format.split(bad), Err(ParseError::InvalidJson(_))));
        }
        let cases: [(&str, &str); 12] = [
            ("42", "expected a json object or array"),
            ("{}", "expected a unified response with shipments"),
            (r#"{"shipments":{}}"#, "shipments is not an array"),
            (r#"{"shipments":[7]}"#, "shipments[0] is not an object"),
            (
                r#"{"shipments":[{"service":"express"}]}"#,
                "shipments[0] has no id",
            ),
            (r#"{"id":"  "}"#, "shipment has no id"),
            (r#"[{"id":1}]"#, "[0] has no id"),
            (
                r#"{"title":"Too Many Requests","status":429,"detail":"Too many requests within defined time period, please try again later."}"#,
                "dhl problem response (429 Too Many Requests: Too many requests",
            ),
            (
                r#"{"id":"1","events":{}}"#,
                "shipment.events is not an array",
            ),
            (
                r#"{"id":"1","events":[1]}"#,
                "shipment.events[0] is not an object",
            ),
            (
                r#"{"id":"1","events":[{"timestamp":"2024-01-01T00:00:00Z"}]}"#,
                "shipment.events[0] has no statusCode",
            ),
            (
                r#"{"id":"1","status":{"statusCode":"transit"}}"#,
                "shipment.status has no timestamp",
            ),
        ];
        for (payload, expected) in cases {
            let reason = shape_reason(format, parse(payload));
            assert!(
                reason.contains(expected),
                "{payload}: {reason:?} should contain {expected:?}"
            );
        }
        let bad_time = parse(
            r#"{"id":"1","events":[{"timestamp":"14.05.2024 10:41","statusCode":"transit"}]}"#,
        );
        assert!(
            matches!(bad_time, Err(ParseError::Timestamp { ref value, .. }) if value == "14.05.2024 10:41"),
            "{bad_time:?}"
        );
        let bad_eta = parse(r#"{"id":"1","estimatedTimeOfDelivery":"tomorrow"}"#);
        assert!(
            matches!(bad_eta, Err(ParseError::Timestamp { .. })),
            "{bad_eta:?}"
        );

        // Empty but well-formed: nothing to say, and nothing to split.
        assert_eq!(parse(r#"{"shipments":[]}"#).unwrap().records, []);
        assert!(shape_reason(format, format.split(b"[]")).contains("names no shipment"));
        let no_events = parse(r#"{"id":"1","service":"express"}"#).unwrap();
        assert!(no_events.records.is_empty() && no_events.skipped.is_empty());
    }
}
