//! `ups.alert`: a Track Alert v2 push, one event per POST: `{"trackingNumber",
//! "localActivityDate", "localActivityTime", "gmtActivityDate", "gmtActivityTime", "gmtOffset"
//! ("-04.00"), "activityLocation": {...}, "activityStatus": {"type", "code", "description",
//! "descriptionCode"}, "scheduledDeliveryDate", ...}`. Blank strings mean absent (UPS sends
//! `""` for every field it has no value for), and the tracking number is trimmed (UPS's own
//! example has a leading space). The schema's US-only patterns (`stateProvince`, `postalCode`)
//! are deliberately not enforced.
//!
//! An array of such events is accepted too, so that captured pushes can be replayed as one
//! record; its events are taken in array order (the order they arrived) before sorting by time.
//! A Track Alert has no per-item errors; a UPS error body or a subscription response posted to
//! the webhook is a shape error saying what it is.
//!
//! `scheduledDeliveryDate` and the delivery window are not turned into an ETA: a push names the
//! activity's location, not the destination, so the date cannot be placed in the right time
//! zone, and a different zone per push would make the ETA flap. The Track API poll, which has
//! the destination, supplies the ETA.

use crate::format::{one_or_array, split_by_number};
use serde_json::{Map, Value};

use super::activity::{self, Activity};
use super::activity_time::TimeFields;
use super::{error_code, object, parse_json, text, ALERT};
use crate::event::oldest_first;
use crate::format::{ParseError, Parsed, ShipmentSplit};
use crate::mapping::MappingTable;

fn shape(reason: impl Into<String>) -> ParseError {
    super::shape(ALERT, reason)
}

/// One pushed event.
struct Event<'a> {
    value: &'a Value,
    object: &'a Map<String, Value>,
    tracking_number: String,
    path: String,
}

fn events(root: &Value) -> Result<Vec<Event<'_>>, ParseError> {
    match root {
        Value::Object(o)
            if o.contains_key("trackingNumber") || o.contains_key("activityStatus") =>
        {
            Ok(vec![event(root, "event".to_string())?])
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| event(item, format!("[{index}]")))
            .collect(),
        Value::Object(o) => Err(shape(match error_code(o) {
            Some(code) => format!("payload is a ups error response ({code}), not a tracking event"),
            None if o.contains_key("validTrackingNumbers")
                || o.contains_key("invalidTrackingNumbers") =>
            {
                "payload is a track alert subscription response, not a tracking event".to_string()
            }
            None => "expected a track alert event (trackingNumber, activityStatus) or an array \
                     of them"
                .to_string(),
        })),
        _ => Err(shape("expected a json object or array")),
    }
}

fn event(value: &Value, path: String) -> Result<Event<'_>, ParseError> {
    let object = value
        .as_object()
        .ok_or_else(|| shape(format!("{path} is not an object")))?;
    let tracking_number = text(object, "trackingNumber")
        .ok_or_else(|| shape(format!("{path} has no trackingNumber")))?;
    Ok(Event {
        value,
        object,
        tracking_number,
        path,
    })
}

pub(crate) fn parse(table: &MappingTable, payload: &[u8]) -> Result<Parsed, ParseError> {
    let root = parse_json(payload)?;
    let mut parsed = Parsed::default();
    for event in events(&root)? {
        let status = object(event.object, "activityStatus")
            .ok_or_else(|| shape(format!("{} has no activityStatus", event.path)))?;
        let activity = Activity {
            format: ALERT,
            tracking_number: event.tracking_number,
            status_code: text(status, "descriptionCode"),
            activity_code: text(status, "code"),
            kind: text(status, "type"),
            description: text(status, "description"),
            time: TimeFields::read(
                event.object,
                [
                    "localActivityDate",
                    "localActivityTime",
                    "gmtActivityDate",
                    "gmtActivityTime",
                    "gmtOffset",
                ],
            ),
            location: activity::location(object(event.object, "activityLocation"), None),
            received_by: text(event.object, "receivedBy"),
            path: event.path,
        };
        match activity::record(table, activity)? {
            Ok(record) => parsed.records.push(record),
            Err(skip) => parsed.skipped.push(skip),
        }
    }
    oldest_first(&mut parsed.records);
    Ok(parsed)
}

/// One split per tracking number: a single push is returned byte for byte; an array with
/// several numbers is re-serialised per number (the event itself, or an array of them).
pub(crate) fn split(payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
    let root = parse_json(payload)?;
    let parts = events(&root)?
        .into_iter()
        .map(|event| (event.tracking_number, event.value));
    split_by_number(
        payload,
        parts,
        one_or_array,
        shape,
        "payload names no tracking number",
    )
}
