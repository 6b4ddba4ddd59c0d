//! USPS Tracking API v3 responses, format `usps.v3` (CARRIERS.md 1.9): `GET
//! /tracking/v3/tracking/{trackingNumber}?expand=DETAIL` with an OAuth2 bearer token, polled. This
//! module owns turning a response into canonical records: one tracking event per
//! `trackingEvents[]` entry, oldest first (USPS lists them newest first: the array is reversed and
//! ties keep that reversed order), plus an ETA update from the expected delivery; and splitting a
//! payload per tracking number. It is pure: no I/O besides the mapping file embedded at build time.
//!
//! Every poll repeats the whole history, so the same scan arrives many times; the invariant this
//! module keeps is that a scan gets the same `event_id` and the same content every time, and the
//! same id whichever USPS route brought it.
//!
//! **Identity fields** (DESIGN.md, Identity): carrier `usps`, `trackingNumber` (trimmed), the
//! `eventCode` normalised by the mapping file (upper-cased, leading zeros stripped: `"01"` and `"1"`
//! are one code), and the event instant in UTC truncated to the minute. CARRIERS.md 3 suggests
//! `trackingNumber + eventCode + GMTTimestamp`; the minute, not the second, because only
//! `GMTTimestamp` has real seconds while `eventTimestamp` has them zeroed, and a route that carries
//! only the local time (or a subscription push, whose payload is an onboarding gap, CARRIERS.md 7)
//! must land on the same id. Left out, because no route is known to carry them identically:
//! `uniqueMailPieceId` (per piece, not per scan; only with `expand=DETAIL`) and the event ZIP (the
//! same scan shows a facility name in `eventCity` on some responses). Example: `01` at
//! `2024-11-22T13:58:00` local, `2024-11-22T18:58:40Z` GMT, for `9400109205328003425036` →
//! `event_id("usps", "9400109205328003425036", "1", 2024-11-22T18:58Z)`.
//! The cost: two scans with the same code for the same number in the same minute share an id, and
//! the normalizer treats the second as a revision of the first.
//!
//! Field choices: `carrier_code` is `eventCode` as sent (a missing code is empty and maps to
//! `unknown`); `carrier_sub_code` is `reasonCode`; `carrier_description` is `eventType` verbatim;
//! `signed_by` is the event's `name` (USPS fills it on delivery scans only); the location is
//! `eventCity` verbatim (it can be a facility name), `eventState`, `eventZIP`, and `eventCountry`
//! when it is an ISO code, `US` when it is null (domestic). Times: see `scan`. The ETA is
//! `expectedDeliveryTimeStamp`, else `guaranteedDeliveryTimeStamp`, else `predictedDeliveryDate`
//! (+ `predictedDeliveryWindowEndTime`), local at the destination state. String booleans
//! (`"authorizedAgent":"false"`) and the HTML in `mailClass` are not read.
//!
//! Per-item errors (an item with an `error` object and a `trackingNumber`) are skipped as item
//! errors; a payload that is only USPS's `ErrorMessage` is a shape error. A response with only
//! `eventSummaries` (the `SUMMARY` expansion) cannot be read event by event and is a shape error.
//! There is no documented USPS default time zone; when a location does not give one, times are
//! resolved in America/New_York and flagged `assumed_default`.

mod mapping;
mod payload;
mod scan;

use chrono_tz::Tz;
use gluey_contract::Route;
use serde_json::{Map, Value};

use crate::event::oldest_first;
use crate::format::{
    CarrierFormat, ParseError, Parsed, ParsedRecord, RawInput, ShipmentSplit, SkipReason, Skipped,
};
use crate::mapping::{MappingError, MappingTable};

/// Identity namespace shared by every USPS format (the v3 poll and, when it comes, the
/// subscription push), so a scan has one `event_id` whichever route brought it.
pub(crate) const CARRIER: &str = "usps";

const FORMAT: &str = "usps.v3";

/// Where offset-less USPS times go when the location does not name a zone (flagged assumed).
pub(crate) const DEFAULT_ZONE: Tz = chrono_tz::America::New_York;

/// USPS Tracking API v3 responses (`usps.v3`).
#[derive(Debug, Clone, Copy, Default)]
pub struct UspsV3;

impl CarrierFormat for UspsV3 {
    fn name(&self) -> &'static str {
        FORMAT
    }

    fn carrier(&self) -> &'static str {
        CARRIER
    }

    fn description(&self) -> &'static str {
        "USPS Tracking API v3 response (trackingEvents, expand=DETAIL), OAuth2 poll"
    }

    fn routes(&self) -> &'static [Route] {
        &[Route::Api]
    }

    fn mapping(&self) -> Result<&'static MappingTable, MappingError> {
        mapping::table()
    }

    fn parse(&self, input: RawInput<'_>) -> Result<Parsed, ParseError> {
        let table = mapping::table().map_err(|e| shape(e.to_string()))?;
        let root = payload::parse_json(input.payload)?;
        let mut parsed = Parsed::default();
        let mut updates: Vec<ParsedRecord> = Vec::new();
        for item in payload::items(&root)? {
            let (false, Some(tracking_number)) = (item.is_error, item.tracking_number) else {
                parsed.skipped.push(item_error(&item));
                continue;
            };
            let (mut scans, skipped) = scan::events(table, tracking_number, &item)?;
            // Newest first: reversed, a stable sort by time keeps ties in reversed array order.
            scans.reverse();
            parsed.records.extend(scans);
            parsed.skipped.extend(skipped);
            if let Some(eta) = scan::expected_delivery(&item)? {
                crate::event::push_eta(&mut updates, tracking_number, eta);
            }
        }
        oldest_first(&mut parsed.records);
        parsed.records.extend(updates);
        Ok(parsed)
    }

    fn split(&self, payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
        payload::split(payload)
    }
}

/// An item USPS answered with an `error`: no data, reported as skipped.
fn item_error(item: &payload::Item<'_>) -> Skipped {
    let (code, message) = payload::error_parts(item.object);
    Skipped {
        tracking_number: item.tracking_number.map(str::to_string),
        carrier_code: code,
        why: SkipReason::ItemError { message },
    }
}

fn shape(reason: impl Into<String>) -> ParseError {
    ParseError::Shape {
        format: FORMAT,
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
