//! What the book is built from: the service's own state topic (`ingest.webhook.subscriptions.v1`,
//! what was subscribed and until when), the registry (`tracking.shipments.v1`, which numbers are
//! wanted) and `tracking.events.v1` (which shipments are over). At start-up the first two are read
//! in full, state first, so a restart knows every subscription before it looks at a registration;
//! the registry is then followed from where the read ended, and the events through a consumer
//! group.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gluey_contract::{CanonicalRecord, Codec, PushSubscription, Shipment, TopicNames};
use gluey_kafka::{read_to_end, KafkaSettings, ReadError};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};

use super::book::{StatusUpdate, SubjectKey, SubscriptionBook};

/// The carriers whose registered tracking numbers are subscribed one by one.
#[derive(Debug, Clone, Default)]
pub struct PerNumber(pub Vec<&'static str>);

impl PerNumber {
    fn covers(&self, carrier: &str) -> bool {
        self.0.contains(&carrier)
    }
}

/// A registry record (`None`: a tombstone) under `key`.
pub fn apply_registration(
    book: &mut SubscriptionBook,
    per_number: &PerNumber,
    key: &str,
    value: Option<&Shipment>,
    now: DateTime<Utc>,
) {
    let Some(subject) = SubjectKey::parse(key) else {
        return;
    };
    if !per_number.covers(&subject.carrier) {
        return;
    }
    match value {
        None => book.deregister(&subject),
        // An alias record points at its owner; an owner record is keyed by itself.
        Some(shipment) => book.register(&subject, shipment.alias_of.as_deref().unwrap_or(key), now),
    }
}

/// A record of `tracking.events.v1`.
pub fn apply_event(
    book: &mut SubscriptionBook,
    per_number: &PerNumber,
    record: &CanonicalRecord,
    now: DateTime<Utc>,
) {
    if !per_number.covers(&record.carrier) {
        return;
    }
    book.observe_status(
        StatusUpdate {
            carrier: &record.carrier,
            shipment_key: &record.shipment_key,
            tracking_number: &record.tracking_number,
            status: record.shipment.status,
            terminal: record.shipment.terminal,
            sequence: record.sequence,
        },
        now,
    );
}

/// The book as the topics have it, and where to follow the registry from.
#[derive(Debug)]
pub struct Restored {
    pub book: SubscriptionBook,
    pub registry_from: BTreeMap<i32, i64>,
    pub state_records: u64,
    pub registry_records: u64,
    pub undecodable: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("reading {topic}: {source}")]
    Read { topic: String, source: ReadError },
    #[error("restore task failed: {0}")]
    Task(String),
}

/// Reads the state topic, then the registry, in full (blocking reads off the runtime).
pub async fn restore(
    kafka: &KafkaSettings,
    topics: &TopicNames,
    codec: Arc<Codec>,
    per_number: PerNumber,
    timeout: Duration,
) -> Result<Restored, RestoreError> {
    let (kafka, topics) = (kafka.clone(), topics.clone());
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut book = SubscriptionBook::default();
        let (mut state_records, mut registry_records, mut undecodable) = (0, 0, 0);
        let state_topic = topics.push_subscriptions();
        read_to_end(&kafka, &state_topic, timeout, |message| {
            state_records += 1;
            let key = message.key().and_then(|k| std::str::from_utf8(k).ok());
            match (message.payload(), key.and_then(SubjectKey::parse)) {
                (None, Some(subject)) => book.forget(&subject),
                (Some(bytes), _) => match handle.block_on(codec.decode::<PushSubscription>(bytes)) {
                    Ok(record) => book.restore(record),
                    Err(e) => {
                        undecodable += 1;
                        tracing::warn!(topic = state_topic, partition = message.partition(), offset = message.offset(), error = %e, "undecodable subscription state skipped");
                    }
                },
                (None, None) => {}
            }
        })
        .map_err(|source| RestoreError::Read { topic: state_topic.clone(), source })?;

        let registry_topic = topics.shipments();
        let now = Utc::now();
        let registry_from = read_to_end(&kafka, &registry_topic, timeout, |message| {
            registry_records += 1;
            let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
                return;
            };
            match message.payload() {
                None => apply_registration(&mut book, &per_number, key, None, now),
                Some(bytes) => match handle.block_on(codec.decode::<Shipment>(bytes)) {
                    Ok(shipment) => apply_registration(&mut book, &per_number, key, Some(&shipment), now),
                    Err(e) => {
                        undecodable += 1;
                        tracing::warn!(topic = registry_topic, partition = message.partition(), offset = message.offset(), error = %e, "undecodable registration skipped");
                    }
                },
            }
        })
        .map_err(|source| RestoreError::Read { topic: registry_topic.clone(), source })?;
        Ok(Restored {
            book,
            registry_from,
            state_records,
            registry_records,
            undecodable,
        })
    })
    .await
    .map_err(|e| RestoreError::Task(e.to_string()))?
}

/// A consumer of every partition of the registry from `from` on (no group offsets: the registry
/// is read in full at every start).
pub fn registry_follower(
    kafka: &KafkaSettings,
    topics: &TopicNames,
    from: &BTreeMap<i32, i64>,
) -> Result<StreamConsumer, KafkaError> {
    let mut config = kafka.client_config();
    config
        .set("group.id", "gluey-ingest-subscriptions-registry")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest");
    let consumer: StreamConsumer = config.create()?;
    let topic = topics.shipments();
    let mut assignment = TopicPartitionList::new();
    for (partition, offset) in from {
        assignment.add_partition_offset(&topic, *partition, Offset::Offset(*offset))?;
    }
    consumer.assign(&assignment)?;
    Ok(consumer)
}

/// The consumer of `tracking.events.v1` in the service's group; offsets are stored once what a
/// record changed is written.
pub fn events_consumer(
    kafka: &KafkaSettings,
    topics: &TopicNames,
    group_id: &str,
) -> Result<StreamConsumer, KafkaError> {
    let consumer: StreamConsumer = kafka.consumer_config(group_id).create()?;
    consumer.subscribe(&[&topics.events()])?;
    Ok(consumer)
}
