//! Per-shipment state: status, last `sequence`, ETA, terminal flag and the ids already published
//! with their revision and content hash. The book changes only by observing records that Kafka
//! acknowledged on the output topic, the same way whether they were just produced or are being
//! read back on restart: the output topic is the state's changelog.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use gluey_contract::{CanonicalRecord, Status, TrackingEvent};
use sha2::{Digest, Sha256};

/// Flags the normalizer derives from state (not from the carrier); they are not part of an
/// event's content.
pub const POST_TERMINAL: &str = "post_terminal";
pub const OUT_OF_ORDER: &str = "out_of_order";
const STATE_FLAGS: [&str; 2] = [POST_TERMINAL, OUT_OF_ORDER];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub revision: i32,
    pub content_hash: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ShipmentEntry {
    pub status: Status,
    pub last_sequence: i64,
    pub eta: Option<DateTime<Utc>>,
    pub terminal: bool,
    /// Carrier time of the latest event that set the status.
    pub latest_event_at: Option<DateTime<Utc>>,
    /// When the latest tracking event was published (for expiry: no news for a while).
    pub last_activity: Option<DateTime<Utc>>,
    /// Tracking numbers the carrier has used for this shipment, and the latest one.
    pub tracking_numbers: std::collections::BTreeSet<String>,
    pub current_tracking_number: Option<String>,
    pub seen: HashMap<String, Seen>,
}

impl Default for ShipmentEntry {
    fn default() -> Self {
        ShipmentEntry {
            status: Status::Unknown,
            last_sequence: 0,
            eta: None,
            terminal: false,
            latest_event_at: None,
            last_activity: None,
            tracking_numbers: std::collections::BTreeSet::new(),
            current_tracking_number: None,
            seen: HashMap::new(),
        }
    }
}

/// Hash of an event's canonical content, without the flags state adds.
pub fn event_content_hash(event: &TrackingEvent) -> String {
    let mut content = event.clone();
    content.flags.retain(|f| !STATE_FLAGS.contains(&f.as_str()));
    hash_json(&content)
}

pub fn hash_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising plain data structs to JSON cannot fail.
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    hex::encode(&Sha256::digest(&bytes)[..16])
}

/// Content hash of any canonical record.
pub fn record_content_hash(record: &CanonicalRecord) -> String {
    match (&record.event, &record.update) {
        (Some(event), _) => event_content_hash(event),
        (None, Some(update)) => hash_json(update),
        (None, None) => String::new(),
    }
}

#[derive(Debug, Default)]
pub struct ShipmentBook {
    entries: HashMap<String, ShipmentEntry>,
}

impl ShipmentBook {
    pub fn get(&self, shipment_key: &str) -> Option<&ShipmentEntry> {
        self.entries.get(shipment_key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The state of one shipment as `tracking.state.v1` holds it; `events_covered_to` is the
    /// partition's proven coverage (see `restore`).
    pub fn snapshot(
        &self,
        shipment_key: &str,
        now: DateTime<Utc>,
        events_covered_to: i64,
    ) -> Option<gluey_contract::ShipmentState> {
        let entry = self.entries.get(shipment_key)?;
        let mut seen: Vec<gluey_contract::SeenRecord> = entry
            .seen
            .iter()
            .map(|(id, s)| gluey_contract::SeenRecord {
                record_id: id.clone(),
                revision: s.revision,
                content_hash: s.content_hash.clone(),
            })
            .collect();
        seen.sort_by(|a, b| a.record_id.cmp(&b.record_id));
        Some(gluey_contract::ShipmentState {
            shipment_key: shipment_key.to_string(),
            status: entry.status,
            last_sequence: entry.last_sequence,
            seen,
            eta: entry.eta,
            terminal: entry.terminal,
            tracking_numbers: entry.tracking_numbers.iter().cloned().collect(),
            updated_at: now,
            latest_event_at: entry.latest_event_at,
            last_activity: entry.last_activity,
            current_tracking_number: entry.current_tracking_number.clone(),
            seen_hashes: Vec::new(),
            events_covered_to: Some(events_covered_to),
        })
    }

    /// Takes a shipment's entry from its snapshot (a restore; the events published after the
    /// snapshot's coverage are observed on top of it).
    pub fn restore_snapshot(&mut self, snapshot: gluey_contract::ShipmentState) {
        let entry = ShipmentEntry {
            status: snapshot.status,
            last_sequence: snapshot.last_sequence,
            eta: snapshot.eta,
            terminal: snapshot.terminal,
            latest_event_at: snapshot.latest_event_at,
            last_activity: snapshot.last_activity,
            tracking_numbers: snapshot.tracking_numbers.into_iter().collect(),
            current_tracking_number: snapshot.current_tracking_number,
            seen: snapshot
                .seen
                .into_iter()
                .map(|s| {
                    (
                        s.record_id,
                        Seen {
                            revision: s.revision,
                            content_hash: s.content_hash,
                        },
                    )
                })
                .collect(),
        };
        self.entries.insert(snapshot.shipment_key, entry);
    }

    /// Every shipment of the book.
    pub fn entries(&self) -> impl Iterator<Item = (&String, &ShipmentEntry)> {
        self.entries.iter()
    }

    /// Applies an acknowledged output record.
    pub fn observe(&mut self, record: &CanonicalRecord) {
        let entry = self.entries.entry(record.shipment_key.clone()).or_default();
        observe_into(entry, record);
    }
}

/// Applies `record` to one entry; used for the book and for a working copy while planning.
pub fn observe_into(entry: &mut ShipmentEntry, record: &CanonicalRecord) {
    entry.seen.insert(
        record.record_id.clone(),
        Seen {
            revision: record.revision,
            content_hash: record_content_hash(record),
        },
    );
    if record.sequence >= entry.last_sequence {
        entry.last_sequence = record.sequence;
        entry.status = record.shipment.status;
        entry.eta = record.shipment.eta;
        entry.terminal = record.shipment.terminal;
    }
    if !record.tracking_number.is_empty()
        && entry
            .tracking_numbers
            .insert(record.tracking_number.clone())
    {
        entry.current_tracking_number = Some(record.tracking_number.clone());
    }
    if record.event.is_some() && entry.last_activity.is_none_or(|t| record.published_at > t) {
        entry.last_activity = Some(record.published_at);
    }
    if let Some(event) = &record.event {
        let sets_status = event.status != Status::Unknown
            && !event
                .flags
                .iter()
                .any(|f| STATE_FLAGS.contains(&f.as_str()));
        if sets_status && entry.latest_event_at.is_none_or(|t| event.occurred_at >= t) {
            entry.latest_event_at = Some(event.occurred_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_restores_the_entry_it_was_taken_from() {
        let mut book = ShipmentBook::default();
        let now = Utc::now();
        let entry = ShipmentEntry {
            status: Status::OutForDelivery,
            last_sequence: 7,
            eta: Some(now),
            terminal: false,
            latest_event_at: Some(now - chrono::Duration::hours(2)),
            last_activity: Some(now - chrono::Duration::hours(1)),
            tracking_numbers: ["1".to_string(), "2".to_string()].into_iter().collect(),
            current_tracking_number: Some("2".into()),
            seen: [(
                "evt-1".to_string(),
                Seen {
                    revision: 2,
                    content_hash: "abc".into(),
                },
            )]
            .into_iter()
            .collect(),
        };
        book.entries.insert("fedex:1".into(), entry.clone());
        let snapshot = book.snapshot("fedex:1", now, 42).unwrap();
        assert_eq!(snapshot.events_covered_to, Some(42));
        let mut restored = ShipmentBook::default();
        restored.restore_snapshot(snapshot);
        assert_eq!(restored.get("fedex:1"), Some(&entry));
    }
}
