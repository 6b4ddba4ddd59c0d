//! Malformed payloads: each is a typed, poison error with a reason naming what is wrong.

use gluey_carriers::fedex::FedexAiv;
use gluey_carriers::{CarrierFormat, ParseError};

use super::parse;

fn shape_reason(result: Result<impl std::fmt::Debug, ParseError>) -> String {
    match result {
        Err(ParseError::Shape { format, reason }) => {
            assert_eq!(format, "fedex.aiv");
            reason
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
}

#[test]
fn malformed_payloads_are_typed_errors() {
    for bad in [
        &b"not json"[..],
        b"",
        b"{\"trackingNumberInfo\":",
        b"\xff\xfe",
    ] {
        assert!(
            matches!(parse(bad), Err(ParseError::InvalidJson(_))),
            "{bad:?}"
        );
        assert!(
            matches!(FedexAiv.split(bad), Err(ParseError::InvalidJson(_))),
            "{bad:?}"
        );
    }
    let cases: [(&str, &str); 9] = [
        ("42", "expected a json object or array"),
        ("{}", "expected a trackResult object"),
        (r#"{"output":{}}"#, "output.completeTrackResults is missing"),
        (
            r#"{"output":{"completeTrackResults":[{"trackingNumber":"1"}]}}"#,
            "completeTrackResults[0].trackResults is missing",
        ),
        (r#"[1]"#, "[0] is not an object"),
        (
            r#"{"trackingNumberInfo":{}}"#,
            "trackResult has no trackingNumberInfo.trackingNumber",
        ),
        (r#"{"trackResults":{}}"#, "trackResults is not an array"),
        (
            r#"{"transactionId":"x","errors":[{"code":"NOT.AUTHORIZED.ERROR","message":"no"}]}"#,
            "fedex error response (NOT.AUTHORIZED.ERROR)",
        ),
        (
            r#"{"trackingNumberInfo":{"trackingNumber":"1"},"scanEvents":{}}"#,
            "trackResult.scanEvents is not an array",
        ),
    ];
    for (payload, expected) in cases {
        let reason = shape_reason(parse(payload.as_bytes()));
        assert!(
            reason.contains(expected),
            "{payload}: {reason:?} should contain {expected:?}"
        );
    }
    let scan = |fields: &str| {
        format!(r#"{{"trackingNumberInfo":{{"trackingNumber":"1"}},"scanEvents":[{fields}]}}"#)
    };
    assert!(
        shape_reason(parse(scan(r#"{"eventType":"DL"}"#).as_bytes()))
            .contains("scanEvents[0] has no date")
    );
    assert!(
        shape_reason(parse(scan(r#"{"date":"2024-01-01T00:00:00Z"}"#).as_bytes()))
            .contains("has no eventType")
    );
    assert!(shape_reason(parse(scan("7").as_bytes())).contains("scanEvents[0] is not an object"));
    let bad_date = parse(scan(r#"{"date":"26/04/2024 10:02","eventType":"DL"}"#).as_bytes());
    assert!(
        matches!(bad_date, Err(ParseError::Timestamp { ref value, .. }) if value == "26/04/2024 10:02"),
        "{bad_date:?}"
    );
    let bad_eta = r#"{"trackingNumberInfo":{"trackingNumber":"1"},"dateAndTimes":[{"type":"ESTIMATED_DELIVERY","dateTime":"soon"}]}"#;
    assert!(matches!(
        parse(bad_eta.as_bytes()),
        Err(ParseError::Timestamp { .. })
    ));

    assert_eq!(parse(b"[]").unwrap(), []);
    assert!(shape_reason(FedexAiv.split(b"[]")).contains("no tracking number"));
    let no_scans =
        br#"{"trackingNumberInfo":{"trackingNumber":"1"},"latestStatusDetail":{"code":"IT"}}"#;
    assert_eq!(parse(no_scans).unwrap(), [], "no scanEvents, no events");
}
