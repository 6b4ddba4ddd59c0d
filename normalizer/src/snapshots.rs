//! `tracking.state.v1`: a snapshot per shipment, written after every batch that changed it, and
//! what makes a restore cheap (see [`crate::restore::Coverage`]). Invariant: a partition's
//! coverage moves to `events_end` only once the snapshot of every shipment changed below it is
//! acknowledged; a snapshot that is not is written again, and the coverage waits for it.
//! Snapshots are only written from a partition whose outputs are all acknowledged, so a snapshot
//! never records a record that is not on the events topic.

use chrono::Utc;
use gluey_kafka::PendingAck;
use rdkafka::message::OwnedHeaders;

use crate::work::Normalizer;

/// The snapshots of one partition handed over together.
#[derive(Debug)]
pub struct SnapshotBatch {
    pub partition: i32,
    pub keys: Vec<String>,
    pub pending: Vec<PendingAck>,
    /// The partition's coverage once every one of them is acknowledged.
    pub proves: i64,
    /// The coverage the snapshots carry.
    pub carries: i64,
    /// Not every snapshot could be handed over: the coverage stays.
    pub incomplete: bool,
}

impl Normalizer {
    /// Hands over a snapshot of every shipment changed since the last call, partition by
    /// partition; for a partition with nothing changed whose proven coverage is ahead of what its
    /// snapshots carry, one snapshot (of the shipment written last) carries it, so an idle
    /// partition restores without reading the events topic.
    pub async fn write_snapshots(&mut self) -> Vec<SnapshotBatch> {
        let topic = self.config.topics.state();
        let now = Utc::now();
        let mut by_partition: std::collections::BTreeMap<i32, Vec<String>> = Default::default();
        for (partition, key) in std::mem::take(&mut self.dirty) {
            by_partition.entry(partition).or_default().push(key);
        }
        for (partition, state) in &self.partitions {
            let coverage = state.coverage;
            if coverage.covered_to > coverage.written && !by_partition.contains_key(partition) {
                if let Some(key) = state.last_snapshot.clone() {
                    by_partition.insert(*partition, vec![key]);
                }
            }
        }
        let mut batches = Vec::new();
        for (partition, keys) in by_partition {
            let Some(state) = self.partitions.get(&partition) else {
                continue; // dropped: the restore finds what it needs
            };
            let coverage = state.coverage;
            let mut batch = SnapshotBatch {
                partition,
                keys: Vec::new(),
                pending: Vec::new(),
                proves: coverage.events_end,
                carries: coverage.covered_to,
                incomplete: false,
            };
            for key in keys {
                let Some(snapshot) = state.book.snapshot(&key, now, coverage.covered_to) else {
                    continue;
                };
                let sent = match self.codec.encode(&topic, &snapshot).await {
                    Ok(bytes) => self
                        .producer
                        .enqueue(&topic, Some(key.as_bytes()), &bytes, OwnedHeaders::new())
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match sent {
                    Ok(ack) => batch.pending.push(ack),
                    Err(reason) => {
                        tracing::warn!(partition, shipment_key = key, %reason, "state snapshot not handed over; written again later");
                        batch.incomplete = true;
                    }
                }
                batch.keys.push(key);
            }
            batches.push(batch);
        }
        batches
    }

    /// After a batch's acknowledgements: the coverage moves on, or the snapshots are written
    /// again with the next batch.
    pub fn snapshots_settled(&mut self, batch: &SnapshotBatch, acknowledged: bool) {
        let Some(state) = self.partitions.get_mut(&batch.partition) else {
            return;
        };
        if acknowledged && !batch.incomplete {
            state.coverage.covered_to = state.coverage.covered_to.max(batch.proves);
            state.coverage.written = state.coverage.written.max(batch.carries);
            if let Some(key) = batch.keys.last() {
                state.last_snapshot = Some(key.clone());
            }
        } else {
            for key in &batch.keys {
                self.dirty.insert((batch.partition, key.clone()));
            }
        }
    }
}
