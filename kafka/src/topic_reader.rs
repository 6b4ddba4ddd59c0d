//! Reading a whole topic once, without a consumer group: every partition from its low to its high
//! watermark as they were when the read started. Services rebuild state from compacted topics this
//! way at start-up, then follow each partition from the returned high watermarks.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::settings::KafkaSettings;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("topic {0} does not exist")]
    NoTopic(String),
    #[error("reading {topic} did not reach the high watermark within {timeout:?}")]
    Timeout { topic: String, timeout: Duration },
}

/// Calls `each` for every record of `topic`, in order within each partition (interleaved across
/// partitions), up to the high watermarks taken at the start; returns them, partition by partition.
/// Blocking: call it from `spawn_blocking` in async code.
pub fn read_to_end(
    kafka: &KafkaSettings,
    topic: &str,
    timeout: Duration,
    mut each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<BTreeMap<i32, i64>, ReadError> {
    let mut config = kafka.client_config();
    config
        .set("group.id", "gluey-topic-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    let consumer: BaseConsumer = config.create()?;
    let deadline = Instant::now() + timeout;
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(ReadError::NoTopic(topic.to_string()));
    }
    let mut high_watermarks = BTreeMap::new();
    let mut remaining = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
        high_watermarks.insert(partition, high);
        if high > low {
            assignment.add_partition_offset(topic, partition, Offset::Offset(low))?;
            remaining.insert(partition, high - 1);
        }
    }
    if remaining.is_empty() {
        return Ok(high_watermarks);
    }
    consumer.assign(&assignment)?;
    while !remaining.is_empty() {
        if Instant::now() > deadline {
            return Err(ReadError::Timeout {
                topic: topic.to_string(),
                timeout,
            });
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message?;
        each(&message);
        if remaining
            .get(&message.partition())
            .is_some_and(|last| message.offset() >= *last)
        {
            remaining.remove(&message.partition());
        }
    }
    Ok(high_watermarks)
}
