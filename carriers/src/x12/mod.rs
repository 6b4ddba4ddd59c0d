//! ANSI X12 214 (Transportation Carrier Shipment Status) files, format `x12.214` (CARRIERS.md
//! 2.1, 2.4), delivered by sFTP. This module owns turning one 214 transaction into canonical
//! records: one tracking event per AT7 status, oldest first (a file is never assumed sorted; ties
//! keep file order), ETA updates for estimate codes; and splitting an interchange into one
//! standalone piece per shipment. It is pure: no I/O besides the mapping file embedded at build
//! time.
//!
//! **Raw record and file context.** One raw record is one ST…SE transaction. Ingest reads the
//! interchange's envelope and puts it in the record's context; every key is optional:
//! - `element_separator`, `segment_terminator`, `sub_element_separator`: one character each
//!   (ISA's position 3, the character after ISA16, ISA16). When absent, the record's own ISA
//!   gives them, else its first segment (see `segments`).
//! - `isa_sender`, `isa_receiver` (ISA06, ISA08, trimmed), `gs_sender` (GS02), `file` (the file
//!   name): where the record came from, for operators; the parser does not need them.
//! - `default_zone`: an IANA zone (e.g. `America/Chicago`) for `LT` times whose places name no
//!   zone; the documented default of the sending carrier, flagged `assumed_default`. Without it,
//!   such times are read as UTC, also flagged `assumed_default`.
//!
//! The parser also accepts a record that still has its ISA/GS envelope, or a whole interchange
//! with several transactions (each parsed in turn): `split` makes such pieces.
//!
//! **Identity fields** (DESIGN.md, Identity): the carrier namespace is the envelope's carrier
//! (`RawInput.carrier`, e.g. `ups`; `x12` when the envelope does not say), so a 214 from a carrier
//! that also has an API lands in that carrier's namespace; the tracking number is B10-01 (the
//! carrier's PRO / reference number), else B10-02 (the shipment identification / BOL), trimmed;
//! then the AT7-01 code upper-cased and the event time in UTC truncated to the minute. Nothing
//! else: the MS1 city and the reason code are not on every route of a carrier, and SCAC or
//! control numbers change with every resend. Example: `AT7*D1*NS***20240116*1432*LT` in Leeds for
//! `B10*PRO123456*BOL998877*ABCD` → `event_id("x12", "PRO123456", "D1", 2024-01-16T14:32Z)`.
//! The cost: two AT7s with the same code for the same shipment in the same minute share an id.
//!
//! Field choices: `carrier_code` is AT7-01 as sent (for an appointment-only AT7, AT7-03, matched
//! by mapping rows of type `appointment`); `carrier_sub_code` is AT7-02 (AT7-04); there is no
//! description (214 has none); the location is MS1 (city, state, country), else an N4 inside the
//! LX loop. Time: AT7-05/06/07 (see `transaction`). AG (estimated delivery) and X2 (estimated
//! arrival at consignee), and an AB delivery appointment, become an ETA update at their date and
//! time; all estimate codes (AG, X2, B6, C1, AA) are `no_status_change` rows, so no event. AT8
//! (weights, lading quantity) and L11 references are not read.

mod mapping;
mod segments;
mod transaction;

use std::collections::BTreeMap;

use chrono_tz::Tz;
use gluey_contract::Route;

use crate::event::{classify, oldest_first, Scan};
use crate::format::{CarrierFormat, ParseError, Parsed, ParsedRecord, RawInput, ShipmentSplit};
use crate::mapping::{MappingError, MappingTable};

const FORMAT: &str = "x12.214";

/// The carrier namespace when the envelope does not name one.
const DEFAULT_CARRIER: &str = "x12";

/// Status codes (AT7-01) whose date and time are the estimated delivery.
const ETA_CODES: [&str; 2] = ["AG", "X2"];

/// Appointment codes (AT7-03) whose date and time are the delivery appointment.
const ETA_APPOINTMENTS: [&str; 1] = ["AB"];

/// ANSI X12 214 transactions (`x12.214`).
#[derive(Debug, Clone, Copy, Default)]
pub struct X12Status;

impl CarrierFormat for X12Status {
    fn name(&self) -> &'static str {
        FORMAT
    }

    fn carrier(&self) -> &'static str {
        DEFAULT_CARRIER
    }

    fn description(&self) -> &'static str {
        "ANSI X12 214 shipment status (one ST…SE transaction per record, AT7 events), sFTP file"
    }

    fn routes(&self) -> &'static [Route] {
        &[Route::Sftp]
    }

    fn mapping(&self) -> Result<&'static MappingTable, MappingError> {
        mapping::table()
    }

    fn parse(&self, input: RawInput<'_>) -> Result<Parsed, ParseError> {
        let table = mapping::table().map_err(|e| shape(e.to_string()))?;
        let carrier = match input.carrier.trim() {
            "" => DEFAULT_CARRIER,
            carrier => carrier,
        };
        let default_zone = default_zone(input.context)?;
        let text = segments::text(input.payload)?;
        let separators = segments::separators(text, input.context)?;
        let segments = segments::segments(text, separators);
        let mut parsed = Parsed::default();
        let mut updates: Vec<ParsedRecord> = Vec::new();
        for transaction in segments::transactions(&segments)? {
            let read = transaction::read(&transaction, default_zone)?;
            for status in read.statuses {
                let eta = is_eta(&status).then_some(status.time.utc);
                let scan = Scan {
                    tracking_number: read.tracking_number.clone(),
                    carrier_code: status.code,
                    kind: status.kind,
                    reason: status.reason,
                    time: Some(status.time),
                    location: status.location,
                    ..Scan::default()
                };
                match classify(carrier, table, scan) {
                    Ok(record) => parsed.records.push(record),
                    Err(skip) => parsed.skipped.push(skip),
                }
                if let Some(eta) = eta {
                    crate::event::push_eta(&mut updates, &read.tracking_number, eta);
                }
            }
        }
        oldest_first(&mut parsed.records);
        parsed.records.extend(updates);
        Ok(parsed)
    }

    fn split(&self, payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
        segments::split(payload, transaction::tracking_number)
    }
}

fn is_eta(status: &transaction::Status) -> bool {
    let code = status.code.trim().to_ascii_uppercase();
    match status.kind.as_deref() {
        None => ETA_CODES.contains(&code.as_str()),
        Some(transaction::APPOINTMENT) => ETA_APPOINTMENTS.contains(&code.as_str()),
        Some(_) => false,
    }
}

/// The `default_zone` context key, if any.
fn default_zone(context: &BTreeMap<String, String>) -> Result<Option<Tz>, ParseError> {
    context
        .get("default_zone")
        .map(|name| {
            name.trim()
                .parse::<Tz>()
                .map_err(|_| shape(format!("context default_zone {name:?} is not an iana zone")))
        })
        .transpose()
}

fn shape(reason: impl Into<String>) -> ParseError {
    ParseError::Shape {
        format: FORMAT,
        reason: reason.into(),
    }
}
