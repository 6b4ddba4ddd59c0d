//! The seam between a carrier's payload and the canonical model.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use gluey_contract::{Route, TrackingEvent, UpdateType};

use crate::mapping::{MappingError, MappingTable};

/// One raw record, as the normalizer hands it to a parser.
#[derive(Debug, Clone, Copy)]
pub struct RawInput<'a> {
    /// The envelope's carrier. Carrier-specific formats ignore it; generic ones (X12 214, the CSV
    /// feed) use it as the identity namespace and to choose the carrier's mapping rows.
    pub carrier: &'a str,
    pub payload: &'a [u8],
    /// File context from the envelope (CSV header, delimiter, X12 separators); empty for pushes.
    pub context: &'a BTreeMap<String, String>,
    pub received_at: DateTime<Utc>,
}

/// A canonical record parsed from a payload, before the normalizer attaches shipment state.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // short-lived; boxing would only add an allocation per event
pub enum ParsedRecord {
    /// A carrier scan. `event_id` is the deterministic identity (see `identity`).
    Event {
        tracking_number: String,
        event_id: String,
        event: TrackingEvent,
        /// The mapping row that classified it (`None`: no row matched, status `unknown`).
        mapping_row: Option<usize>,
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

/// Something in a payload that is deliberately not a canonical record, reported so that nothing
/// is dropped silently (`carriers parse` prints these; the normalizer counts them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub tracking_number: Option<String>,
    /// The carrier's code for the item (event code, error code).
    pub carrier_code: String,
    pub why: SkipReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// A mapping row says the code is not a status change (ETA-only, customer-side notices).
    NoStatusChange { mapping_row: usize },
    /// A per-item error inside a successful response (not found, …).
    ItemError { message: String },
}

/// Everything a payload holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// Oldest first.
    pub records: Vec<ParsedRecord>,
    pub skipped: Vec<Skipped>,
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
    #[error("payload is not valid {encoding}: {reason}")]
    Encoding {
        encoding: &'static str,
        reason: String,
    },
}

impl ParseError {
    /// A short, bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ParseError::InvalidJson(_) => "invalid_json",
            ParseError::Shape { .. } => "shape",
            ParseError::Timestamp { .. } => "timestamp",
            ParseError::Encoding { .. } => "encoding",
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

/// Splits a payload by tracking number, in order of first appearance, from its `parts` (each
/// with the number it is about). A payload about one shipment is kept byte for byte; otherwise
/// each shipment's parts become a payload of their own through `serialise`. No part at all is
/// the error `none`, made by the format's `shape`.
pub(crate) fn split_by_number<K: AsRef<str>, P>(
    payload: &[u8],
    parts: impl IntoIterator<Item = (K, P)>,
    serialise: impl Fn(Vec<P>) -> serde_json::Result<Vec<u8>>,
    shape: impl Fn(String) -> ParseError,
    none: &str,
) -> Result<Vec<ShipmentSplit>, ParseError> {
    let mut groups: Vec<(K, Vec<P>)> = Vec::new();
    for (number, part) in parts {
        match groups
            .iter_mut()
            .find(|(n, _)| n.as_ref() == number.as_ref())
        {
            Some((_, same)) => same.push(part),
            None => groups.push((number, vec![part])),
        }
    }
    match groups.as_slice() {
        [] => Err(shape(none.to_string())),
        [(number, _)] => Ok(vec![ShipmentSplit {
            tracking_number: number.as_ref().to_string(),
            payload: payload.to_vec(),
        }]),
        _ => groups
            .into_iter()
            .map(|(number, parts)| {
                let number = number.as_ref();
                serialise(parts)
                    .map(|payload| ShipmentSplit {
                        tracking_number: number.to_string(),
                        payload,
                    })
                    .map_err(|e| shape(format!("cannot re-serialise shipment {number}: {e}")))
            })
            .collect(),
    }
}

/// One JSON value as itself, several as an array.
pub(crate) fn one_or_array(values: Vec<&serde_json::Value>) -> serde_json::Result<Vec<u8>> {
    match values.as_slice() {
        [one] => serde_json::to_vec(one),
        many => serde_json::to_vec(many),
    }
}

/// A carrier payload format.
pub trait CarrierFormat: Send + Sync {
    /// `carrier.format`, e.g. `fedex.aiv`: what raw envelopes carry in `format`.
    fn name(&self) -> &'static str;
    /// Carrier slug, e.g. `fedex`; for generic formats (X12, CSV) the default when the envelope
    /// does not say.
    fn carrier(&self) -> &'static str;
    /// One line for `gluey carriers list`.
    fn description(&self) -> &'static str;
    /// The ingest routes this format arrives by.
    fn routes(&self) -> &'static [Route];
    /// The mapping table this format classifies codes with.
    fn mapping(&self) -> Result<&'static MappingTable, MappingError>;
    /// Canonical records in the payload, oldest first, and what was deliberately skipped.
    fn parse(&self, input: RawInput<'_>) -> Result<Parsed, ParseError>;
    /// Split a payload per shipment, so that each raw record can be keyed by shipment.
    fn split(&self, payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError>;
}

/// Every format this build understands.
pub static FORMATS: &[&dyn CarrierFormat] = &[
    &crate::fedex::FedexAiv,
    &crate::fedex::FedexTrack,
    &crate::direct::DirectV1,
    &crate::dhl::DhlUnified,
    &crate::dhl::DhlPush,
    &crate::royalmail::RoyalMailV2,
    &crate::ups::UpsTrack,
    &crate::ups::UpsAlert,
    &crate::usps::UspsV3,
    &crate::x12::X12Status,
    &crate::csv_feed::CsvFeed,
];
