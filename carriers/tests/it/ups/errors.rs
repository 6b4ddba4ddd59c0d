//! Malformed payloads: each is a typed, poison error whose reason names what is wrong and where.

use gluey_carriers::ups::{UpsAlert, UpsTrack};
use gluey_carriers::{CarrierFormat, ParseError};

use super::{alert, track};

fn shape_reason(expected_format: &str, result: Result<impl std::fmt::Debug, ParseError>) -> String {
    match result {
        Err(ParseError::Shape { format, reason }) => {
            assert_eq!(format, expected_format);
            reason
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
}

fn timestamp_reason(result: Result<impl std::fmt::Debug, ParseError>) -> (String, String) {
    match result {
        Err(ParseError::Timestamp { value, reason }) => (value, reason),
        other => panic!("expected a timestamp error, got {other:?}"),
    }
}

#[test]
fn bytes_that_are_not_json_are_invalid_json_for_both_formats() {
    for bad in [&b"not json"[..], b"", b"{\"trackResponse\":", b"\xff\xfe"] {
        assert!(matches!(track(bad), Err(ParseError::InvalidJson(_))));
        assert!(matches!(alert(bad), Err(ParseError::InvalidJson(_))));
        assert!(matches!(
            UpsTrack.split(bad),
            Err(ParseError::InvalidJson(_))
        ));
        assert!(matches!(
            UpsAlert.split(bad),
            Err(ParseError::InvalidJson(_))
        ));
    }
}

/// A Track API response with one activity made of `fields`.
fn activity(fields: &str) -> String {
    format!(
        r#"{{"trackResponse":{{"shipment":[{{"package":[{{"trackingNumber":"1Z1","activity":[{fields}]}}]}}]}}}}"#
    )
}

const STATUS: &str = r#""status":{"type":"I","code":"AR","statusCode":"005"}"#;

#[test]
fn malformed_track_responses_name_the_path() {
    let p = "trackResponse.shipment[0].package[0]";
    let cases: Vec<(String, String)> = vec![
        ("42".into(), "expected a json object".into()),
        ("{}".into(), "expected a track api response".into()),
        (
            r#"{"response":{"errors":[{"code":"TV1002","message":"Invalid inquiry number"}]}}"#
                .into(),
            "ups error response (TV1002)".into(),
        ),
        (
            r#"{"trackResponse":{}}"#.into(),
            "trackResponse.shipment is missing".into(),
        ),
        (
            r#"{"trackResponse":{"shipment":[7]}}"#.into(),
            "trackResponse.shipment[0] is not an object".into(),
        ),
        (
            r#"{"trackResponse":{"shipment":[{"package":{}}]}}"#.into(),
            "trackResponse.shipment[0].package is not an array".into(),
        ),
        (
            r#"{"trackResponse":{"shipment":[{"package":[{}]}]}}"#.into(),
            format!("{p} has no trackingNumber"),
        ),
        (
            r#"{"trackResponse":{"shipment":[{"warnings":[1]}]}}"#.into(),
            "trackResponse.shipment[0].warnings[0] is not an object".into(),
        ),
        (
            r#"{"trackResponse":{"shipment":[{"package":[{"trackingNumber":"1","activity":{}}]}]}}"#
                .into(),
            format!("{p}.activity is not an array"),
        ),
        (activity("7"), format!("{p}.activity[0] is not an object")),
        (
            activity(r#"{"gmtDate":"20240101","gmtTime":"1"}"#),
            format!("{p}.activity[0] has no status"),
        ),
        (
            activity(r#"{"gmtDate":"20240101","gmtTime":"1","status":{"type":"I"}}"#),
            format!("{p}.activity[0] has neither a status code nor an activity code"),
        ),
        (
            activity(&format!(r#"{{"date":"20240101",{STATUS}}}"#)),
            format!("{p}.activity[0] has no date and time"),
        ),
    ];
    for (payload, expected) in cases {
        let reason = shape_reason("ups.track", track(payload.as_bytes()));
        assert!(
            reason.contains(&expected),
            "{payload}: {reason:?} should contain {expected:?}"
        );
    }
    for (fields, value, named) in [
        (
            r#""gmtDate":"20240101","gmtTime":"1","gmtOffset":"EST""#,
            "EST",
            "activity[0].gmtOffset",
        ),
        (
            r#""gmtDate":"20240101","gmtTime":"7:47","gmtOffset":"-05:00""#,
            "7:47",
            "activity[0].gmtTime",
        ),
        (
            r#""gmtDate":"2024-01-01","gmtTime":"1""#,
            "2024-01-01",
            "activity[0].gmtDate",
        ),
        (
            r#""date":"20240131","time":"250000""#,
            "250000",
            "activity[0].time",
        ),
        (
            r#""date":"20240102","time":"1","gmtDate":"20240101","gmtTime":"1""#,
            "2024-01-02 00:00:01",
            "18 hours apart",
        ),
    ] {
        let (got_value, reason) = timestamp_reason(track(
            activity(&format!("{{{fields},{STATUS}}}")).as_bytes(),
        ));
        assert_eq!(got_value, value);
        assert!(reason.contains(named), "{reason:?} names {named:?}");
    }
    let bad_eta = r#"{"trackResponse":{"shipment":[{"package":[{"trackingNumber":"1",
        "deliveryDate":[{"type":"SDD","date":"tomorrow"}]}]}]}}"#;
    let (value, reason) = timestamp_reason(track(bad_eta.as_bytes()));
    assert_eq!(value, "tomorrow");
    assert!(reason.contains("deliveryDate"));

    assert_eq!(track(br#"{"trackResponse":{"shipment":[]}}"#).unwrap(), []);
    assert!(shape_reason(
        "ups.track",
        UpsTrack.split(br#"{"trackResponse":{"shipment":[]}}"#)
    )
    .contains("names no tracking number"));
}

#[test]
fn malformed_pushes_say_what_they_are() {
    let cases = [
        ("42", "expected a json object or array"),
        ("{}", "expected a track alert event"),
        ("[1]", "[0] is not an object"),
        (
            r#"{"validTrackingNumbers":["1Z1"]}"#,
            "subscription response",
        ),
        (
            r#"{"response":{"errors":[{"code":"UJ0001","message":"Invalid token"}]}}"#,
            "ups error response (UJ0001)",
        ),
        (r#"{"trackingNumber":"  "}"#, "event has no trackingNumber"),
        (r#"{"trackingNumber":"1Z1"}"#, "event has no activityStatus"),
        (
            r#"{"trackingNumber":"1Z1","activityStatus":{"type":"D","description":"Delivered"},"gmtActivityDate":"20240101","gmtActivityTime":"1"}"#,
            "event has neither a status code nor an activity code",
        ),
        (
            r#"{"trackingNumber":"1Z1","activityStatus":{"descriptionCode":"011"},"localActivityDate":"","localActivityTime":""}"#,
            "event has no date and time",
        ),
    ];
    for (payload, expected) in cases {
        let reason = shape_reason("ups.alert", alert(payload.as_bytes()));
        assert!(
            reason.contains(expected),
            "{payload}: {reason:?} should contain {expected:?}"
        );
    }
    let bad_offset = r#"{"trackingNumber":"1Z1","activityStatus":{"descriptionCode":"011"},
        "gmtActivityDate":"20240101","gmtActivityTime":"120000","gmtOffset":"-4.0"}"#;
    let (value, reason) = timestamp_reason(alert(bad_offset.as_bytes()));
    assert_eq!(value, "-4.0");
    assert!(reason.contains("event.gmtOffset"), "{reason}");
    assert_eq!(alert(b"[]").unwrap(), []);
    assert!(shape_reason("ups.alert", UpsAlert.split(b"[]")).contains("names no tracking number"));
}
