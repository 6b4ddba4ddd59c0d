//! FedEx Advanced Integrated Visibility (AIV) pushes, format `fedex.aiv`. A push has the shape of
//! a Track API `trackResult`: a full state snapshot, not a delta (CARRIERS.md 1.8). This module
//! owns turning one into canonical records: one tracking event per `scanEvents[]` entry, oldest
//! first, plus an ETA update when the snapshot has an estimated delivery; and splitting a payload
//! per tracking number. It is pure: no I/O besides the mapping file embedded at build time.
//!
//! Because every push repeats the whole history, the same scan arrives many times; the invariant
//! this module keeps is that a scan gets the same `event_id` and the same content every time.
//!
//! **Identity fields** (DESIGN.md, Identity): carrier, `trackingNumberInfo.trackingNumber`,
//! the trimmed `eventType` and the scan's `date` in UTC truncated to the minute. CARRIERS.md 3
//! suggests `trackingNumberUniqueId + date + eventType + locationId`; two of those are left out
//! because not every route supplies them identically:
//! - `trackingNumberUniqueId` is per result, not per scan, and only the Track API's schema is
//!   documented: the AIV field list is an onboarding gap (CARRIERS.md 7), so we cannot claim the
//!   push carries it identically; its form also varies (`…~FX`, `…~FDEG`), and file or other
//!   routes would not carry it. Two results for one reused number (CARRIERS.md, note 5) are
//!   still told apart by their scan times; they share a shipment key either way.
//! - `locationId` is optional on scans (missing in the documented example) and may be filled in
//!   later by FedEx's "operational corrections", which would change the id of a scan already seen.
//!
//! The cost: two scans of the same type for the same number in the same minute share an id, and
//! the normalizer treats the second as a revision of the first.
//!
//! Field choices: `carrier_code` is `eventType` as sent; `carrier_sub_code` is `exceptionCode`;
//! `carrier_description` is `eventDescription` verbatim (falling back to `exceptionDescription`
//! when that is missing; the exception text is not concatenated so the field stays verbatim).
//! A DE scan is classified by its own `exceptionCode`, never by the snapshot's
//! `latestStatusDetail.ancillaryDetails`, which describes only the newest status and so would
//! classify the same scan differently in later snapshots. Result items carrying an `error`
//! (`TRACKING.TRACKINGNUMBER.NOTFOUND`) are not events and yield nothing.
//!
//! Classification comes from `mappings/fedex.json` (see `mapping`). Codes missing there become
//! status `unknown` (milestone and code `unknown`) with the carrier code kept, so they are counted
//! downstream, never dropped; `derivedStatusCode` is not used as a fallback. Rows marked
//! `no_status_change` (RR/RM/RC/RP/LP/RG/RD: customer requests and return-label emails) yield no
//! event. `signed_by` comes from the snapshot's `deliveryDetails`, on `DL` events only.

mod mapping;
mod payload;
mod scan;
mod timestamp;

pub use mapping::MappingError;

use gluey_contract::UpdateType;
use serde_json::{Map, Value};

use crate::format::{
    CarrierFormat, ParseError, ParsedRecord, ParsedUpdate, RawInput, ShipmentSplit,
};

const NAME: &str = "fedex.aiv";
const CARRIER: &str = "fedex";

/// The FedEx AIV push format (`fedex.aiv`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FedexAiv;

impl FedexAiv {
    /// Whether the embedded mapping table loaded; call at start-up to fail fast instead of
    /// dead-lettering every FedEx record.
    pub fn check_mapping(&self) -> Result<(), MappingError> {
        mapping::table().map(|_| ())
    }
}

impl CarrierFormat for FedexAiv {
    fn name(&self) -> &'static str {
        NAME
    }

    fn carrier(&self) -> &'static str {
        CARRIER
    }

    fn parse(&self, input: RawInput<'_>) -> Result<Vec<ParsedRecord>, ParseError> {
        let table = mapping::table().map_err(|e| shape(e.to_string()))?;
        let root = payload::parse_json(input.payload)?;
        let mut events = Vec::new();
        let mut updates: Vec<ParsedRecord> = Vec::new();
        for result in payload::track_results(&root)? {
            let (false, Some(tracking_number)) = (result.is_error, result.tracking_number) else {
                continue;
            };
            let mut scans = scan::events(table, tracking_number, &result)?;
            // FedEx lists scans newest first: reversed, a stable sort by time keeps ties in
            // reversed array order (CARRIERS.md 5.2).
            scans.reverse();
            events.extend(scans);
            if let Some(eta) = scan::estimated_delivery(&result)? {
                let update = ParsedRecord::Update {
                    tracking_number: tracking_number.to_string(),
                    update: ParsedUpdate {
                        update_type: UpdateType::EtaChanged,
                        new_eta: Some(eta),
                        new_tracking_number: None,
                    },
                };
                if !updates.contains(&update) {
                    updates.push(update);
                }
            }
        }
        events.sort_by_key(|e| e.occurred_at);
        Ok(events
            .into_iter()
            .map(|e| e.record)
            .chain(updates)
            .collect())
    }

    fn split(&self, payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
        payload::split(payload)
    }
}

fn shape(reason: impl Into<String>) -> ParseError {
    ParseError::Shape {
        format: NAME,
        reason: reason.into(),
    }
}

/// A trimmed, non-empty string field; other JSON types count as absent.
fn text<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}
