//! Rebuilds the state of one partition before this instance processes its first record there:
//! the shipment book from that partition of the output topic (`tracking.events.v1`) and the
//! registrations from that partition of `tracking.shipments.v1`, each read up to its high
//! watermark. Raw, events and shipments are co-partitioned, so raw partition `p` only ever needs
//! partition `p` of the others. Whatever was published before a crash, or by the previous owner
//! before a rebalance, is therefore known and not published again: the output topic is the
//! changelog.

use std::sync::Arc;
use std::time::Duration;

use gluey_contract::{CanonicalRecord, Codec, Shipment, TopicNames};
use gluey_kafka::{read_partitions_to_end, KafkaSettings, ReadError};
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
    pub events_read: u64,
    pub undecodable: u64,
}

/// Restores partition `partition`.
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
        let (events, shipments, parked) = (topics.events(), topics.shipments(), topics.parked());
        // One consumer reads the partition of all three topics at once.
        let high = read_partitions_to_end(&kafka, &[&events, &shipments, &parked], Some(partition), timeout, |topic, message| {
            if registry_down.is_some() {
                return; // the restore starts over once the registry answers
            }
            if topic == events {
                match handle.block_on(codec.decode::<CanonicalRecord>(message.payload().unwrap_or_default())) {
                    Ok(record) => {
                        state.book.observe(&record);
                        state.events_read += 1;
                    }
                    Err(e) if e.is_retryable() => registry_down = Some(e.to_string()),
                    Err(e) => {
                        state.undecodable += 1;
                        tracing::warn!(partition, offset = message.offset(), error = %e, "cannot decode own output during restore");
                    }
                }
            } else if topic == shipments {
                let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else { return };
                match message.payload() {
                    None => state.registrations.apply(key, None),
                    Some(bytes) => match handle.block_on(codec.decode::<Shipment>(bytes)) {
                        Ok(shipment) => state.registrations.apply(key, Some(shipment)),
                        Err(e) if e.is_retryable() => registry_down = Some(e.to_string()),
                        Err(e) => tracing::warn!(partition, offset = message.offset(), error = %e, "undecodable registration skipped"),
                    },
                }
            } else {
                state.parked.observe(message);
            }
        })?;
        if let Some(reason) = registry_down {
            return Err(RestoreError::Registry(reason));
        }
        state.shipments_restored_to = high.get(&(shipments.clone(), partition)).copied().unwrap_or(0);
        Ok(state)
    })
    .await
    .map_err(|e| RestoreError::Task(e.to_string()))?
}
