//! The direct format (`direct.v1`): JSON for carriers that integrate with us natively, documented
//! in `docs/carriers.md` and versioned by its `schema` field (`gluey.direct.v1`; other versions
//! are refused with a clear reason, never guessed).
//!
//! ```json
//! {"schema": "gluey.direct.v1",
//!  "shipments": [{"tracking_number": "AC123", "eta": "2024-06-03T17:00:00+01:00",
//!    "events": [{"id": "e-1", "code": "OUT_FOR_DELIVERY", "description": "With courier",
//!                "occurred_at": "2024-06-03T07:52:00+01:00",
//!                "location": {"city": "Leicester", "postal_code": "LE4 9HA", "country": "GB"}}]}]}
//! ```
//!
//! **Identity**: carrier (the envelope's: the integrator authenticated as it), tracking number,
//! the normalised code, the UTC minute, and the integrator's event `id` when given. The format is
//! the same on every route it arrives by (push or file), so the id is supplied identically and
//! separates two scans of the same code in one minute. Example: `e-1`, `OUT_FOR_DELIVERY` at
//! 06:52Z for `AC123` gets the same `event_id` whether pushed or dropped as a file.
//!
//! Times must carry an offset (`Z` or `±hh:mm`); an offset-less time is resolved from the event's
//! location (country, region) and flagged as inferred. Events may come in any order.

use std::sync::LazyLock;

use gluey_contract::{Location, Route, UpdateType};
use serde::Deserialize;

use crate::event::{classify, oldest_first, Scan};
use crate::format::{
    CarrierFormat, ParseError, Parsed, ParsedRecord, ParsedUpdate, RawInput, ShipmentSplit,
    SkipReason, Skipped,
};
use crate::mapping::{MappingError, MappingTable};
use crate::time::{parse_timestamp, ZoneHint};

const NAME: &str = "direct.v1";
const SCHEMA: &str = "gluey.direct.v1";

static TABLE: LazyLock<Result<MappingTable, MappingError>> = LazyLock::new(|| {
    MappingTable::from_json("direct.json", include_str!("../../mappings/direct.json"))
});

/// The direct integration format.
#[derive(Debug, Clone, Copy, Default)]
pub struct DirectV1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    schema: String,
    shipments: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Shipment {
    tracking_number: String,
    #[serde(default)]
    eta: Option<String>,
    #[serde(default)]
    events: Vec<Event>,
    /// The integrator could not give data for this number (e.g. unknown to them).
    #[serde(default)]
    error: Option<ItemError>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemError {
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    #[serde(default)]
    id: Option<String>,
    code: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    description: Option<String>,
    occurred_at: String,
    #[serde(default)]
    location: Option<DirectLocation>,
    #[serde(default)]
    signed_by: Option<String>,
    #[serde(default)]
    proof_of_delivery_ref: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectLocation {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    postal_code: Option<String>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

fn shape(reason: impl Into<String>) -> ParseError {
    ParseError::Shape {
        format: NAME,
        reason: reason.into(),
    }
}

fn document(payload: &[u8]) -> Result<Document, ParseError> {
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
    let document: Document = serde_json::from_value(value).map_err(|e| shape(e.to_string()))?;
    if document.schema != SCHEMA {
        return Err(shape(format!(
            "schema {:?} is not supported (this build reads {SCHEMA})",
            document.schema
        )));
    }
    Ok(document)
}

fn shipment(index: usize, value: serde_json::Value) -> Result<Shipment, ParseError> {
    let shipment: Shipment =
        serde_json::from_value(value).map_err(|e| shape(format!("shipments[{index}]: {e}")))?;
    if shipment.tracking_number.trim().is_empty() {
        return Err(shape(format!(
            "shipments[{index}].tracking_number is empty"
        )));
    }
    Ok(shipment)
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl CarrierFormat for DirectV1 {
    fn name(&self) -> &'static str {
        NAME
    }

    fn carrier(&self) -> &'static str {
        "direct"
    }

    fn description(&self) -> &'static str {
        "Gluey direct JSON for native integrations (schema gluey.direct.v1), Standard Webhooks signature"
    }

    fn routes(&self) -> &'static [Route] {
        &[Route::Webhook, Route::Sftp]
    }

    fn mapping(&self) -> Result<&'static MappingTable, MappingError> {
        TABLE.as_ref().map_err(Clone::clone)
    }

    fn parse(&self, input: RawInput<'_>) -> Result<Parsed, ParseError> {
        let table = self.mapping().map_err(|e| shape(e.to_string()))?;
        let document = document(input.payload)?;
        let mut parsed = Parsed::default();
        let mut updates = Vec::new();
        for (index, value) in document.shipments.into_iter().enumerate() {
            let shipment = shipment(index, value)?;
            let tracking_number = shipment.tracking_number.trim().to_string();
            if let Some(error) = shipment.error {
                parsed.skipped.push(Skipped {
                    tracking_number: Some(tracking_number),
                    carrier_code: error.code,
                    why: SkipReason::ItemError {
                        message: error.message,
                    },
                });
                continue;
            }
            for (e, event) in shipment.events.into_iter().enumerate() {
                let location = event.location.map(|l| Location {
                    carrier_location_code: non_empty(l.code),
                    name: non_empty(l.name),
                    city: non_empty(l.city),
                    region: non_empty(l.region),
                    postal_code: non_empty(l.postal_code),
                    country_iso2: non_empty(l.country).map(|c| c.to_ascii_uppercase()),
                    latitude: l.latitude.filter(|v| v.is_finite()),
                    longitude: l.longitude.filter(|v| v.is_finite()),
                });
                let hint = ZoneHint {
                    country: location.as_ref().and_then(|l| l.country_iso2.as_deref()),
                    region: location.as_ref().and_then(|l| l.region.as_deref()),
                    carrier_default: None,
                };
                let time = parse_timestamp(&event.occurred_at, hint).map_err(|err| {
                    shape(format!("shipments[{index}].events[{e}].occurred_at: {err}"))
                })?;
                if event.code.trim().is_empty() {
                    return Err(shape(format!(
                        "shipments[{index}].events[{e}].code is empty"
                    )));
                }
                let scan = Scan {
                    tracking_number: tracking_number.clone(),
                    carrier_code: event.code,
                    reason: non_empty(event.reason),
                    description: non_empty(event.description),
                    time: Some(time),
                    location,
                    signed_by: non_empty(event.signed_by),
                    proof_of_delivery_ref: non_empty(event.proof_of_delivery_ref),
                    identity_extra: non_empty(event.id).into_iter().collect(),
                    ..Scan::default()
                };
                match classify(input.carrier, table, scan) {
                    Ok(record) => parsed.records.push(record),
                    Err(skip) => parsed.skipped.push(skip),
                }
            }
            if let Some(eta) = non_empty(shipment.eta) {
                let eta = parse_timestamp(&eta, ZoneHint::default())
                    .map_err(|err| shape(format!("shipments[{index}].eta: {err}")))?;
                updates.push(ParsedRecord::Update {
                    tracking_number,
                    update: ParsedUpdate {
                        update_type: UpdateType::EtaChanged,
                        new_eta: Some(eta.utc),
                        new_tracking_number: None,
                    },
                });
            }
        }
        oldest_first(&mut parsed.records);
        parsed.records.extend(updates);
        Ok(parsed)
    }

    fn split(&self, payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
        let document = document(payload)?;
        if document.shipments.len() == 1 {
            let tracking_number = document
                .shipments
                .first()
                .and_then(|s| s.get("tracking_number"))
                .and_then(serde_json::Value::as_str)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| shape("shipments[0].tracking_number is missing"))?;
            return Ok(vec![ShipmentSplit {
                tracking_number,
                payload: payload.to_vec(),
            }]);
        }
        let mut splits: Vec<ShipmentSplit> = Vec::new();
        let mut by_number: Vec<(String, Vec<serde_json::Value>)> = Vec::new();
        for (index, value) in document.shipments.into_iter().enumerate() {
            let tracking_number = value
                .get("tracking_number")
                .and_then(serde_json::Value::as_str)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| shape(format!("shipments[{index}].tracking_number is missing")))?;
            match by_number.iter_mut().find(|(n, _)| *n == tracking_number) {
                Some((_, items)) => items.push(value),
                None => by_number.push((tracking_number, vec![value])),
            }
        }
        for (tracking_number, shipments) in by_number {
            let piece = serde_json::json!({"schema": SCHEMA, "shipments": shipments});
            splits.push(ShipmentSplit {
                tracking_number,
                payload: piece.to_string().into_bytes(),
            });
        }
        Ok(splits)
    }
}
