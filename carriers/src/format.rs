//! The seam between a carrier's payload and the canonical model.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use gluey_contract::{TrackingEvent, UpdateType};

/// One raw record, as the normalizer hands it to a parser.
#[derive(Debug, Clone, Copy)]
pub struct RawInput<'a> {
    pub payload: &'a [u8],
    /// File context from the envelope (CSV header, delimiter, X12 separators); empty for pushes.
    pub context: &'a BTreeMap<String, String>,
    pub received_at: DateTime<Utc>,
}

/// A canonical record parsed from a payload, before the normalizer attaches shipment state.
// Events dwarf updates, but records are short-lived and mostly events; boxing would change the API.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ParsedRecord {
    /// A carrier scan. `event_id` is the deterministic identity (see `identity`).
    Event {
        tracking_number: String,
        event_id: String,
        event: TrackingEvent,
    },
    /// A change that is not a scan (ETA, tracking number).
    Update {
        tracking_number: String,
        update: ParsedUpdate,
    },
}

impl ParsedRecord {
    pub fn tracking_number(&self) -> &str {
        match self {
            ParsedRecord::Event {
                tracking_number, ..
            }
            | ParsedRecord::Update {
                tracking_number, ..
            } => tracking_number,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedUpdate {
    pub update_type: UpdateType,
    pub new_eta: Option<DateTime<Utc>>,
    pub new_tracking_number: Option<String>,
}

/// Why a payload could not be turned into canonical records. Always poison: the same bytes will
/// fail the same way, so the record is dead-lettered with this reason on the first attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("payload is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("payload does not have the {format} shape: {reason}")]
    Shape {
        format: &'static str,
        reason: String,
    },
    #[error("unparseable timestamp {value:?}: {reason}")]
    Timestamp { value: String, reason: String },
}

impl ParseError {
    /// A short, bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ParseError::InvalidJson(_) => "invalid_json",
            ParseError::Shape { .. } => "shape",
            ParseError::Timestamp { .. } => "timestamp",
        }
    }
}

/// One shipment's part of a payload, as ingest splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentSplit {
    pub tracking_number: String,
    /// The bytes to put in the raw record: the payload itself when it covers one shipment.
    pub payload: Vec<u8>,
}

/// A carrier payload format.
pub trait CarrierFormat: Send + Sync {
    /// `carrier.format`, e.g. `fedex.aiv`: what raw envelopes carry in `format`.
    fn name(&self) -> &'static str;
    /// Carrier slug, e.g. `fedex`.
    fn carrier(&self) -> &'static str;
    /// Canonical records in the payload, oldest first.
    fn parse(&self, input: RawInput<'_>) -> Result<Vec<ParsedRecord>, ParseError>;
    /// Split a payload per shipment, so that each raw record can be keyed by shipment.
    fn split(&self, payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError>;
}

/// Every format this build understands.
pub static FORMATS: &[&dyn CarrierFormat] = &[&crate::fedex::FedexAiv];
