//! The shapes an AIV push (or a Track API response) comes in, reduced to a list of `trackResult`
//! objects with the tracking number each is about; and the per-shipment split ingest keys raw
//! records with. Accepted shapes, recognised in this order:
//! - one `trackResult` object (it has `trackingNumberInfo`);
//! - an array of `trackResult` objects;
//! - the full Track API response, `{"output": {"completeTrackResults": [...]}}`;
//! - one `completeTrackResults[]` item, `{"trackingNumber", "trackResults": [...]}`.
//!
//! Invariant: every result this module returns is a JSON object, and a result without a tracking
//! number is always an error item (`error` set); a data item without one is a shape error.

use crate::format::{one_or_array, split_by_number};
use serde_json::{Map, Value};

use super::{shape, text};
use crate::format::{ParseError, ShipmentSplit};

/// One `trackResult` object and where it sits in the payload.
pub(crate) struct TrackResult<'a> {
    pub value: &'a Value,
    pub object: &'a Map<String, Value>,
    /// `trackingNumberInfo.trackingNumber`; `None` only on error items.
    pub tracking_number: Option<&'a str>,
    /// FedEx reported an error for this item (e.g. `TRACKING.TRACKINGNUMBER.NOTFOUND`): no data.
    pub is_error: bool,
    /// JSON path, for error messages.
    pub path: String,
}

pub(crate) fn parse_json(payload: &[u8]) -> Result<Value, ParseError> {
    serde_json::from_slice(payload).map_err(|e| ParseError::InvalidJson(e.to_string()))
}

/// Every `trackResult` in the payload, in payload order.
pub(crate) fn track_results(root: &Value) -> Result<Vec<TrackResult<'_>>, ParseError> {
    match root {
        Value::Array(items) => items_of(items, ""),
        // Checked first: a re-serialised split is a bare trackResult whatever other keys it has.
        Value::Object(object) if object.contains_key("trackingNumberInfo") => {
            Ok(vec![track_result(root, "trackResult".to_string())?])
        }
        Value::Object(object) if object.contains_key("output") => {
            let complete = root
                .get("output")
                .and_then(|o| o.get("completeTrackResults"))
                .and_then(Value::as_array)
                .ok_or_else(|| shape("output.completeTrackResults is missing or not an array"))?;
            let mut results = Vec::new();
            for (index, item) in complete.iter().enumerate() {
                let path = format!("output.completeTrackResults[{index}]");
                let items = item
                    .get("trackResults")
                    .and_then(Value::as_array)
                    .ok_or_else(|| {
                        shape(format!("{path}.trackResults is missing or not an array"))
                    })?;
                results.extend(items_of(items, &format!("{path}.trackResults"))?);
            }
            Ok(results)
        }
        Value::Object(object) if object.contains_key("trackResults") => {
            let items = object
                .get("trackResults")
                .and_then(Value::as_array)
                .ok_or_else(|| shape("trackResults is not an array"))?;
            items_of(items, "trackResults")
        }
        Value::Object(object) => Err(shape(match error_code(object) {
            Some(code) => format!("payload is a fedex error response ({code}), not tracking data"),
            None => "expected a trackResult object, an array of them, or a track api response \
                     with output.completeTrackResults"
                .to_string(),
        })),
        _ => Err(shape("expected a json object or array")),
    }
}

/// One split per tracking number, in order of first appearance. A payload about one shipment is
/// returned byte for byte; otherwise each shipment's trackResult(s) are re-serialised (one object,
/// or an array when FedEx returned several results for the same number). Error items without a
/// tracking number carry no data and belong to no shipment.
pub(crate) fn split(payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
    let root = parse_json(payload)?;
    let parts = track_results(&root)?
        .into_iter()
        .filter_map(|result| Some((result.tracking_number?, result.value)));
    split_by_number(
        payload,
        parts,
        one_or_array,
        shape,
        "payload names no tracking number",
    )
}

fn items_of<'a>(items: &'a [Value], path: &str) -> Result<Vec<TrackResult<'a>>, ParseError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| track_result(item, format!("{path}[{index}]")))
        .collect()
}

fn track_result(value: &Value, path: String) -> Result<TrackResult<'_>, ParseError> {
    let object = value
        .as_object()
        .ok_or_else(|| shape(format!("{path} is not an object")))?;
    let tracking_number = object
        .get("trackingNumberInfo")
        .and_then(Value::as_object)
        .and_then(|info| text(info, "trackingNumber"));
    let is_error = object.get("error").is_some_and(|e| !e.is_null());
    if tracking_number.is_none() && !is_error {
        return Err(shape(format!(
            "{path} has no trackingNumberInfo.trackingNumber"
        )));
    }
    Ok(TrackResult {
        value,
        object,
        tracking_number,
        is_error,
        path,
    })
}

/// The first `errors[].code` of a FedEx error body (`{"transactionId", "errors": [...]}`).
fn error_code(object: &Map<String, Value>) -> Option<&str> {
    object
        .get("errors")?
        .as_array()?
        .iter()
        .find_map(|e| e.as_object().and_then(|e| text(e, "code")))
}
