//! Building a canonical tracking event from what a carrier module extracted: the classification
//! through the carrier's mapping table, the `event_id`, the time fields. Every carrier module goes
//! through here, so the same rules hold for all of them.

use chrono::{DateTime, Utc};
use gluey_contract::{Location, TrackingEvent};

use crate::format::{ParsedRecord, ParsedUpdate, SkipReason, Skipped};
use crate::identity;
use crate::mapping::{Canonical, MappingTable, Outcome, RawCode};
use crate::time::EventTime;

/// A scan as a carrier module read it, before classification.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub tracking_number: String,
    /// The carrier's code, verbatim (`carrier_code`).
    pub carrier_code: String,
    /// The type a row may match on (UPS activity type), if the carrier has one.
    pub kind: Option<String>,
    /// The reason or sub-code (FedEx exception code, X12 status reason); `carrier_sub_code`.
    pub reason: Option<String>,
    pub description: Option<String>,
    pub time: Option<EventTime>,
    pub location: Option<Location>,
    pub eta: Option<DateTime<Utc>>,
    pub signed_by: Option<String>,
    pub proof_of_delivery_ref: Option<String>,
    /// Extra identity fields the carrier module declares (see each module's docs).
    pub identity_extra: Vec<String>,
}

/// Classifies `scan` and builds its record, or reports it skipped. `carrier` names the identity
/// namespace: the same for every format of one carrier, so routes agree on `event_id`.
pub fn classify(carrier: &str, table: &MappingTable, scan: Scan) -> Result<ParsedRecord, Skipped> {
    let raw = RawCode {
        code: &scan.carrier_code,
        kind: scan.kind.as_deref(),
        reason: scan.reason.as_deref(),
        description: scan.description.as_deref(),
    };
    let (canonical, mapping_row) = match table.lookup(raw) {
        Some((row, Outcome::NoStatusChange)) => {
            return Err(Skipped {
                tracking_number: Some(scan.tracking_number),
                carrier_code: scan.carrier_code,
                why: SkipReason::NoStatusChange { mapping_row: row },
            })
        }
        Some((row, Outcome::Event(c))) => (c.clone(), Some(row)),
        None => (Canonical::unknown(), None),
    };
    let normalised = table.normalise_code(&scan.carrier_code);
    let time = scan.time.unwrap_or_else(|| EventTime {
        utc: DateTime::<Utc>::UNIX_EPOCH,
        local: DateTime::<Utc>::UNIX_EPOCH.naive_utc(),
        offset_seconds: 0,
        source: gluey_contract::OffsetSource::AssumedDefault,
        flags: vec!["time_missing".into()],
    });
    let extra: Vec<&str> = scan.identity_extra.iter().map(String::as_str).collect();
    let event_id = identity::event_id(
        carrier,
        &scan.tracking_number,
        &normalised,
        time.utc,
        &extra,
    );
    let mut event = TrackingEvent {
        status: canonical.status,
        milestone: canonical.milestone,
        code: canonical.code,
        sub_code: canonical.sub_code,
        carrier_code: scan.carrier_code,
        carrier_sub_code: scan.reason,
        carrier_description: scan.description,
        occurred_at: time.utc,
        occurred_at_local: String::new(),
        utc_offset_seconds: 0,
        offset_source: time.source,
        time_flags: Vec::new(),
        location: scan.location,
        eta: scan.eta,
        signed_by: scan.signed_by,
        proof_of_delivery_ref: scan.proof_of_delivery_ref,
        flags: canonical.flags,
    };
    time.apply(&mut event);
    Ok(ParsedRecord::Event {
        tracking_number: scan.tracking_number,
        event_id,
        event,
        mapping_row,
    })
}

/// Sorts records oldest first; ties keep their order (callers pass newest-first arrays reversed,
/// CARRIERS.md 5.2). Updates go after events.
pub fn oldest_first(records: &mut [ParsedRecord]) {
    records.sort_by_key(|r| match r {
        ParsedRecord::Event { event, .. } => (0, event.occurred_at),
        ParsedRecord::Update { .. } => (1, DateTime::<Utc>::UNIX_EPOCH),
    });
}

/// Adds an ETA update for `tracking_number` to `updates`, once per (number, ETA) in a payload.
pub fn push_eta(updates: &mut Vec<ParsedRecord>, tracking_number: &str, eta: DateTime<Utc>) {
    let update = ParsedRecord::Update {
        tracking_number: tracking_number.to_string(),
        update: ParsedUpdate {
            update_type: gluey_contract::UpdateType::EtaChanged,
            new_eta: Some(eta),
            new_tracking_number: None,
        },
    };
    if !updates.contains(&update) {
        updates.push(update);
    }
}
