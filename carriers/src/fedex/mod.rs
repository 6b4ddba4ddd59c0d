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

use gluey_contract::Route;
use serde_json::{Map, Value};

use crate::event::oldest_first;
use crate::format::{
    CarrierFormat, ParseError, Parsed, ParsedRecord, RawInput, ShipmentSplit, SkipReason, Skipped,
};
use crate::mapping::{MappingError, MappingTable};

/// Identity namespace shared by every FedEx format, so a scan has one `event_id` whichever route
/// brought it.
const CARRIER: &str = "fedex";

/// FedEx AIV pushes (`fedex.aiv`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FedexAiv;

/// FedEx Track API responses (`fedex.track`): `output.completeTrackResults[].trackResults[]`,
/// the same `trackResult` objects as AIV pushes, so the same parser.
#[derive(Debug, Clone, Copy, Default)]
pub struct FedexTrack;

const AIV: &str = "fedex.aiv";
const TRACK: &str = "fedex.track";

/// Error messages name the format the payload came as.
fn parse_as(format: &'static str, input: RawInput<'_>) -> Result<Parsed, ParseError> {
    let table = mapping::table().map_err(|e| shape_of(format, e.to_string()))?;
    let root = payload::parse_json(input.payload)?;
    let mut parsed = Parsed::default();
    let mut updates: Vec<ParsedRecord> = Vec::new();
    for result in payload::track_results(&root)? {
        let (false, Some(tracking_number)) = (result.is_error, result.tracking_number) else {
            parsed.skipped.push(item_error(&result));
            continue;
        };
        let (mut scans, skipped) = scan::events(table, tracking_number, &result)?;
        // FedEx lists scans newest first: reversed, a stable sort by time keeps ties in
        // reversed array order (CARRIERS.md 5.2).
        scans.reverse();
        parsed.records.extend(scans);
        parsed.skipped.extend(skipped);
        if let Some(eta) = scan::estimated_delivery(&result)? {
            crate::event::push_eta(&mut updates, tracking_number, eta);
        }
    }
    oldest_first(&mut parsed.records);
    parsed.records.extend(updates);
    Ok(parsed)
}

/// A result item FedEx answered with an `error` (`TRACKING.TRACKINGNUMBER.NOTFOUND`): no data,
/// reported as skipped.
fn item_error(result: &payload::TrackResult<'_>) -> Skipped {
    let error = result.object.get("error").and_then(Value::as_object);
    let field = |k: &str| {
        error
            .and_then(|e| text(e, k))
            .unwrap_or_default()
            .to_string()
    };
    Skipped {
        tracking_number: result.tracking_number.map(str::to_string),
        carrier_code: field("code"),
        why: SkipReason::ItemError {
            message: field("message"),
        },
    }
}

impl CarrierFormat for FedexAiv {
    fn name(&self) -> &'static str {
        AIV
    }

    fn carrier(&self) -> &'static str {
        CARRIER
    }

    fn description(&self) -> &'static str {
        "FedEx Advanced Integrated Visibility push (trackResult snapshot), fdx-signature HMAC"
    }

    fn routes(&self) -> &'static [Route] {
        &[Route::Webhook]
    }

    fn mapping(&self) -> Result<&'static MappingTable, MappingError> {
        mapping::table()
    }

    fn parse(&self, input: RawInput<'_>) -> Result<Parsed, ParseError> {
        parse_as(AIV, input)
    }

    fn split(&self, payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
        payload::split(payload)
    }
}

impl CarrierFormat for FedexTrack {
    fn name(&self) -> &'static str {
        TRACK
    }

    fn carrier(&self) -> &'static str {
        CARRIER
    }

    fn description(&self) -> &'static str {
        "FedEx Track API response (output.completeTrackResults, scanEvents), OAuth poll"
    }

    fn routes(&self) -> &'static [Route] {
        &[Route::Api]
    }

    fn mapping(&self) -> Result<&'static MappingTable, MappingError> {
        mapping::table()
    }

    fn parse(&self, input: RawInput<'_>) -> Result<Parsed, ParseError> {
        parse_as(TRACK, input)
    }

    fn split(&self, payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
        payload::split(payload)
    }
}

fn shape_of(format: &'static str, reason: impl Into<String>) -> ParseError {
    ParseError::Shape {
        format,
        reason: reason.into(),
    }
}

fn shape(reason: impl Into<String>) -> ParseError {
    ParseError::Shape {
        format: AIV,
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
