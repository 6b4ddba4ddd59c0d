//! The shapes a USPS Tracking API v3 payload comes in, reduced to a list of response items with the
//! tracking number each is about; and the per-shipment split ingest keys raw records with.
//! Accepted shapes:
//! - one `TrackingDetails` response object (`GET /tracking/{trackingNumber}?expand=DETAIL`);
//! - an array of them (several polls batched by the poller, or a multi-number response).
//!
//! An item carrying a non-null `error` object (`{"trackingNumber", "error": {"code", "message"}}`)
//! is a per-item error inside a successful response: no data, reported as skipped. A whole payload
//! that is USPS's `ErrorMessage` (`{"apiVersion", "error"}` without a tracking number) is not
//! tracking data at all and is a shape error.
//!
//! Invariant: every item this module returns is a JSON object, and an item without a tracking
//! number is always an error item.

use crate::format::{one_or_array, split_by_number};
use serde_json::{Map, Value};

use super::{shape, text};
use crate::format::{ParseError, ShipmentSplit};

/// One response item and where it sits in the payload.
pub(crate) struct Item<'a> {
    pub value: &'a Value,
    pub object: &'a Map<String, Value>,
    /// `trackingNumber`, trimmed; `None` only on error items.
    pub tracking_number: Option<&'a str>,
    /// USPS answered this item with an `error` object: no tracking data.
    pub is_error: bool,
    /// JSON path, for error messages.
    pub path: String,
}

pub(crate) fn parse_json(payload: &[u8]) -> Result<Value, ParseError> {
    serde_json::from_slice(payload).map_err(|e| ParseError::InvalidJson(e.to_string()))
}

/// Every response item in the payload, in payload order.
pub(crate) fn items(root: &Value) -> Result<Vec<Item<'_>>, ParseError> {
    match root {
        Value::Array(values) => values
            .iter()
            .enumerate()
            .map(|(index, value)| item(value, format!("[{index}]")))
            .collect(),
        Value::Object(object) => {
            let single = item(root, "response".to_string())?;
            if single.tracking_number.is_none() {
                return Err(shape(format!(
                    "payload is a usps error response ({}), not tracking data",
                    error_summary(object)
                )));
            }
            Ok(vec![single])
        }
        _ => Err(shape("expected a json object or array")),
    }
}

fn item(value: &Value, path: String) -> Result<Item<'_>, ParseError> {
    let object = value
        .as_object()
        .ok_or_else(|| shape(format!("{path} is not an object")))?;
    let tracking_number = text(object, "trackingNumber");
    let is_error = object.get("error").is_some_and(|e| !e.is_null());
    if tracking_number.is_none() && !is_error {
        return Err(shape(format!("{path} has no trackingNumber")));
    }
    Ok(Item {
        value,
        object,
        tracking_number,
        is_error,
        path,
    })
}

/// `code: message` of an `error` object, for messages.
pub(crate) fn error_summary(object: &Map<String, Value>) -> String {
    let (code, message) = error_parts(object);
    match (code.is_empty(), message.is_empty()) {
        (false, false) => format!("{code}: {message}"),
        (false, true) => code,
        (true, false) => message,
        (true, true) => "no error code".to_string(),
    }
}

/// The `error.code` and a human message (`error.message`, else the first `errors[].detail` or
/// `title`). An integer code is kept as its digits.
pub(crate) fn error_parts(object: &Map<String, Value>) -> (String, String) {
    let error = object.get("error").and_then(Value::as_object);
    let code = match error.and_then(|e| e.get("code")) {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
        _ => String::new(),
    };
    let detail = || {
        error
            .and_then(|e| e.get("errors"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .find_map(|e| text(e, "detail").or_else(|| text(e, "title")))
    };
    let message = error
        .and_then(|e| text(e, "message"))
        .or_else(detail)
        .unwrap_or_default()
        .to_string();
    (code, message)
}

/// One split per tracking number, in order of first appearance. A payload about one shipment is
/// returned byte for byte; otherwise each shipment's item(s) are re-serialised (one object, or an
/// array when the payload held several items for the same number). Error items without a
/// tracking number carry no data and belong to no shipment.
pub(crate) fn split(payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
    let root = parse_json(payload)?;
    let parts = items(&root)?
        .into_iter()
        .filter_map(|item| Some((item.tracking_number?, item.value)));
    split_by_number(
        payload,
        parts,
        one_or_array,
        shape,
        "payload names no tracking number",
    )
}
