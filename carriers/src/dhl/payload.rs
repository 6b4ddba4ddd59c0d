//! The shapes a DHL Unified response or Unified Push body comes in, reduced to a list of shipment
//! objects with the id each is about; the cross-division check; and the per-shipment split ingest
//! keys raw records with. Accepted shapes, recognised in this order:
//! - the Unified response, `{"shipments": [...], "possibleAdditionalShipmentsUrl": [...]}`;
//! - one shipment object (it has `id`), as a push may carry it;
//! - an array of shipment objects.
//!
//! An RFC 7807 problem body (`{title, detail, status}`) is not tracking data and is refused with
//! its status and title, like any other unrecognised shape.
//!
//! Invariant: every shipment this module returns is a JSON object with a non-empty `id`.

use crate::format::split_by_number;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{shape, text};
use crate::format::{ParseError, ShipmentSplit, SkipReason, Skipped};

/// One shipment object and where it sits in the payload.
pub(crate) struct Shipment<'a> {
    pub value: &'a Value,
    pub object: &'a Map<String, Value>,
    /// `id`, trimmed: the tracking number.
    pub id: &'a str,
    /// `service` (`express`, `parcel-de`, …), trimmed, if the shipment says.
    pub service: Option<&'a str>,
    /// JSON path, for error messages.
    pub path: String,
}

pub(crate) fn parse_json(payload: &[u8]) -> Result<Value, ParseError> {
    serde_json::from_slice(payload).map_err(|e| ParseError::InvalidJson(e.to_string()))
}

/// Every shipment in the payload, in payload order.
pub(crate) fn shipments<'a>(
    format: &'static str,
    root: &'a Value,
) -> Result<Vec<Shipment<'a>>, ParseError> {
    match root {
        Value::Array(items) => items_of(format, items, ""),
        Value::Object(object) if object.contains_key("shipments") => {
            let items = object
                .get("shipments")
                .and_then(Value::as_array)
                .ok_or_else(|| shape(format, "shipments is not an array"))?;
            items_of(format, items, "shipments")
        }
        Value::Object(object) if object.contains_key("id") => {
            Ok(vec![shipment(format, root, "shipment".to_string())?])
        }
        Value::Object(object) => Err(shape(
            format,
            match problem(object) {
                Some(problem) => {
                    format!("payload is a dhl problem response ({problem}), not tracking data")
                }
                None => "expected a unified response with shipments, a shipment object with an \
                         id, or an array of shipments"
                    .to_string(),
            },
        )),
        _ => Err(shape(format, "expected a json object or array")),
    }
}

/// The shipments to read, and the ones left out because they may belong to another DHL division:
/// - with an expected service (the poll's `service`, from the envelope context), a shipment that
///   names a different service is another division's shipment with the same id;
/// - without one, an id that comes back under two or more services cannot be attributed, so all
///   of its shipments are left out rather than mixing two parcels' histories in one shipment.
///
/// Both are reported as item errors, so the skip is counted and visible.
pub(crate) fn attributable<'s, 'a>(
    shipments: &'s [Shipment<'a>],
    expected_service: Option<&str>,
) -> (Vec<&'s Shipment<'a>>, Vec<Skipped>) {
    let mut services: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in shipments {
        let list = services.entry(s.id).or_default();
        if let Some(service) = s.service.map(str::to_ascii_lowercase) {
            if !list.contains(&service) {
                list.push(service);
            }
        }
    }
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for s in shipments {
        let service = s.service.map(str::to_ascii_lowercase);
        let message = match (expected_service, service.as_deref()) {
            (Some(expected), Some(service)) if !expected.eq_ignore_ascii_case(service) => {
                Some(format!(
                    "shipment {} is a {service} shipment, not the requested {} one \
                     (another dhl division's shipment with the same id)",
                    s.id,
                    expected.to_ascii_lowercase()
                ))
            }
            (None, _) => match services.get(s.id) {
                Some(list) if list.len() > 1 => Some(format!(
                    "id {} was returned by several dhl services ({}): poll with service to \
                     choose one",
                    s.id,
                    list.join(", ")
                )),
                _ => None,
            },
            _ => None,
        };
        match message {
            Some(message) => skipped.push(Skipped {
                tracking_number: Some(s.id.to_string()),
                carrier_code: service.unwrap_or_default(),
                why: SkipReason::ItemError { message },
            }),
            None => kept.push(s),
        }
    }
    (kept, skipped)
}

/// One split per shipment id, in order of first appearance. A payload about one id is returned
/// byte for byte; otherwise each id's shipment objects are re-serialised as a unified response
/// (`{"shipments": [...]}`), which both DHL formats read.
pub(crate) fn split(
    format: &'static str,
    payload: &[u8],
) -> Result<Vec<ShipmentSplit>, ParseError> {
    let root = parse_json(payload)?;
    let parts = shipments(format, &root)?
        .into_iter()
        .map(|s| (s.id, s.value));
    split_by_number(
        payload,
        parts,
        |values| serde_json::to_vec(&serde_json::json!({ "shipments": values })),
        |reason| shape(format, reason),
        "payload names no shipment",
    )
}

fn items_of<'a>(
    format: &'static str,
    items: &'a [Value],
    path: &str,
) -> Result<Vec<Shipment<'a>>, ParseError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| shipment(format, item, format!("{path}[{index}]")))
        .collect()
}

fn shipment<'a>(
    format: &'static str,
    value: &'a Value,
    path: String,
) -> Result<Shipment<'a>, ParseError> {
    let object = value
        .as_object()
        .ok_or_else(|| shape(format, format!("{path} is not an object")))?;
    let id = text(object, "id").ok_or_else(|| shape(format, format!("{path} has no id")))?;
    Ok(Shipment {
        value,
        object,
        id,
        service: text(object, "service"),
        path,
    })
}

/// `status title: detail` of an RFC 7807 problem body, if it is one.
fn problem(object: &Map<String, Value>) -> Option<String> {
    let title = text(object, "title")?;
    let status = object
        .get("status")
        .map(|s| match s {
            Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    let detail = text(object, "detail").unwrap_or_default();
    Some(
        format!("{status} {title}: {detail}")
            .trim()
            .trim_end_matches(':')
            .chars()
            .take(200)
            .collect(),
    )
}
