//! Rebuilds the state of one partition before this instance processes its first record there:
//! the shipment book from that partition of the output topic (`tracking.events.v1`) and the
//! registrations from that partition of `tracking.shipments.v1`, each read up to its high
//! watermark. Raw, events and shipments are co-partitioned, so raw partition `p` only ever needs
//! partition `p` of the others. Whatever was published before a crash, or by the previous owner
//! before a rebalance, is therefore known and not published again: the output topic is the
//! changelog.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gluey_contract::{CanonicalRecord, Codec, Shipment, TopicNames};
use gluey_kafka::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::parking::ParkedIndex;
use crate::registrations::Registrations;
use crate::shipment_book::ShipmentBook;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("topic {0} does not exist")]
    NoTopic(String),
    #[error("restore of {topic} did not reach the high watermark within {timeout:?}")]
    Timeout { topic: String, timeout: Duration },
    #[error("restore task failed: {0}")]
    Task(String),
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
        let (events, shipments, parked) = (topics.events(), topics.shipments(), topics.parked());
        // One consumer reads the partition of all three topics at once.
        let high = read_partitions(&kafka, &[&events, &shipments, &parked], partition, timeout, |topic, message| {
            if topic == events {
                match handle.block_on(codec.decode::<CanonicalRecord>(message.payload().unwrap_or_default())) {
                    Ok(record) => {
                        state.book.observe(&record);
                        state.events_read += 1;
                    }
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
                        Err(e) => tracing::warn!(partition, offset = message.offset(), error = %e, "undecodable registration skipped"),
                    },
                }
            } else {
                state.parked.observe(message);
            }
        })?;
        state.shipments_restored_to = high.get(shipments.as_str()).copied().unwrap_or(0);
        Ok(state)
    })
    .await
    .map_err(|e| RestoreError::Task(e.to_string()))?
}

/// Calls `each` for every record of partition `partition` of each of `topics`, from the low to
/// the high watermark (as it was when the read started), interleaved across topics but in order
/// within each; returns each topic's high watermark.
fn read_partitions(
    kafka: &KafkaSettings,
    topics: &[&str],
    partition: i32,
    timeout: Duration,
    mut each: impl FnMut(&str, &BorrowedMessage<'_>),
) -> Result<HashMap<String, i64>, RestoreError> {
    let mut config = kafka.client_config();
    config
        .set("group.id", "gluey-normalizer-restore")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    let consumer: BaseConsumer = config.create()?;
    let deadline = Instant::now() + timeout;
    let mut high_watermarks = HashMap::new();
    let mut remaining = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let exists = metadata
            .topics()
            .iter()
            .find(|t| t.name() == *topic)
            .is_some_and(|t| t.partitions().iter().any(|p| p.id() == partition));
        if !exists {
            return Err(RestoreError::NoTopic(format!(
                "{topic} partition {partition}"
            )));
        }
        let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        high_watermarks.insert(topic.to_string(), high);
        if high > low {
            assignment.add_partition_offset(topic, partition, Offset::Offset(low))?;
            remaining.insert(topic.to_string(), high - 1);
        }
    }
    if remaining.is_empty() {
        return Ok(high_watermarks);
    }
    consumer.assign(&assignment)?;
    while !remaining.is_empty() {
        if Instant::now() > deadline {
            return Err(RestoreError::Timeout {
                topic: topics.join(", "),
                timeout,
            });
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message?;
        let topic = message.topic().to_string();
        each(&topic, &message);
        if remaining
            .get(&topic)
            .is_some_and(|last| message.offset() >= *last)
        {
            remaining.remove(&topic);
        }
    }
    Ok(high_watermarks)
}
