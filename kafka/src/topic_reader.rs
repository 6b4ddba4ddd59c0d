//! Reading topics once, without a consumer group: each partition from its low to its high
//! watermark as they were when the read started. Services rebuild state from compacted topics this
//! way at start-up, then follow each partition from the returned high watermarks.
//!
//! A partition is read to its end when the consumer's *position* reaches the high watermark, not
//! when the record at `high - 1` arrives: on a topic written with transactions that offset is a
//! commit (or abort) marker, which is never delivered, and compaction can remove any offset.

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
    #[error("reading {topic} made no progress towards the high watermark for {timeout:?}")]
    Timeout { topic: String, timeout: Duration },
}

/// Errors a read rides out: the broker connection or a partition's leader is away for now.
fn is_transient(e: &KafkaError) -> bool {
    use rdkafka::error::RDKafkaErrorCode as Code;
    matches!(
        e.rdkafka_error_code(),
        Some(
            Code::BrokerTransportFailure
                | Code::AllBrokersDown
                | Code::NetworkException
                | Code::RequestTimedOut
                | Code::OperationTimedOut
                | Code::NotLeaderForPartition
                | Code::LeaderNotAvailable
                | Code::NotCoordinator
        )
    )
}

/// A consumer that reads assigned partitions and commits nothing.
fn reader(kafka: &KafkaSettings) -> Result<BaseConsumer, KafkaError> {
    let mut config = kafka.client_config();
    config
        .set("group.id", "gluey-topic-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    config.create()
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
    let high = read_partitions_to_end(kafka, &[topic], None, timeout, |_, message| each(message))?;
    Ok(high
        .into_iter()
        .map(|((_, partition), high)| (partition, high))
        .collect())
}

/// Calls `each(topic, record)` for every record of `topics` (only partition `only` of each when
/// given), in order within each partition, up to the high watermarks taken at the start; returns
/// them by (topic, partition). Blocking. `timeout` bounds a stretch without progress, not the
/// whole read: a long read that keeps receiving records goes on.
pub fn read_partitions_to_end(
    kafka: &KafkaSettings,
    topics: &[&str],
    only: Option<i32>,
    timeout: Duration,
    each: impl FnMut(&str, &BorrowedMessage<'_>),
) -> Result<BTreeMap<(String, i32), i64>, ReadError> {
    let from: Vec<(&str, i64)> = topics.iter().map(|t| (*t, 0)).collect();
    read_partitions_from(kafka, &from, only, timeout, each)
}

/// As [`read_partitions_to_end`], each topic from the given offset on (or its low watermark,
/// whichever is later).
pub fn read_partitions_from(
    kafka: &KafkaSettings,
    topics: &[(&str, i64)],
    only: Option<i32>,
    timeout: Duration,
    mut each: impl FnMut(&str, &BorrowedMessage<'_>),
) -> Result<BTreeMap<(String, i32), i64>, ReadError> {
    let consumer = reader(kafka)?;
    let mut deadline = Instant::now() + timeout;
    let mut high_watermarks = BTreeMap::new();
    let mut remaining = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for (topic, from) in topics {
        let (topic, from) = (*topic, *from);
        let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .filter(|p| only.is_none_or(|only| only == *p))
            .collect();
        if partitions.is_empty() {
            return Err(ReadError::NoTopic(match only {
                Some(p) => format!("{topic} partition {p}"),
                None => topic.to_string(),
            }));
        }
        for partition in partitions {
            let (low, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
            let start = low.max(from);
            high_watermarks.insert((topic.to_string(), partition), high);
            if high > start {
                assignment.add_partition_offset(topic, partition, Offset::Offset(start))?;
                remaining.insert((topic.to_string(), partition), high);
            }
        }
    }
    if remaining.is_empty() {
        return Ok(high_watermarks);
    }
    consumer.assign(&assignment)?;
    while !remaining.is_empty() {
        if Instant::now() > deadline {
            return Err(ReadError::Timeout {
                topic: topics
                    .iter()
                    .map(|(t, _)| *t)
                    .collect::<Vec<_>>()
                    .join(", "),
                timeout,
            });
        }
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            match message {
                Ok(message) => {
                    each(message.topic(), &message);
                    deadline = Instant::now() + timeout;
                }
                // A broker going away mid-read (a leader moves): the fetcher carries on
                // elsewhere; the no-progress deadline bounds the wait.
                Err(e) if is_transient(&e) => {
                    tracing::debug!(error = %e, "transient error while reading; carrying on")
                }
                Err(e) => return Err(e.into()),
            }
        }
        // The position is the offset after the last record delivered, or past markers and
        // compacted gaps once the fetcher has moved beyond them.
        let position = consumer.position()?;
        remaining.retain(|(topic, partition), high| {
            let reached = position
                .find_partition(topic, *partition)
                .and_then(|p| match p.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                })
                .is_some_and(|o| o >= *high);
            !reached
        });
    }
    Ok(high_watermarks)
}

/// The values of the records at `offsets` of one partition (a tombstone as an empty value), in
/// one pass, seeking over long stretches between them. An offset no longer on the topic
/// (retention) is missing from the answer. Blocking.
pub fn read_offsets(
    kafka: &KafkaSettings,
    topic: &str,
    partition: i32,
    offsets: &[i64],
    timeout: Duration,
) -> Result<BTreeMap<i64, Vec<u8>>, ReadError> {
    /// Farther ahead than this, the reader seeks instead of reading through.
    const SEEK_BEYOND: i64 = 1_000;
    let mut found = BTreeMap::new();
    let consumer = reader(kafka)?;
    let (low, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
    let mut pending: std::collections::BTreeSet<i64> = offsets
        .iter()
        .copied()
        .filter(|o| (low..high).contains(o))
        .collect();
    let Some(&first) = pending.first() else {
        return Ok(found);
    };
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, Offset::Offset(first))?;
    consumer.assign(&assignment)?;
    let mut deadline = Instant::now() + timeout;
    while !pending.is_empty() {
        if Instant::now() > deadline {
            return Err(ReadError::Timeout {
                topic: topic.to_string(),
                timeout,
            });
        }
        let message = match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(e)) if is_transient(&e) => continue,
            Some(message) => message?,
        };
        deadline = Instant::now() + timeout;
        let offset = message.offset();
        if pending.remove(&offset) {
            found.insert(offset, message.payload().unwrap_or_default().to_vec());
        }
        // Offsets passed without a record (transaction markers) are not coming.
        pending.retain(|o| *o > offset);
        if let Some(&next) = pending.first() {
            if next - offset > SEEK_BEYOND {
                consumer.seek(topic, partition, Offset::Offset(next), timeout)?;
            }
        }
    }
    Ok(found)
}
