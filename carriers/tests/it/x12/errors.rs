//! Malformed 214s: each is a typed, poison error with a reason naming what is wrong.

use std::collections::BTreeMap;

use gluey_carriers::x12::X12Status;
use gluey_carriers::{CarrierFormat, ParseError};

use super::{parse, parse_with};

fn shape_reason(result: Result<impl std::fmt::Debug, ParseError>) -> String {
    match result {
        Err(ParseError::Shape { format, reason }) => {
            assert_eq!(format, "x12.214");
            reason
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
}

/// A bare transaction with the right SE count.
fn tx(body: &[&str]) -> String {
    let mut segments = vec!["ST*214*0001".to_string()];
    segments.extend(body.iter().map(|s| s.to_string()));
    segments.push(format!("SE*{}*0001", segments.len() + 1));
    segments.iter().map(|s| format!("{s}~\n")).collect()
}

#[test]
fn malformed_transactions_are_typed_errors() {
    let cases: Vec<(String, &str)> = vec![
        ("".into(), "starts with neither ISA, GS nor ST"),
        ("hello".into(), "starts with neither ISA, GS nor ST"),
        ("ISA*00*  *00".into(), "ISA segment is truncated"),
        (
            "ST*214*0001~B10*PRO1**X~".into(),
            "transaction 0001 has no SE segment",
        ),
        (
            "ST*214*0001~B10*PRO1~ST*214*0002~SE*2*0002~".into(),
            "transaction 0001 has no SE before the next ST",
        ),
        (
            "ST*997*0001~SE*2*0001~".into(),
            "transaction 0001 is a \"997\" (ST01), not a 214",
        ),
        (
            "ST*214*0001~B10*PRO1~SE*9*0001~".into(),
            "SE01 says \"9\" segments, ST through SE has 3",
        ),
        (
            "ST*214*0001~B10*PRO1~SE*3*0002~".into(),
            "SE02 \"0002\" does not match ST02",
        ),
        (
            "ST*214*0001~SE*2*0001~XYZ*1~".into(),
            "segment \"XYZ\" is outside an ST…SE transaction",
        ),
        ("GS*QM*A*B~GE*0*1~".into(), "no ST…SE transaction"),
        (
            "ISA*00*          *00*          *02*ABCD           *ZZ*US             *240116*1432*U*00401*000000123*0*P*>~ISA*00*x~".into(),
            "ISA segment has 2 elements, not 16",
        ),
        (
            "ISA*00*          *00*          *02*ABCD           *ZZ*US             *240116*1432*U*00401*000000123*0*P*>~ISA*00*          *00*          *02*ABCD           *ZZ*US             *240116*1432*U*00401*000000123*0*P*~".into(),
            "ISA16 (sub-element separator) is not one character",
        ),
        (tx(&["LX*1"]), "transaction 0001 has no B10 segment"),
        (tx(&["B10**"]), "B10 has neither B10-01 nor B10-02"),
        (
            tx(&["B10*PRO1", "LX*1", "AT7**NS"]),
            "LX 1: AT7 has neither a status (AT7-01) nor an appointment status",
        ),
        (
            tx(&["B10*PRO1", "LX*1", "AT7*D1*NS***20240116"]),
            "AT7 D1 has no date (AT7-05) or time (AT7-06)",
        ),
    ];
    for (payload, expected) in cases {
        let reason = shape_reason(parse(payload.as_bytes()));
        assert!(
            reason.contains(expected),
            "{payload:?}: {reason:?} should contain {expected:?}"
        );
    }
    for (at7, value) in [
        ("AT7*D1*NS***2024-01-16*1432*LT", "2024-01-16"),
        ("AT7*D1*NS***20240231*1432*LT", "20240231"),
        ("AT7*D1*NS***20240116*2561*LT", "2561"),
        ("AT7*D1*NS***20240116*14*LT", "14"),
        ("AT7*D1*NS***20240116*1432*QQ", "QQ"),
    ] {
        let payload = tx(&["B10*PRO1", "LX*1", at7]);
        let result = parse(payload.as_bytes());
        assert!(
            matches!(result, Err(ParseError::Timestamp { value: ref v, .. }) if v == value),
            "{at7}: {result:?}"
        );
    }
    assert!(matches!(
        parse(b"ST*214*0001~B10*CAF\xc9~SE*3*0001~"),
        Err(ParseError::Encoding {
            encoding: "utf-8",
            ..
        })
    ));
    let context = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
    let body = tx(&["B10*PRO1"]);
    for (key, value, expected) in [
        (
            "element_separator",
            "**",
            "context element_separator \"**\" is not a single character",
        ),
        (
            "segment_terminator",
            "",
            "context segment_terminator \"\" is not a single character",
        ),
        (
            "default_zone",
            "Mars/Olympus",
            "default_zone \"Mars/Olympus\" is not an iana zone",
        ),
    ] {
        let reason = shape_reason(parse_with("x12", body.as_bytes(), &context(key, value)));
        assert!(reason.contains(expected), "{key}: {reason:?}");
    }
    let same = BTreeMap::from([
        ("element_separator".to_string(), "~".to_string()),
        ("segment_terminator".to_string(), "~".to_string()),
    ]);
    assert!(
        shape_reason(parse_with("x12", body.as_bytes(), &same)).contains("not usable delimiters")
    );
    // A transaction with no AT7 is valid and says nothing.
    assert_eq!(parse(body.as_bytes()).unwrap(), []);
    assert!(shape_reason(X12Status.split(b"")).contains("starts with neither"));
    assert!(shape_reason(X12Status.split(tx(&["LX*1"]).as_bytes())).contains("no B10"));
}
