//! From one raw record to what should be published: pure, given the current shipment state.
//!
//! Rules (DESIGN.md, CARRIERS.md §5.2): an `event_id` already published with the same content is a
//! duplicate; with different content it is republished with a higher `revision`. Each output gets
//! the shipment's next `sequence`. The status follows the latest event by carrier time, except
//! that after `delivered` (terminal) only an explicit return moves it: later scans are published
//! with the `post_terminal` flag and not re-notified. Events older than the latest keep the status
//! and carry `out_of_order`. Events with an unmapped code never change the status.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use gluey_carriers::{ParsedRecord, ParsedUpdate};
use gluey_contract::{
    CanonicalRecord, RawEnvelope, RawReference, RecordType, ShipmentSummary, ShipmentUpdate,
    Status, TrackingEvent,
};

use crate::shipment_book::{
    event_content_hash, hash_json, observe_into, SeenState, ShipmentBook, ShipmentEntry,
    OUT_OF_ORDER, POST_TERMINAL,
};

/// Who a shipment belongs to.
#[derive(Debug, Clone)]
pub struct Owner {
    pub shipment_key: String,
    pub customer_id: String,
    pub shipment_id: Option<String>,
}

/// What to publish for one raw record.
#[derive(Debug, Default)]
pub struct Plan {
    pub outputs: Vec<CanonicalRecord>,
    pub duplicates: usize,
}

/// Everything about the raw record the outputs refer back to.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub envelope: &'a RawEnvelope,
    pub raw_ref: &'a RawReference,
    pub now: DateTime<Utc>,
}

/// Plans the outputs of `parsed` (records of one shipment, oldest first).
pub fn plan(
    parsed: Vec<ParsedRecord>,
    owner: &Owner,
    book: &ShipmentBook,
    source: Source<'_>,
) -> Plan {
    let mut working: HashMap<String, ShipmentEntry> = HashMap::new();
    let mut plan = Plan::default();
    for record in parsed {
        let entry = working
            .entry(owner.shipment_key.clone())
            .or_insert_with(|| book.get(&owner.shipment_key).cloned().unwrap_or_default());
        let tracking_number = record.tracking_number().to_string();
        // The carrier switched to a number this shipment has not used yet (a relabel): say so
        // once, before the scan that shows it.
        if let Some(previous) = entry
            .current_tracking_number
            .clone()
            .filter(|_| !entry.tracking_numbers.contains(&tracking_number))
        {
            let id = format!(
                "up_{}",
                hash_json(&(
                    owner.shipment_key.as_str(),
                    "tracking_number_changed",
                    tracking_number.as_str()
                ))
            );
            if !entry.seen.contains(&id) {
                let summary = ShipmentSummary {
                    status: entry.status,
                    eta: entry.eta,
                    sequence: 0,
                    terminal: entry.terminal,
                };
                let mut update = blank(id, RecordType::ShipmentUpdate, 1, summary);
                update.update = Some(ShipmentUpdate {
                    update_type: gluey_contract::UpdateType::TrackingNumberChanged,
                    occurred_at: source.now,
                    previous_eta: None,
                    new_eta: None,
                    previous_tracking_number: Some(previous),
                    new_tracking_number: Some(tracking_number.clone()),
                });
                finish(&mut update, entry, owner, &source, &tracking_number);
                observe_into(entry, &update);
                plan.outputs.push(update);
            }
        }
        let output = match record {
            ParsedRecord::Event {
                event_id, event, ..
            } => plan_event(entry, event_id, event),
            ParsedRecord::Update { update, .. } => {
                plan_update(entry, &owner.shipment_key, update, source.now)
            }
        };
        let Some(mut output) = output else {
            plan.duplicates += 1;
            continue;
        };
        finish(&mut output, entry, owner, &source, &tracking_number);
        observe_into(entry, &output);
        plan.outputs.push(output);
    }
    plan
}

/// Fills in what every output of a raw record shares, and the shipment's next sequence.
fn finish(
    output: &mut CanonicalRecord,
    entry: &ShipmentEntry,
    owner: &Owner,
    source: &Source<'_>,
    tracking_number: &str,
) {
    output.sequence = entry.last_sequence + 1;
    output.shipment.sequence = output.sequence;
    output.shipment_key = owner.shipment_key.clone();
    output.customer_id = Some(owner.customer_id.clone());
    output.shipment_id = owner.shipment_id.clone();
    output.carrier = source.envelope.carrier.clone();
    output.tracking_number = tracking_number.to_string();
    output.route = source.envelope.route;
    output.received_at = source.envelope.received_at;
    output.published_at = source.now;
    output.raw_ref = source.raw_ref.clone();
    output.trace_id = source.envelope.trace_id.clone();
}

fn blank(
    record_id: String,
    record_type: RecordType,
    revision: i32,
    summary: ShipmentSummary,
) -> CanonicalRecord {
    CanonicalRecord {
        record_id,
        record_type,
        revision,
        sequence: 0,
        shipment_key: String::new(),
        shipment_id: None,
        customer_id: None,
        carrier: String::new(),
        tracking_number: String::new(),
        event: None,
        update: None,
        shipment: summary,
        route: gluey_contract::Route::Unknown,
        received_at: DateTime::<Utc>::UNIX_EPOCH,
        published_at: DateTime::<Utc>::UNIX_EPOCH,
        raw_ref: RawReference {
            envelope_id: String::new(),
            topic: String::new(),
            partition: 0,
            offset: 0,
        },
        trace_id: String::new(),
    }
}

/// The revision to publish `id` at, or `None` when the same content is already published (or
/// the id was published before its shipment was compacted).
fn revision_for(entry: &ShipmentEntry, id: &str, content_hash: &str) -> Option<i32> {
    match entry.seen.state(id) {
        SeenState::Unseen => Some(1),
        SeenState::Published(seen) if seen.content_hash == content_hash => None,
        SeenState::Published(seen) => Some(seen.revision + 1),
        SeenState::Compacted => None,
    }
}

fn plan_event(
    entry: &ShipmentEntry,
    event_id: String,
    mut event: TrackingEvent,
) -> Option<CanonicalRecord> {
    let revision = revision_for(entry, &event_id, &event_content_hash(&event))?;
    let mut status = entry.status;
    let mut terminal = entry.terminal;
    let is_latest = entry.latest_event_at.is_none_or(|t| event.occurred_at >= t);
    if !is_latest {
        event.flags.push(OUT_OF_ORDER.into());
    } else if entry.terminal && event.status != Status::ReturnedToSender {
        event.flags.push(POST_TERMINAL.into());
    } else if event.status != Status::Unknown {
        status = event.status;
        terminal = event.status.is_terminal();
    }
    let summary = ShipmentSummary {
        status,
        eta: entry.eta,
        sequence: 0,
        terminal,
    };
    let mut record = blank(event_id, RecordType::TrackingEvent, revision, summary);
    record.event = Some(event);
    Some(record)
}

fn plan_update(
    entry: &ShipmentEntry,
    shipment_key: &str,
    update: ParsedUpdate,
    now: DateTime<Utc>,
) -> Option<CanonicalRecord> {
    use gluey_contract::UpdateType;
    match update.update_type {
        UpdateType::EtaChanged if update.new_eta != entry.eta => {
            let id = format!(
                "up_{}",
                hash_json(&(
                    shipment_key,
                    "eta_changed",
                    entry.eta.map(|t| t.timestamp_micros()),
                    update.new_eta.map(|t| t.timestamp_micros())
                ))
            );
            let body = ShipmentUpdate {
                update_type: UpdateType::EtaChanged,
                occurred_at: now,
                previous_eta: entry.eta,
                new_eta: update.new_eta,
                previous_tracking_number: None,
                new_tracking_number: None,
            };
            let revision = entry.seen.next_revision(&id)?;
            let summary = ShipmentSummary {
                status: entry.status,
                eta: update.new_eta,
                sequence: 0,
                terminal: entry.terminal,
            };
            let mut record = blank(id, RecordType::ShipmentUpdate, revision, summary);
            record.update = Some(body);
            Some(record)
        }
        // Same ETA as published, or an update type this slice does not produce yet.
        _ => None,
    }
}

/// A shipment that has been quiet for `window` and is not delivered or returned is published as
/// expired (once; the next scan revives it). Derived, so it points at no raw record: its
/// `raw_ref` names the events topic with offset -1.
pub fn plan_expiry(
    entry: &ShipmentEntry,
    owner: &Owner,
    carrier: &str,
    tracking_number: &str,
    events_topic: &str,
    now: DateTime<Utc>,
    window: chrono::Duration,
) -> Option<CanonicalRecord> {
    use gluey_contract::UpdateType;
    let last = entry.last_activity?;
    if entry.terminal || entry.status == Status::Expired || now - last < window {
        return None;
    }
    let id = format!(
        "up_{}",
        hash_json(&(
            owner.shipment_key.as_str(),
            "expired",
            last.timestamp_micros()
        ))
    );
    let revision = entry.seen.next_revision(&id)?;
    let summary = ShipmentSummary {
        status: Status::Expired,
        eta: entry.eta,
        sequence: entry.last_sequence + 1,
        terminal: false,
    };
    let mut record = blank(id, RecordType::ShipmentUpdate, revision, summary);
    record.update = Some(ShipmentUpdate {
        update_type: UpdateType::Expired,
        occurred_at: now,
        previous_eta: None,
        new_eta: None,
        previous_tracking_number: None,
        new_tracking_number: None,
    });
    record.sequence = entry.last_sequence + 1;
    record.shipment_key = owner.shipment_key.clone();
    record.customer_id = Some(owner.customer_id.clone());
    record.shipment_id = owner.shipment_id.clone();
    record.carrier = carrier.to_string();
    record.tracking_number = tracking_number.to_string();
    record.received_at = now;
    record.published_at = now;
    record.raw_ref = RawReference {
        envelope_id: String::new(),
        topic: events_topic.to_string(),
        partition: -1,
        offset: -1,
    };
    record.trace_id = gluey_ops::trace::new_traceparent();
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use gluey_contract::{OffsetSource, Route};
    use std::collections::BTreeMap;

    fn event(code: &str, status: Status, hour: u32) -> TrackingEvent {
        let at = Utc.with_ymd_and_hms(2024, 4, 25, hour, 0, 0).unwrap();
        TrackingEvent {
            status,
            milestone: "in_transit".into(),
            code: code.to_lowercase(),
            sub_code: None,
            carrier_code: code.into(),
            carrier_sub_code: None,
            carrier_description: None,
            occurred_at: at,
            occurred_at_local: at.naive_utc().to_string(),
            utc_offset_seconds: 0,
            offset_source: OffsetSource::ExplicitOffset,
            time_flags: vec![],
            location: None,
            eta: None,
            signed_by: None,
            proof_of_delivery_ref: None,
            flags: vec![],
        }
    }

    fn parsed(id: &str, e: TrackingEvent) -> ParsedRecord {
        ParsedRecord::Event {
            tracking_number: "1".into(),
            event_id: id.into(),
            event: e,
            mapping_row: None,
        }
    }

    fn run(book: &mut ShipmentBook, records: Vec<ParsedRecord>) -> Plan {
        let envelope = RawEnvelope {
            envelope_id: "e".into(),
            carrier: "fedex".into(),
            format: "fedex.aiv".into(),
            route: Route::Webhook,
            received_at: Utc::now(),
            content_type: None,
            payload: vec![],
            source: Default::default(),
            context: BTreeMap::new(),
            shipment_key: None,
            trace_id: "t".into(),
        };
        let raw_ref = RawReference {
            envelope_id: "e".into(),
            topic: "raw".into(),
            partition: 0,
            offset: 0,
        };
        let owner = Owner {
            shipment_key: "fedex:1".into(),
            customer_id: "acme".into(),
            shipment_id: None,
        };
        let plan = plan(
            records,
            &owner,
            book,
            Source {
                envelope: &envelope,
                raw_ref: &raw_ref,
                now: Utc::now(),
            },
        );
        for output in &plan.outputs {
            book.observe(output);
        }
        plan
    }

    #[test]
    fn duplicates_are_suppressed_and_changed_content_is_a_revision() {
        let mut book = ShipmentBook::default();
        let first = run(
            &mut book,
            vec![parsed("a", event("PU", Status::InTransit, 8))],
        );
        assert_eq!(
            (
                first.outputs.len(),
                first.outputs[0].revision,
                first.outputs[0].sequence
            ),
            (1, 1, 1)
        );
        let again = run(
            &mut book,
            vec![parsed("a", event("PU", Status::InTransit, 8))],
        );
        assert_eq!((again.outputs.len(), again.duplicates), (0, 1));
        // A mapping fix replayed: same id, new content → revision 2, next sequence.
        let mut fixed = event("PU", Status::InTransit, 8);
        fixed.code = "picked_up".into();
        let revised = run(&mut book, vec![parsed("a", fixed)]);
        assert_eq!(
            (
                revised.outputs[0].record_id.as_str(),
                revised.outputs[0].revision,
                revised.outputs[0].sequence
            ),
            ("a", 2, 2)
        );
    }

    #[test]
    fn delivered_is_sticky_late_scans_are_flagged_and_unknown_codes_keep_the_status() {
        let mut book = ShipmentBook::default();
        run(
            &mut book,
            vec![
                parsed("pu", event("PU", Status::InTransit, 8)),
                parsed("ex", event("SE", Status::Exception, 9)),
            ],
        );
        assert_eq!(book.get("fedex:1").unwrap().status, Status::Exception);
        // The next forward event clears the exception side state.
        run(
            &mut book,
            vec![parsed("od", event("OD", Status::OutForDelivery, 10))],
        );
        assert_eq!(book.get("fedex:1").unwrap().status, Status::OutForDelivery);
        run(
            &mut book,
            vec![parsed("zz", event("ZZ", Status::Unknown, 11))],
        );
        assert_eq!(
            book.get("fedex:1").unwrap().status,
            Status::OutForDelivery,
            "an unmapped code never changes the status"
        );
        run(
            &mut book,
            vec![parsed("dl", event("DL", Status::Delivered, 12))],
        );
        let late = run(
            &mut book,
            vec![parsed("ar", event("AR", Status::InTransit, 13))],
        );
        assert_eq!(
            late.outputs[0].event.as_ref().unwrap().flags,
            vec!["post_terminal".to_string()]
        );
        assert_eq!(late.outputs[0].shipment.status, Status::Delivered);
        let older = run(
            &mut book,
            vec![parsed("dp", event("DP", Status::InTransit, 9))],
        );
        assert_eq!(
            older.outputs[0].event.as_ref().unwrap().flags,
            vec!["out_of_order".to_string()]
        );
        // Only an explicit return moves a delivered shipment.
        let back = run(
            &mut book,
            vec![parsed("rs", event("RS", Status::ReturnedToSender, 14))],
        );
        assert_eq!(back.outputs[0].shipment.status, Status::ReturnedToSender);
    }
}
