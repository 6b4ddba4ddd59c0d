//! Rebuilds the state of one partition before this instance processes its first record there:
//! the shipment book from that partition's snapshots (`tracking.state.v1`, compacted) and the
//! output topic (`tracking.events.v1`) from the snapshots' coverage on, and the registrations
//! from that partition of `tracking.shipments.v1`, each read up to its high watermark. Raw,
//! events, state and shipments are co-partitioned, so raw partition `p` only ever needs
//! partition `p` of the others. Whatever was published before a crash, or by the previous owner
//! before a rebalance, is therefore known and not published again: the output topic is the
//! changelog.

use std::sync::Arc;
use std::time::Duration;

use gluey_contract::{CanonicalRecord, Codec, Shipment, ShipmentState, TopicNames};
use gluey_kafka::{read_partitions_from, read_partitions_to_end, KafkaSettings, ReadError};
use rdkafka::Message;

use crate::parking::ParkedIndex;
use crate::registrations::Registrations;
use crate::shipment_book::ShipmentBook;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("restore: {0}")]
    Read(#[from] ReadError),
    #[error("restore task failed: {0}")]
    Task(String),
    /// A record could not be decoded because the schema registry did not answer: the restore
    /// is tried again (a record skipped here would be published again, or a shipment forgotten).
    #[error("schema registry unavailable while restoring: {0}")]
    Registry(String),
}

impl RestoreError {
    pub fn dependency(&self) -> crate::work::Dependency {
        match self {
            RestoreError::Registry(_) => crate::work::Dependency::SchemaRegistry,
            _ => crate::work::Dependency::Kafka,
        }
    }
}

/// Everything the normalizer keeps about one partition.
#[derive(Debug, Default)]
pub struct PartitionState {
    pub book: ShipmentBook,
    pub registrations: Registrations,
    pub parked: ParkedIndex,
    /// Registrations below this offset were read during the restore; the live consumer skips
    /// them so an older record never overwrites a newer one.
    pub shipments_restored_to: i64,
    pub coverage: Coverage,
    /// The shipment whose snapshot was written last (a checkpoint rewrites it).
    pub last_snapshot: Option<String>,
    /// Shipments whose state the restore took from the events topic rather than from their
    /// snapshot: written again before the coverage moves past them.
    pub stale_snapshots: Vec<String>,
    /// Records the restore read, by kind (snapshots, events, registrations, parked).
    pub read: RestoreCounts,
    pub undecodable: u64,
}

/// How far `tracking.state.v1` covers this partition of `tracking.events.v1`.
///
/// Each snapshot carries `events_covered_to`: every events record of the partition below it is
/// reflected in its shipment's latest snapshot. The normalizer only raises it once the
/// snapshots of every shipment changed up to there are acknowledged (`covered_to`), and carries
/// it on the next snapshot it writes, so a restore reads the snapshots and then the events topic
/// from the highest value found, not from the start: its cost follows the live shipments, not
/// the history.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    /// The events offset after the last record this instance knows to be on the topic.
    pub events_end: i64,
    /// Proven: every events record below it is in an acknowledged snapshot.
    pub covered_to: i64,
    /// The highest `events_covered_to` written on a snapshot so far.
    pub written: i64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RestoreCounts {
    pub snapshots: u64,
    pub events: u64,
    pub registrations: u64,
    pub parked: u64,
}

impl RestoreCounts {
    pub fn total(&self) -> u64 {
        self.snapshots + self.events + self.registrations + self.parked
    }
}

/// Restores partition `partition`: the snapshots, registrations and parked records in full
/// (compacted or short-lived topics), then the events published after the snapshots' coverage.
/// `timeout` bounds a stretch without progress.
pub async fn restore_partition(
    kafka: &KafkaSettings,
    topics: &TopicNames,
    partition: i32,
    codec: Arc<Codec>,
    timeout: Duration,
) -> Result<PartitionState, RestoreError> {
    let kafka = kafka.clone();
    let topics = topics.clone();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut state = PartitionState::default();
        let mut registry_down: Option<String> = None;
        let (events, shipments, parked, snapshots) =
            (topics.events(), topics.shipments(), topics.parked(), topics.state());
        let mut covered_to = 0i64;
        // An unreadable snapshot: its shipment is rebuilt from the events, read from the start.
        let mut from_start = false;
        // Pass 1: one consumer reads the partition of the three state topics at once.
        let high = read_partitions_to_end(&kafka, &[&snapshots, &shipments, &parked], Some(partition), timeout, |topic, message| {
            if registry_down.is_some() {
                return; // the restore starts over once the registry answers
            }
            if topic == snapshots {
                let Some(bytes) = message.payload() else { return };
                match handle.block_on(codec.decode::<ShipmentState>(bytes)) {
                    Ok(snapshot) => {
                        covered_to = covered_to.max(snapshot.events_covered_to.unwrap_or(0));
                        state.last_snapshot = Some(snapshot.shipment_key.clone());
                        state.book.restore_snapshot(snapshot);
                        state.read.snapshots += 1;
                    }
                    Err(e) if e.is_retryable() => registry_down = Some(e.to_string()),
                    Err(e) => {
                        state.undecodable += 1;
                        tracing::warn!(partition, offset = message.offset(), error = %e, "cannot decode a state snapshot; the events topic is read from the start");
                        from_start = true;
                    }
                }
            } else if topic == shipments {
                let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else { return };
                state.read.registrations += 1;
                match message.payload() {
                    None => state.registrations.apply(key, None),
                    Some(bytes) => match handle.block_on(codec.decode::<Shipment>(bytes)) {
                        Ok(shipment) => state.registrations.apply(key, Some(shipment)),
                        Err(e) if e.is_retryable() => registry_down = Some(e.to_string()),
                        Err(e) => tracing::warn!(partition, offset = message.offset(), error = %e, "undecodable registration skipped"),
                    },
                }
            } else {
                state.read.parked += 1;
                state.parked.observe(message);
            }
        })?;
        if let Some(reason) = registry_down {
            return Err(RestoreError::Registry(reason));
        }
        // An unreadable snapshot (or none with a coverage yet) leaves the start as the only
        // safe place to read the events from.
        let from = if from_start { 0 } else { covered_to };
        let mut stale = std::collections::BTreeSet::new();
        // Pass 2: the events the snapshots do not cover yet.
        let events_high = read_partitions_from(&kafka, &[(&events, from)], Some(partition), timeout, |_, message| {
            if registry_down.is_some() {
                return;
            }
            match handle.block_on(codec.decode::<CanonicalRecord>(message.payload().unwrap_or_default())) {
                Ok(record) => {
                    state.book.observe(&record);
                    stale.insert(record.shipment_key);
                    state.read.events += 1;
                }
                Err(e) if e.is_retryable() => registry_down = Some(e.to_string()),
                Err(e) => {
                    state.undecodable += 1;
                    tracing::warn!(partition, offset = message.offset(), error = %e, "cannot decode own output during restore");
                }
            }
        })?;
        if let Some(reason) = registry_down {
            return Err(RestoreError::Registry(reason));
        }
        state.shipments_restored_to = high.get(&(shipments.clone(), partition)).copied().unwrap_or(0);
        let events_end = events_high.get(&(events.clone(), partition)).copied().unwrap_or(0);
        state.coverage = Coverage {
            events_end,
            covered_to: from,
            written: from,
        };
        state.stale_snapshots = stale.into_iter().collect();
        Ok(state)
    })
    .await
    .map_err(|e| RestoreError::Task(e.to_string()))?
}
