//! Malformed payloads: each is a typed, poison error with a reason naming what is wrong.

use gluey_carriers::royalmail::RoyalMailV2;
use gluey_carriers::{CarrierFormat, ParseError};

use super::{fixture, parse};

fn shape_reason(result: Result<impl std::fmt::Debug, ParseError>) -> String {
    match result {
        Err(ParseError::Shape { format, reason }) => {
            assert_eq!(format, "royalmail.v2");
            reason
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
}

#[test]
fn malformed_payloads_are_typed_errors() {
    for bad in [&b"not json"[..], b"", b"{\"mailPieces\":", b"\xff\xfe"] {
        assert!(
            matches!(parse(bad), Err(ParseError::InvalidJson(_))),
            "{bad:?}"
        );
        assert!(matches!(
            RoyalMailV2.split(bad),
            Err(ParseError::InvalidJson(_))
        ));
    }
    let cases: [(&str, &str); 13] = [
        ("[]", "expected a json object with mailPieces"),
        ("{}", "expected a json object with mailPieces"),
        (
            r#"{"mailPieces":"RM1"}"#,
            "mailPieces is not an object or an array",
        ),
        (r#"{"mailPieces":[1]}"#, "mailPieces[0] is not an object"),
        (
            r#"{"mailPieces":[{"summary":{}}]}"#,
            "mailPieces[0] has no mailPieceId",
        ),
        (
            r#"{"mailPieces":{"mailPieceId":"1","error":"E1142"}}"#,
            "mailPieces.error is not an object",
        ),
        (
            r#"{"mailPieces":{"mailPieceId":"1","events":{}}}"#,
            "mailPieces.events is not an array",
        ),
        (
            r#"{"mailPieces":{"mailPieceId":"1","events":[null]}}"#,
            "mailPieces.events[0] is not an object",
        ),
        (
            r#"{"mailPieces":{"mailPieceId":"1","events":[{"eventDateTime":"2024-01-01T00:00:00Z"}]}}"#,
            "mailPieces.events[0] has no eventCode",
        ),
        (
            r#"{"mailPieces":{"mailPieceId":"1","events":[{"eventCode":"EVKSP"}]}}"#,
            "mailPieces.events[0] has no eventDateTime",
        ),
        (
            r#"{"mailPieces":[{"mailPieceId":"1","summary":{"lastEventCode":"EVKSP"}}]}"#,
            "mailPieces[0].summary has no lastEventDateTime",
        ),
        (
            r#"{"mailPieces":[{"mailPieceId":"1","summary":[]}]}"#,
            "mailPieces[0].summary is not an object",
        ),
        (
            r#"{"httpCode":429,"httpMessage":"Too Many Requests","moreInformation":"Rate limit exceeded"}"#,
            "royal mail error response (Rate limit exceeded)",
        ),
    ];
    for (payload, expected) in cases {
        let reason = shape_reason(parse(payload.as_bytes()));
        assert!(
            reason.contains(expected),
            "{payload}: {reason:?} should contain {expected:?}"
        );
    }
    assert!(shape_reason(parse(&fixture("error_response.json")))
        .contains("error response (E0004: Failed header validation for X-Accept-RMG-Terms)"));

    let event = |time: &str| {
        format!(
            r#"{{"mailPieces":{{"mailPieceId":"1","events":[{{"eventCode":"EVKSP","eventDateTime":"{time}"}}]}}}}"#
        )
    };
    let bad_time = parse(event("28-03-2024 13:02").as_bytes());
    assert!(
        matches!(bad_time, Err(ParseError::Timestamp { ref value, .. }) if value == "28-03-2024 13:02"),
        "{bad_time:?}"
    );
    for estimate in [
        r#"{"date":"2024-03-28","endOfEstimatedWindow":"two o'clock"}"#,
        r#"{"date":"28/03/2024","endOfEstimatedWindow":"14:00:00+00:00"}"#,
        r#"{"endOfEstimatedWindow":"14:00:00+00:00"}"#,
        r#"{"date":"soon"}"#,
    ] {
        let payload =
            format!(r#"{{"mailPieces":{{"mailPieceId":"1","estimatedDelivery":{estimate}}}}}"#);
        let result = parse(payload.as_bytes());
        assert!(
            matches!(result, Err(ParseError::Timestamp { .. })),
            "{estimate}: {result:?}"
        );
    }

    assert_eq!(parse(br#"{"mailPieces":[]}"#).unwrap(), []);
    let no_last_event =
        br#"{"mailPieces":[{"mailPieceId":"1","summary":{"lastEventCode":null,"lastEventDateTime":null}}]}"#;
    assert_eq!(
        parse(no_last_event).unwrap(),
        [],
        "no last event yet: nothing to say"
    );
    let time_without_code =
        br#"{"mailPieces":[{"mailPieceId":"1","summary":{"lastEventDateTime":"2024-01-01T00:00:00Z"}}]}"#;
    assert!(shape_reason(parse(time_without_code)).contains("summary has no lastEventCode"));
    assert!(
        shape_reason(RoyalMailV2.split(br#"{"mailPieces":[]}"#)).contains("names no mail piece id")
    );
    assert!(shape_reason(RoyalMailV2.split(&fixture("error_response.json"))).contains("E0004"));
}
