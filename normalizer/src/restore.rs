//! Rebuilds the shipment book of one partition by reading that partition of the output topic
//! (`tracking.events.v1`) up to its high watermark, before the first raw record of the partition
//! is processed by this instance. Raw and events are co-partitioned, so raw partition `p` only
//! ever needs events partition `p`. Whatever was published before a crash, or by the previous
//! owner before a rebalance, is therefore known and not published again: the output topic is the
//! changelog.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gluey_contract::{CanonicalRecord, Codec};
use gluey_kafka::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::shipment_book::ShipmentBook;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("topic {0} does not exist")]
    NoTopic(String),
    #[error("restore of {topic} did not reach the high watermarks within {timeout:?}")]
    Timeout { topic: String, timeout: Duration },
    #[error("restore task failed: {0}")]
    Task(String),
}

#[derive(Debug)]
pub struct Restored {
    pub book: ShipmentBook,
    pub records: u64,
    pub undecodable: u64,
}

/// Restores the book of `partition` from `topic`.
pub async fn restore_partition(
    kafka: &KafkaSettings,
    topic: &str,
    partition: i32,
    codec: Arc<Codec>,
    timeout: Duration,
) -> Result<Restored, RestoreError> {
    let kafka = kafka.clone();
    let topic = topic.to_string();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        restore_blocking(&kafka, &topic, partition, &codec, timeout, &handle)
    })
    .await
    .map_err(|e| RestoreError::Task(e.to_string()))?
}

fn restore_blocking(
    kafka: &KafkaSettings,
    topic: &str,
    partition: i32,
    codec: &Codec,
    timeout: Duration,
    handle: &tokio::runtime::Handle,
) -> Result<Restored, RestoreError> {
    let mut config = kafka.client_config();
    config
        .set("group.id", "gluey-normalizer-restore")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    let consumer: BaseConsumer = config.create()?;
    let deadline = Instant::now() + timeout;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let exists = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .is_some_and(|t| t.partitions().iter().any(|p| p.id() == partition));
    if !exists {
        return Err(RestoreError::NoTopic(format!(
            "{topic} partition {partition}"
        )));
    }
    let partitions = [partition];
    // Partition → last offset to read (high watermark - 1).
    let mut remaining: HashMap<i32, i64> = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for p in partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        if high > low {
            remaining.insert(p, high - 1);
            assignment.add_partition_offset(topic, p, Offset::Offset(low))?;
        }
    }
    let mut restored = Restored {
        book: ShipmentBook::default(),
        records: 0,
        undecodable: 0,
    };
    if remaining.is_empty() {
        return Ok(restored);
    }
    consumer.assign(&assignment)?;
    while !remaining.is_empty() {
        if Instant::now() > deadline {
            return Err(RestoreError::Timeout {
                topic: topic.to_string(),
                timeout,
            });
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message?;
        let partition = message.partition();
        match handle
            .block_on(codec.decode::<CanonicalRecord>(message.payload().unwrap_or_default()))
        {
            Ok(record) => {
                restored.book.observe(&record);
                restored.records += 1;
            }
            Err(e) => {
                restored.undecodable += 1;
                tracing::warn!(topic, partition, offset = message.offset(), error = %e, "cannot decode own output during restore");
            }
        }
        if remaining
            .get(&partition)
            .is_some_and(|last| message.offset() >= *last)
        {
            remaining.remove(&partition);
        }
    }
    Ok(restored)
}
