//! Royal Mail Tracking API v2 responses, format `royalmail.v2` (CARRIERS.md 1.2). This module owns
//! turning an events-endpoint response (`GET /{mailPieceId}/events`: one mail piece with its full
//! history) or a summary-endpoint response (`GET /summary?mailPieceId=A,B,…`: up to 30 mail
//! pieces, each with its latest event or a per-item error) into canonical records: one tracking
//! event per event, oldest first (Royal Mail lists them newest first), plus an ETA update from
//! `estimatedDelivery`; and splitting a summary response per mail piece. It is pure: no I/O
//! besides the mapping file embedded at build time. The invariant it keeps is that an event has
//! one `event_id` whichever endpoint reported it.
//!
//! **Identity fields** (DESIGN.md, Identity): carrier `royalmail`, `mailPieceId`, the upper-cased
//! `eventCode` and `eventDateTime` in UTC truncated to the minute, as CARRIERS.md 3 suggests
//! (`mailPieceId + eventCode + eventDateTime`). Example: `royalmail | RM123456785GB | EVKSF |
//! 2024-03-28T13:02Z`. The summary endpoint reports the same event as `lastEventCode` and
//! `lastEventDateTime`, so both endpoints give one id. Left out: the location name (null on some
//! events, and a free-text office name), and Royal Mail has no per-event id.
//!
//! **Tracking number.** `mailPieceId`, the number the poll asked for. `summary.uniqueItemId`
//! (the 2D barcode) and `summary.oneDBarcode` (the S10 barcode) identify the same item; they are
//! aliases for the shipments topic, not separate shipments, and are not read here.
//!
//! **Times.** `eventDateTime` is ISO 8601 with an offset (`+01:00` in BST, `+00:00` in GMT), used
//! as given: `10:04:00+01:00` is 09:04 UTC, never 10:04 UTC. A time without one (not seen in v2)
//! is read as UK time flagged `assumed_default`. The estimated window is time-only with an offset
//! (`"startOfEstimatedWindow": "08:00:00+01:00"`) and takes its date from `estimatedDelivery.date`.
//!
//! **Field choices.** `carrier_code` is `eventCode` as sent; there is no sub-code;
//! `carrier_description` is `eventName` verbatim; the location is `locationName` as the location's
//! name (Royal Mail gives no address or country per event). On events the mapping classifies as
//! delivered, `signed_by` is `signature.recipientName` and `proof_of_delivery_ref` its `imageId`.
//! The ETA is the end of the estimated window, else its start, else the date at midnight UK time.
//! When `events[]` is present the `summary` repeats its newest event and is not read again; the
//! summary's last event is read only when there are no events (the summary endpoint).
//!
//! **Errors.** A summary item with an `error` (`E1142`, barcode not recognised) inside a 200 is not
//! an event: it is reported as skipped (item error), even when the item also carries a summary. A
//! request-level error body (`{httpCode, errors[]}`, e.g. `E0004`) is a shape error naming the code.
//! Codes missing from `mappings/royalmail.json` become status `unknown`, kept and counted; rows
//! marked `no_status_change` (the `R*RXS`/`ASRXS` customer requests) yield no event.

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

/// Identity namespace of every Royal Mail format.
const CARRIER: &str = "royalmail";

const V2: &str = "royalmail.v2";

/// Royal Mail Tracking API v2 responses (`royalmail.v2`): events and summary endpoints.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoyalMailV2;

fn parse(input: RawInput<'_>) -> Result<Parsed, ParseError> {
    let table = mapping::table().map_err(|e| shape(e.to_string()))?;
    let root = payload::parse_json(input.payload)?;
    let mut parsed = Parsed::default();
    let mut updates: Vec<ParsedRecord> = Vec::new();
    for piece in payload::mail_pieces(&root)? {
        let (None, Some(id)) = (piece.error, piece.id) else {
            parsed.skipped.push(item_error(&piece));
            continue;
        };
        let (mut events, skipped) = scan::events(table, id, &piece)?;
        // Newest first: reversed, a stable sort by time keeps ties in reversed array order.
        events.reverse();
        parsed.records.extend(events);
        parsed.skipped.extend(skipped);
        if let Some(eta) = scan::estimated_delivery(&piece)? {
            crate::event::push_eta(&mut updates, id, eta);
        }
    }
    oldest_first(&mut parsed.records);
    parsed.records.extend(updates);
    Ok(parsed)
}

/// A summary item Royal Mail answered with an `error`: no data, reported as skipped.
fn item_error(piece: &payload::MailPiece<'_>) -> Skipped {
    let field = |k: &str| {
        piece
            .error
            .and_then(|e| text(e, k))
            .unwrap_or_default()
            .to_string()
    };
    Skipped {
        tracking_number: piece.id.map(str::to_string),
        carrier_code: field("errorCode"),
        why: SkipReason::ItemError {
            message: field("errorDescription"),
        },
    }
}

impl CarrierFormat for RoyalMailV2 {
    fn name(&self) -> &'static str {
        V2
    }

    fn carrier(&self) -> &'static str {
        CARRIER
    }

    fn description(&self) -> &'static str {
        "Royal Mail Tracking API v2 response (mailPieces: events or summary), X-IBM-Client-Id poll"
    }

    fn routes(&self) -> &'static [Route] {
        &[Route::Api]
    }

    fn mapping(&self) -> Result<&'static MappingTable, MappingError> {
        mapping::table()
    }

    fn parse(&self, input: RawInput<'_>) -> Result<Parsed, ParseError> {
        parse(input)
    }

    fn split(&self, payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
        payload::split(payload)
    }
}

fn shape(reason: impl Into<String>) -> ParseError {
    ParseError::Shape {
        format: V2,
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
