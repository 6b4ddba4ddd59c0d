//! Per-shipment state: status, last `sequence`, ETA, terminal flag and the ids already published
//! with their revision and content hash. The book changes only by observing records that Kafka
//! acknowledged on the output topic, the same way whether they were just produced or are being
//! read back on restart: the output topic is the state's changelog.
//!
//! Memory follows the live shipments. A finished shipment (delivered, returned, expired) quiet
//! for a grace period is compacted: its ids shrink to 8-byte hashes, enough to recognise a
//! re-poll of its whole history as duplicates (a correction of a compacted shipment's event is
//! not republished). Quiet shipments are found from an index ordered by last activity, never by
//! a scan of the whole book.

use std::collections::{BTreeSet, HashMap, HashSet};

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

/// The record ids a shipment has published: in full (revision and content hash) while it is
/// live, as 8-byte hashes once compacted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeenIds {
    full: HashMap<String, Seen>,
    hashes: HashSet<u64>,
}

/// What the book knows of one record id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeenState<'a> {
    Unseen,
    Published(&'a Seen),
    /// Published before the shipment was compacted: its revision and content are gone.
    Compacted,
}

/// The stable 8-byte hash a compacted shipment keeps of a record id (the first 8 bytes of its
/// SHA-256; stable across builds, since snapshots carry it).
pub fn id_hash(id: &str) -> u64 {
    let digest = Sha256::digest(id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

impl SeenIds {
    pub fn state(&self, id: &str) -> SeenState<'_> {
        match self.full.get(id) {
            Some(seen) => SeenState::Published(seen),
            None if !self.hashes.is_empty() && self.hashes.contains(&id_hash(id)) => {
                SeenState::Compacted
            }
            None => SeenState::Unseen,
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.state(id) != SeenState::Unseen
    }

    /// The revision a new version of `id` is published at; `None` for an id of a compacted
    /// shipment (not republished).
    pub fn next_revision(&self, id: &str) -> Option<i32> {
        match self.state(id) {
            SeenState::Unseen => Some(1),
            SeenState::Published(seen) => Some(seen.revision + 1),
            SeenState::Compacted => None,
        }
    }

    pub fn insert(&mut self, id: String, seen: Seen) {
        self.full.insert(id, seen);
    }

    /// Keeps only hashes.
    fn compact(&mut self) {
        self.hashes
            .extend(self.full.drain().map(|(id, _)| id_hash(&id)));
        self.full.shrink_to_fit();
    }

    pub fn full(&self) -> impl Iterator<Item = (&String, &Seen)> {
        self.full.iter()
    }

    pub fn hashes(&self) -> impl Iterator<Item = u64> + '_ {
        self.hashes.iter().copied()
    }

    pub fn is_compacted(&self) -> bool {
        !self.hashes.is_empty()
    }

    /// Heap bytes, approximately (entries of the maps with their strings).
    fn approx_bytes(&self) -> usize {
        let full: usize = self
            .full
            .iter()
            .map(|(id, s)| id.capacity() + s.content_hash.capacity() + 48 + 8)
            .sum();
        full + self.hashes.capacity() * 9
    }
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
    pub seen: SeenIds,
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
            seen: SeenIds::default(),
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

impl ShipmentEntry {
    /// Delivered, returned or expired: nothing more is expected.
    pub fn is_finished(&self) -> bool {
        self.terminal || self.status == Status::Expired
    }

    /// Heap bytes, approximately.
    pub fn approx_bytes(&self) -> usize {
        std::mem::size_of::<ShipmentEntry>()
            + self.seen.approx_bytes()
            + self
                .tracking_numbers
                .iter()
                .map(|n| n.capacity() + 32)
                .sum::<usize>()
            + self
                .current_tracking_number
                .as_ref()
                .map_or(0, String::capacity)
    }
}

/// Shipments by last activity, live and finished apart (see the module header).
#[derive(Debug, Default)]
struct ActivityIndex {
    live: BTreeSet<(DateTime<Utc>, String)>,
    finished: BTreeSet<(DateTime<Utc>, String)>,
}

impl ActivityIndex {
    fn forget(&mut self, key: &str, entry: &ShipmentEntry) {
        if let Some(at) = entry.last_activity {
            let k = (at, key.to_string());
            self.live.remove(&k);
            self.finished.remove(&k);
        }
    }

    fn note(&mut self, key: &str, entry: &ShipmentEntry) {
        let Some(at) = entry.last_activity else {
            return;
        };
        if entry.seen.is_compacted() && entry.is_finished() {
            return; // nothing left to do for it
        }
        let set = if entry.is_finished() {
            &mut self.finished
        } else {
            &mut self.live
        };
        set.insert((at, key.to_string()));
    }

    fn quiet(set: &BTreeSet<(DateTime<Utc>, String)>, since: DateTime<Utc>) -> Vec<String> {
        set.range(..(since, String::new()))
            .map(|(_, key)| key.clone())
            .collect()
    }
}

#[derive(Debug, Default)]
pub struct ShipmentBook {
    entries: HashMap<String, ShipmentEntry>,
    activity: ActivityIndex,
}

/// The size of a book, for the state metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BookSize {
    pub live: usize,
    pub compacted: usize,
    pub live_bytes: usize,
    pub compacted_bytes: usize,
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
            .full()
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
            seen_hashes: {
                let mut hashes: Vec<i64> = entry.seen.hashes().map(|h| h as i64).collect();
                hashes.sort_unstable();
                hashes
            },
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
            seen: SeenIds {
                full: snapshot
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
                hashes: snapshot.seen_hashes.into_iter().map(|h| h as u64).collect(),
            },
        };
        if let Some(old) = self.entries.get(&snapshot.shipment_key) {
            self.activity.forget(&snapshot.shipment_key, old);
        }
        self.activity.note(&snapshot.shipment_key, &entry);
        self.entries.insert(snapshot.shipment_key, entry);
    }

    /// Live shipments quiet since before `since` (candidates for expiry).
    pub fn quiet_live(&self, since: DateTime<Utc>) -> Vec<String> {
        ActivityIndex::quiet(&self.activity.live, since)
    }

    /// Compacts finished shipments quiet since before `since`; returns their keys (their
    /// snapshots change).
    pub fn compact_finished(&mut self, since: DateTime<Utc>) -> Vec<String> {
        let keys = ActivityIndex::quiet(&self.activity.finished, since);
        for key in &keys {
            if let Some(entry) = self.entries.get_mut(key) {
                self.activity.forget(key, entry);
                entry.seen.compact();
                self.activity.note(key, entry);
            }
        }
        keys
    }

    #[cfg(test)]
    fn single(key: &str, entry: ShipmentEntry) -> ShipmentBook {
        let mut book = ShipmentBook::default();
        book.activity.note(key, &entry);
        book.entries.insert(key.to_string(), entry);
        book
    }

    /// Shipments and their approximate heap bytes, live and compacted.
    pub fn size(&self) -> BookSize {
        let mut size = BookSize::default();
        for entry in self.entries.values() {
            if entry.seen.is_compacted() && entry.is_finished() {
                size.compacted += 1;
                size.compacted_bytes += entry.approx_bytes();
            } else {
                size.live += 1;
                size.live_bytes += entry.approx_bytes();
            }
        }
        size
    }

    /// Every shipment of the book.
    pub fn entries(&self) -> impl Iterator<Item = (&String, &ShipmentEntry)> {
        self.entries.iter()
    }

    /// Applies an acknowledged output record.
    pub fn observe(&mut self, record: &CanonicalRecord) {
        let entry = self.entries.entry(record.shipment_key.clone()).or_default();
        self.activity.forget(&record.shipment_key, entry);
        observe_into(entry, record);
        self.activity.note(&record.shipment_key, entry);
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
            seen: SeenIds {
                full: [(
                    "evt-1".to_string(),
                    Seen {
                        revision: 2,
                        content_hash: "abc".into(),
                    },
                )]
                .into_iter()
                .collect(),
                hashes: [id_hash("evt-0")].into_iter().collect(),
            },
        };
        book.entries.insert("fedex:1".into(), entry.clone());
        let snapshot = book.snapshot("fedex:1", now, 42).unwrap();
        assert_eq!(snapshot.events_covered_to, Some(42));
        let mut restored = ShipmentBook::default();
        restored.restore_snapshot(snapshot);
        assert_eq!(restored.get("fedex:1"), Some(&entry));
    }

    fn finished_entry(at: DateTime<Utc>, ids: &[&str]) -> ShipmentEntry {
        let mut seen = SeenIds::default();
        for id in ids {
            seen.insert(
                id.to_string(),
                Seen {
                    revision: 1,
                    content_hash: "h".into(),
                },
            );
        }
        ShipmentEntry {
            status: Status::Delivered,
            terminal: true,
            last_sequence: ids.len() as i64,
            last_activity: Some(at),
            seen,
            ..ShipmentEntry::default()
        }
    }

    #[test]
    fn a_finished_shipment_quiet_past_its_grace_keeps_only_hashes_and_still_knows_its_ids() {
        let now = Utc::now();
        let mut book = ShipmentBook::default();
        let ids: Vec<String> = (0..30)
            .map(|i| format!("evt-{i:02}-{}", "x".repeat(40)))
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let old = finished_entry(now - chrono::Duration::days(10), &refs);
        let recent = finished_entry(now - chrono::Duration::hours(1), &refs);
        book.restore_snapshot(
            ShipmentBook::single("fedex:old", old)
                .snapshot("fedex:old", now, 0)
                .unwrap(),
        );
        book.restore_snapshot(
            ShipmentBook::single("fedex:new", recent)
                .snapshot("fedex:new", now, 0)
                .unwrap(),
        );
        let before = book.size();
        assert_eq!((before.live, before.compacted), (2, 0));

        let compacted = book.compact_finished(now - chrono::Duration::days(7));
        assert_eq!(
            compacted,
            vec!["fedex:old".to_string()],
            "only the one past its grace"
        );
        let after = book.size();
        assert_eq!((after.live, after.compacted), (1, 1));
        assert!(
            after.compacted_bytes * 3 < before.live_bytes / 2,
            "a compacted shipment is much smaller: {} bytes compacted, {} bytes for two live",
            after.compacted_bytes,
            before.live_bytes
        );
        let entry = book.get("fedex:old").unwrap();
        for id in &ids {
            assert_eq!(
                entry.seen.state(id),
                SeenState::Compacted,
                "{id} still known"
            );
        }
        assert_eq!(entry.seen.state("evt-new"), SeenState::Unseen);
        assert_eq!(entry.seen.next_revision(&ids[0]), None);
        // Nothing more to do for it: the next sweep does not see it again.
        assert!(book.compact_finished(now).iter().all(|k| k != "fedex:old"));

        // Its snapshot carries the hashes and restores them.
        let snapshot = book.snapshot("fedex:old", now, 5).unwrap();
        assert!(snapshot.seen.is_empty());
        assert_eq!(snapshot.seen_hashes.len(), ids.len());
        let mut restored = ShipmentBook::default();
        restored.restore_snapshot(snapshot);
        assert_eq!(restored.get("fedex:old"), book.get("fedex:old"));
    }

    #[test]
    fn quiet_live_shipments_come_from_the_activity_index() {
        let now = Utc::now();
        let mut book = ShipmentBook::default();
        let mut quiet = finished_entry(now - chrono::Duration::days(40), &["a"]);
        quiet.terminal = false;
        quiet.status = Status::InTransit;
        let mut busy = quiet.clone();
        busy.last_activity = Some(now);
        book.restore_snapshot(
            ShipmentBook::single("fedex:quiet", quiet)
                .snapshot("fedex:quiet", now, 0)
                .unwrap(),
        );
        book.restore_snapshot(
            ShipmentBook::single("fedex:busy", busy)
                .snapshot("fedex:busy", now, 0)
                .unwrap(),
        );
        assert_eq!(
            book.quiet_live(now - chrono::Duration::days(30)),
            vec!["fedex:quiet".to_string()]
        );
    }
}
