//! DHL Shipment Tracking – Unified, polled (`dhl.unified`) and pushed (`dhl.push`). This module
//! owns turning a Unified response or a Unified Push body into canonical records: one tracking
//! event per `events[]` entry, oldest first (DHL lists them newest first), plus an ETA update
//! when the shipment has an estimated delivery; and splitting a payload per shipment id. It is
//! pure: no I/O besides the mapping file embedded at build time. The invariant it keeps is that
//! one DHL event gets one `event_id` and one content whichever route and payload brought it.
//!
//! **Identity fields** (DESIGN.md, Identity): carrier `dhl`, the shipment `id`, the upper-cased
//! `statusCode`, the event time in UTC truncated to the minute, and the event's description
//! (whitespace collapsed, lower-cased; the `status` text when there is no description). Example:
//! `dhl | 00340434161094022115 | TRANSIT | 2024-05-14T09:41Z | the shipment has been loaded onto
//! the delivery vehicle`. Why the description: `statusCode` has five values, so it is not a code
//! of the scan; DHL's description is the only fine-grained thing it says, and CARRIERS.md 3
//! suggests `shipment id + event timestamp + statusCode + description hash`. Without it, "arrived
//! at the hub" and "departed the hub" in one minute would be one event. The cost: the text
//! depends on the request language, so every route must use the same one (poll with the
//! subscription's language; the default is English). Left out, because not every route supplies
//! them identically:
//! - `service`: the Unified response names it, but the push body's fields are per service and
//!   undocumented (CARRIERS.md 7), and a push for a tracking-id subscription may not carry it.
//!   It is used to keep other divisions' shipments out instead (below).
//! - the location (`addressLocality` is free text, sometimes street and city in one field, and
//!   only some events have one).
//!
//! **Other divisions' shipments.** Without `service`, DHL may answer with another division's
//! shipment that has the same id. When the raw envelope's context names the `service` the poll
//! asked for, a shipment of another service is reported as skipped (item error); without it, an
//! id that comes back under two or more services is skipped in the same way, all of its
//! shipments, rather than mixing two parcels' histories in one shipment. The shipment key stays
//! `dhl:<id>`. Ingest should always poll with `service` and put it in the envelope context.
//!
//! **Push body.** DHL says the pushed body "is not a unified structure" and varies by service;
//! the only shape CARRIERS.md shows is the Unified shipment object, so `dhl.push` reads that:
//! a Unified response (`{"shipments": [...]}`), one shipment object, or an array of them. A body
//! that carries only the shipment's `status` (no `events`) gives one event from `status`. Any
//! other body is a shape error, dead-lettered with the reason and replayable once a per-service
//! sub-parser exists. Both formats accept the same shapes and differ only in name and route.
//!
//! **Times.** Event times come with or without an offset (`status.timestamp` has `Z`, the same
//! event in `events[]` has none). An offset-less time is local to the event's location: the
//! `countryCode`, else a country name ending `addressLocality` (`"Köln, Germany"`), resolved
//! through the IANA zone; without one, Europe/Berlin flagged `assumed_default` (DHL documents no
//! default). Multi-zone countries without a region (US, CA, AU) also fall back to that default.
//!
//! **Field choices.** `carrier_code` is `statusCode` as sent; there is no sub-code;
//! `carrier_description` is `description` verbatim, else `status`. Classification comes from
//! `mappings/dhl.json`: the code plus ordered description rules; `unknown` has no row and maps
//! to status `unknown`, which keeps the previous status while recording the event. `signed_by`
//! (`details.proofOfDelivery.signed`) and `proof_of_delivery_ref` (its `documentUrl`) are set on
//! `delivered` events only. The ETA is `estimatedTimeOfDelivery`, else the end of
//! `estimatedDeliveryTimeFrame`.

mod locality;
mod mapping;
mod payload;
mod scan;

use gluey_contract::Route;
use serde_json::{Map, Value};

use crate::event::oldest_first;
use crate::format::{CarrierFormat, ParseError, Parsed, ParsedRecord, RawInput, ShipmentSplit};
use crate::mapping::{MappingError, MappingTable};

/// Identity namespace shared by every DHL format, so an event has one `event_id` whichever route
/// brought it.
const CARRIER: &str = "dhl";

/// The envelope context key naming the `service` a poll asked for.
pub const SERVICE_CONTEXT_KEY: &str = "service";

/// DHL Shipment Tracking – Unified responses (`dhl.unified`), polled.
#[derive(Debug, Clone, Copy, Default)]
pub struct DhlUnified;

/// DHL Shipment Tracking – Unified Push bodies (`dhl.push`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DhlPush;

const UNIFIED: &str = "dhl.unified";
const PUSH: &str = "dhl.push";

/// Error messages name the format the payload came as.
fn parse_as(format: &'static str, input: RawInput<'_>) -> Result<Parsed, ParseError> {
    let table = mapping::table().map_err(|e| shape(format, e.to_string()))?;
    let root = payload::parse_json(input.payload)?;
    let all = payload::shipments(format, &root)?;
    let expected_service = input
        .context
        .get(SERVICE_CONTEXT_KEY)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    let (shipments, skipped) = payload::attributable(&all, expected_service);
    let mut parsed = Parsed {
        records: Vec::new(),
        skipped,
    };
    let mut updates: Vec<ParsedRecord> = Vec::new();
    for shipment in shipments {
        let (mut events, skipped) = scan::events(format, table, shipment)?;
        // Newest first: reversed, a stable sort by time keeps ties in reversed array order
        // (CARRIERS.md 5.2).
        events.reverse();
        parsed.records.extend(events);
        parsed.skipped.extend(skipped);
        if let Some(eta) = scan::estimated_delivery(shipment)? {
            crate::event::push_eta(&mut updates, shipment.id, eta);
        }
    }
    oldest_first(&mut parsed.records);
    parsed.records.extend(updates);
    Ok(parsed)
}

impl CarrierFormat for DhlUnified {
    fn name(&self) -> &'static str {
        UNIFIED
    }

    fn carrier(&self) -> &'static str {
        CARRIER
    }

    fn description(&self) -> &'static str {
        "DHL Shipment Tracking - Unified response (shipments[].events[]), DHL-API-Key poll"
    }

    fn routes(&self) -> &'static [Route] {
        &[Route::Api]
    }

    fn mapping(&self) -> Result<&'static MappingTable, MappingError> {
        mapping::table()
    }

    fn parse(&self, input: RawInput<'_>) -> Result<Parsed, ParseError> {
        parse_as(UNIFIED, input)
    }

    fn split(&self, payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
        payload::split(UNIFIED, payload)
    }
}

impl CarrierFormat for DhlPush {
    fn name(&self) -> &'static str {
        PUSH
    }

    fn carrier(&self) -> &'static str {
        CARRIER
    }

    fn description(&self) -> &'static str {
        "DHL Shipment Tracking - Unified Push body (Unified shipment objects), static header token"
    }

    fn routes(&self) -> &'static [Route] {
        &[Route::Webhook]
    }

    fn mapping(&self) -> Result<&'static MappingTable, MappingError> {
        mapping::table()
    }

    fn parse(&self, input: RawInput<'_>) -> Result<Parsed, ParseError> {
        parse_as(PUSH, input)
    }

    fn split(&self, payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
        payload::split(PUSH, payload)
    }
}

fn shape(format: &'static str, reason: impl Into<String>) -> ParseError {
    ParseError::Shape {
        format,
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
