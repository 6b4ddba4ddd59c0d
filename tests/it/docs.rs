//! The documents customers and data teams rely on stay true to the code: the topic catalogue
//! lists every declared topic, and the webhook JSON Schema accepts exactly what the dispatcher
//! sends (and the examples shown beside it).

use chrono::{TimeZone, Utc};
use gluey_contract::*;
use serde_json::Value;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_topic_catalogue_lists_every_declared_topic() {
    let catalogue = std::fs::read_to_string(root().join("docs/topics.md")).unwrap();
    for spec in TOPICS {
        assert!(
            catalogue.contains(&format!("`{}`", spec.name)),
            "docs/topics.md is missing {}",
            spec.name
        );
        assert!(
            catalogue.contains(spec.value.split(' ').next().unwrap()),
            "docs/topics.md is missing the value type of {}",
            spec.name
        );
    }
}

/// A small validator for the JSON Schema subset the webhook schema uses: type (with null),
/// enum, const, object required/properties/additionalProperties, array items, local $ref.
fn check(schema: &Value, defs: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        return check(&defs[name], defs, value, path, errors);
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            errors.push(format!("{path}: {value} not in enum"));
        }
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            errors.push(format!("{path}: {value} != const {c}"));
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() {
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        if !ok {
            errors.push(format!("{path}: {actual} is not {types:?}"));
            return;
        }
    }
    if let Value::Object(map) = value {
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !map.contains_key(required.as_str().unwrap()) {
                errors.push(format!("{path}: missing {required}"));
            }
        }
        let properties = schema.get("properties");
        for (key, v) in map {
            match properties.and_then(|p| p.get(key)) {
                Some(s) => check(s, defs, v, &format!("{path}.{key}"), errors),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errors.push(format!("{path}: unexpected {key}"))
                }
                None => {}
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            check(item_schema, defs, v, &format!("{path}[{i}]"), errors);
        }
    }
}

fn validate(value: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/webhooks/tracking-webhook.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let mut errors = Vec::new();
    check(&schema, &schema["$defs"], value, "$", &mut errors);
    errors
}

fn record(with_event: bool) -> CanonicalRecord {
    let t = Utc.with_ymd_and_hms(2024, 4, 25, 18, 26, 0).unwrap();
    CanonicalRecord {
        record_id: "ev_1".into(),
        record_type: if with_event {
            RecordType::TrackingEvent
        } else {
            RecordType::ShipmentUpdate
        },
        revision: 2,
        sequence: 3,
        shipment_key: "fedex:1".into(),
        shipment_id: Some("s".into()),
        customer_id: Some("acme".into()),
        carrier: "fedex".into(),
        tracking_number: "1".into(),
        event: with_event.then(|| TrackingEvent {
            status: Status::Delivered,
            milestone: "delivery".into(),
            code: "delivered".into(),
            sub_code: None,
            carrier_code: "DL".into(),
            carrier_sub_code: None,
            carrier_description: Some("Delivered".into()),
            occurred_at: t,
            occurred_at_local: "2024-04-25T11:26:00".into(),
            utc_offset_seconds: -25200,
            offset_source: OffsetSource::ExplicitOffset,
            time_flags: vec![],
            location: Some(Location {
                city: Some("CLOVIS".into()),
                latitude: Some(36.8),
                ..Location::default()
            }),
            eta: None,
            signed_by: Some("J. DOE".into()),
            proof_of_delivery_ref: None,
            flags: vec![],
        }),
        update: (!with_event).then_some(ShipmentUpdate {
            update_type: UpdateType::EtaChanged,
            occurred_at: t,
            previous_eta: None,
            new_eta: Some(t),
            previous_tracking_number: None,
            new_tracking_number: None,
        }),
        shipment: ShipmentSummary {
            status: Status::Delivered,
            eta: Some(t),
            sequence: 3,
            terminal: true,
        },
        route: Route::Webhook,
        received_at: t,
        published_at: t,
        raw_ref: RawReference {
            envelope_id: "e".into(),
            topic: "tracking.raw.v1".into(),
            partition: 0,
            offset: 1,
        },
        trace_id: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
    }
}

#[test]
fn what_the_dispatcher_sends_validates_against_the_published_schema() {
    for with_event in [true, false] {
        let record = record(with_event);
        let body = serde_json::to_value(gluey_dispatcher::payload::body(&record)).unwrap();
        assert_eq!(validate(&body), Vec::<String>::new(), "{body:#}");
    }
    assert_eq!(
        serde_json::to_value(gluey_dispatcher::payload::body(&record(true))).unwrap()["type"],
        "tracking.event.corrected"
    );
}

#[test]
fn the_published_examples_validate_and_the_validator_can_fail() {
    for example in ["tracking.event.json", "shipment.eta_changed.json"] {
        let value: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("docs/webhooks/examples").join(example)).unwrap(),
        )
        .unwrap();
        assert_eq!(validate(&value), Vec::<String>::new(), "{example}");
        let mut broken = value.clone();
        broken["data"]["shipment"]["status"] = "teleported".into();
        broken["data"].as_object_mut().unwrap().remove("sequence");
        assert_eq!(
            validate(&broken).len(),
            2,
            "{example}: the validator catches both mistakes"
        );
    }
}
