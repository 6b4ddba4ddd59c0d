//! Malformed payloads: each is a typed, poison error with a reason naming what is wrong.

use gluey_carriers::usps::UspsV3;
use gluey_carriers::{CarrierFormat, ParseError};

use super::parse;

fn shape_reason(result: Result<impl std::fmt::Debug, ParseError>) -> String {
    match result {
        Err(ParseError::Shape { format, reason }) => {
            assert_eq!(format, "usps.v3");
            reason
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
}

#[test]
fn malformed_payloads_are_typed_errors() {
    for bad in [&b"not json"[..], b"", b"{\"trackingNumber\":", b"\xff\xfe"] {
        assert!(
            matches!(parse(bad), Err(ParseError::InvalidJson(_))),
            "{bad:?}"
        );
        assert!(
            matches!(UspsV3.split(bad), Err(ParseError::InvalidJson(_))),
            "{bad:?}"
        );
    }
    let item = |events: &str| format!(r#"{{"trackingNumber":"9400","trackingEvents":{events}}}"#);
    let cases: Vec<(String, &str)> = vec![
        ("42".into(), "expected a json object or array"),
        ("{}".into(), "response has no trackingNumber"),
        ("[7]".into(), "[0] is not an object"),
        ("[{}]".into(), "[0] has no trackingNumber"),
        (
            r#"{"apiVersion":"v3","error":{"code":"401","message":"unauthorized"}}"#.into(),
            "usps error response (401: unauthorized)",
        ),
        (item("{}"), "response.trackingEvents is not an array"),
        (item("[1]"), "trackingEvents[0] is not an object"),
        (
            item(r#"[{"eventCode":"01"}]"#),
            "trackingEvents[0] has neither eventTimestamp nor GMTTimestamp",
        ),
        (
            item(r#"[{"eventCode":["01"],"eventTimestamp":"2024-01-01T00:00:00"}]"#),
            "trackingEvents[0].eventCode is not a string",
        ),
        (
            item(r#"[{"eventCode":"01","eventTimestamp":5}]"#),
            "trackingEvents[0].eventTimestamp is not a string",
        ),
        (
            r#"{"trackingNumber":"9400","eventSummaries":["Delivered, 06/17/2022"]}"#.into(),
            "expand=DETAIL",
        ),
    ];
    for (payload, expected) in cases {
        let reason = shape_reason(parse(payload.as_bytes()));
        assert!(
            reason.contains(expected),
            "{payload}: {reason:?} should contain {expected:?}"
        );
    }
    for (fields, value) in [
        (r#""eventTimestamp":"22/11/2024 13:58""#, "22/11/2024 13:58"),
        (r#""GMTTimestamp":"yesterday""#, "yesterday"),
        (
            r#""GMTTimestamp":"2024-11-22T21:58:40Z","GMTOffset":"PST""#,
            "PST",
        ),
    ] {
        let payload = item(&format!(r#"[{{"eventCode":"01",{fields}}}]"#));
        let result = parse(payload.as_bytes());
        assert!(
            matches!(result, Err(ParseError::Timestamp { value: ref v, .. }) if v == value),
            "{payload}: {result:?}"
        );
    }
    let bad_eta = r#"{"trackingNumber":"9400","predictedDeliveryDate":"2024-03-12","predictedDeliveryWindowEndTime":"dusk"}"#;
    assert!(matches!(
        parse(bad_eta.as_bytes()),
        Err(ParseError::Timestamp { .. })
    ));
    assert_eq!(parse(b"[]").unwrap(), []);
    assert!(shape_reason(UspsV3.split(b"[]")).contains("no tracking number"));
    assert!(
        shape_reason(UspsV3.split(br#"[{"error":{"code":"400"}}]"#)).contains("no tracking number")
    );
    assert_eq!(
        parse(br#"{"trackingNumber":"9400","status":"Label Created"}"#).unwrap(),
        [],
        "no trackingEvents, no events"
    );
}
