//! The consume → transform → produce loop. One raw record at a time per instance, in partition
//! order: decode the envelope, parse with the carrier module, join the shipment's owner, plan the
//! outputs against the shipment book, produce them and wait for the acks, and only then store
//! the input offset. Kafka being unavailable is waited out (nothing is skipped); anything about
//! the record itself that fails goes to the dead-letter topic, on the first attempt.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use gluey_carriers::{ParsedRecord, RawInput};
use gluey_contract::{
    shipment_key, CanonicalRecord, Codec, DeadLetter, RawEnvelope, RawReference, Status,
};
use gluey_kafka::headers::with_traceparent;
use gluey_kafka::{KafkaSettings, RecordProducer};
use gluey_ops::Health;
use prometheus::Registry;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;
use tokio_util::sync::CancellationToken;

use crate::config::NormalizerConfig;
use crate::metrics::NormalizerMetrics;
use crate::rebalance::PartitionOwnership;
use crate::restore::{restore_partition, RestoreError};
use crate::shipment_book::ShipmentBook;
use crate::transform::{plan, Owner, Source};

#[derive(Debug, thiserror::Error)]
pub enum NormalizerError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("restoring shipment state: {0}")]
    Restore(#[from] RestoreError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("{0}")]
    Mapping(#[from] gluey_carriers::mapping::MappingError),
}

/// Why a raw record is dead-lettered.
#[derive(Debug)]
struct Poison {
    stage: &'static str,
    reason: String,
}

/// A failure that passes with time (Kafka or the registry unavailable): retry the record.
#[derive(Debug)]
struct Transient(String);

/// How a raw record ended, with its carrier (`unknown` when the envelope did not decode).
enum Outcome {
    Published {
        carrier: String,
    },
    Duplicate {
        carrier: String,
    },
    DeadLettered {
        carrier: String,
        stage: &'static str,
    },
}

struct Normalizer {
    config: NormalizerConfig,
    codec: Arc<Codec>,
    producer: RecordProducer,
    kafka: KafkaSettings,
    /// Shipment state of the partitions this instance owns and has restored.
    books: HashMap<i32, ShipmentBook>,
    metrics: NormalizerMetrics,
}

pub async fn run_normalizer(
    config: NormalizerConfig,
    kafka: &KafkaSettings,
    codec: Arc<Codec>,
    registry: &Registry,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), NormalizerError> {
    // A broken mapping table is a start-up error, not a stream of dead letters.
    gluey_carriers::validate_mappings()?;
    let metrics = NormalizerMetrics::register(registry)?;
    let producer = RecordProducer::new(kafka, config.produce_timeout)?;
    let ownership = PartitionOwnership::default();
    let revocations = ownership.revocations.clone();
    let consumer: StreamConsumer<PartitionOwnership> = kafka
        .consumer_config(&config.group_id)
        .create_with_context(ownership)?;
    consumer.subscribe(&[&config.topics.raw()])?;
    health.set_ready(true, "consuming");
    let mut normalizer = Normalizer {
        config,
        codec,
        producer,
        kafka: kafka.clone(),
        books: HashMap::new(),
        metrics,
    };
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    loop {
        health.beat();
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = heartbeat.tick() => continue,
            m = consumer.recv() => m,
        };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "consume error");
                continue;
            }
        };
        for partition in revocations.take() {
            normalizer.books.remove(&partition);
        }
        if !normalizer.books.contains_key(&message.partition()) {
            let restored = tokio::select! {
                r = normalizer.restore(message.partition()) => r?,
                _ = shutdown.cancelled() => break,
            };
            normalizer.books.insert(message.partition(), restored);
        }
        let Some(outcome) = normalizer
            .process_until_done(&message, &shutdown, &health)
            .await
        else {
            // Shutdown while Kafka was unavailable: the offset stays unstored, so the record is
            // processed again after restart.
            break;
        };
        normalizer.count(outcome);
        if let Err(e) = consumer.store_offset_from_message(&message) {
            tracing::warn!(error = %e, partition = message.partition(), offset = message.offset(), "cannot store offset");
        }
    }
    health.set_ready(false, "shutting down");
    tracing::info!("normalizer draining: committing offsets and flushing producer");
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        // NoOffset just means nothing new was stored since the last commit.
        tracing::debug!(error = %e, "final commit");
    }
    let producer = normalizer.producer.clone();
    let _ = tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(10))).await;
    Ok(())
}

impl Normalizer {
    /// The book of `partition`, rebuilt from the same partition of the output topic.
    async fn restore(&self, partition: i32) -> Result<ShipmentBook, RestoreError> {
        let topic = self.config.topics.events();
        let restored = restore_partition(
            &self.kafka,
            &topic,
            partition,
            self.codec.clone(),
            Duration::from_secs(300),
        )
        .await?;
        tracing::info!(
            partition,
            records = restored.records,
            shipments = restored.book.len(),
            undecodable = restored.undecodable,
            "shipment state restored from output topic"
        );
        Ok(restored.book)
    }

    async fn process_until_done(
        &mut self,
        message: &BorrowedMessage<'_>,
        shutdown: &CancellationToken,
        health: &Health,
    ) -> Option<Outcome> {
        loop {
            match self.process(message).await {
                Ok(outcome) => return Some(outcome),
                Err(Transient(reason)) => {
                    tracing::warn!(partition = message.partition(), offset = message.offset(), %reason, "kafka unavailable; retrying the record");
                    health.beat();
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(self.config.retry_backoff) => {}
                    }
                }
            }
        }
    }

    async fn process(&mut self, message: &BorrowedMessage<'_>) -> Result<Outcome, Transient> {
        let payload = message.payload().unwrap_or_default();
        let envelope = match self.codec.decode::<RawEnvelope>(payload).await {
            Ok(envelope) => envelope,
            Err(e) if e.is_retryable() => return Err(Transient(e.to_string())),
            Err(e) => {
                let poison = Poison {
                    stage: "decode",
                    reason: e.to_string(),
                };
                return self.dead_letter(message, None, poison).await;
            }
        };
        let raw_ref = RawReference {
            envelope_id: envelope.envelope_id.clone(),
            topic: message.topic().to_string(),
            partition: message.partition(),
            offset: message.offset(),
        };
        match self.transform(&envelope, &raw_ref) {
            Ok((outputs, duplicates)) => self.publish(outputs, duplicates, &envelope).await,
            Err(poison) => self.dead_letter(message, Some(&envelope), poison).await,
        }
    }

    /// Parses and plans; the book is not changed until the outputs are acknowledged.
    fn transform(
        &self,
        envelope: &RawEnvelope,
        raw_ref: &RawReference,
    ) -> Result<(Vec<CanonicalRecord>, usize), Poison> {
        let format = gluey_carriers::format(&envelope.format).ok_or_else(|| Poison {
            stage: "parse",
            reason: format!("no parser for format {:?}", envelope.format),
        })?;
        let parsed = format
            .parse(RawInput {
                carrier: &envelope.carrier,
                payload: &envelope.payload,
                context: &envelope.context,
                received_at: envelope.received_at,
            })
            .map_err(|e| Poison {
                stage: "parse",
                reason: e.to_string(),
            })?;
        if !parsed.skipped.is_empty() {
            self.metrics
                .skipped
                .with_label_values(&[&envelope.carrier])
                .inc_by(parsed.skipped.len() as u64);
        }
        let parsed = parsed.records;
        let unmapped = parsed
            .iter()
            .filter(|r| matches!(r, ParsedRecord::Event { event, .. } if event.status == Status::Unknown))
            .count();
        if unmapped > 0 {
            self.metrics
                .unmapped
                .with_label_values(&[&envelope.carrier])
                .inc_by(unmapped as u64);
        }
        let mut by_shipment: BTreeMap<String, Vec<ParsedRecord>> = BTreeMap::new();
        for record in parsed {
            by_shipment
                .entry(shipment_key(format.carrier(), record.tracking_number()))
                .or_default()
                .push(record);
        }
        let directory = self.config.shipments.current();
        let unregistered: Vec<&String> = by_shipment
            .keys()
            .filter(|k| directory.get(k).is_none())
            .collect();
        if !unregistered.is_empty() {
            return Err(Poison {
                stage: "join",
                reason: format!(
                    "no registered shipment for {}",
                    unregistered
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        let now = Utc::now();
        // Restored before the partition's first record; empty only if that invariant broke.
        let empty = ShipmentBook::default();
        let mut outputs = Vec::new();
        let mut duplicates = 0;
        for (key, records) in by_shipment {
            let Some(registered) = directory.get(&key) else {
                continue;
            };
            let owner = Owner {
                shipment_key: key,
                customer_id: registered.customer.clone(),
                shipment_id: registered.shipment_id.clone(),
            };
            let planned = plan(
                records,
                &owner,
                self.books.get(&raw_ref.partition).unwrap_or(&empty),
                Source {
                    envelope,
                    raw_ref,
                    now,
                },
            );
            outputs.extend(planned.outputs);
            duplicates += planned.duplicates;
        }
        Ok((outputs, duplicates))
    }

    async fn publish(
        &mut self,
        outputs: Vec<CanonicalRecord>,
        duplicates: usize,
        envelope: &RawEnvelope,
    ) -> Result<Outcome, Transient> {
        let carrier = envelope.carrier.clone();
        if outputs.is_empty() {
            tracing::debug!(carrier, duplicates, "nothing new in raw record");
            return Ok(Outcome::Duplicate { carrier });
        }
        let topic = self.config.topics.events();
        let mut encoded = Vec::with_capacity(outputs.len());
        for record in &outputs {
            match self.codec.encode(&topic, record).await {
                Ok(bytes) => encoded.push(bytes),
                Err(e) if e.is_retryable() => return Err(Transient(e.to_string())),
                // Our own record not fitting our own schema is a bug, not bad input: stop here
                // rather than skip, so nothing is lost; the error says which schema.
                Err(e) => return Err(Transient(format!("cannot encode canonical record: {e}"))),
            }
        }
        let sends = outputs.iter().zip(&encoded).map(|(record, bytes)| {
            self.producer.send(
                &topic,
                Some(record.shipment_key.as_bytes()),
                bytes,
                with_traceparent(&envelope.trace_id),
            )
        });
        let results = futures::future::join_all(sends).await;
        let mut failure = None;
        for (record, result) in outputs.iter().zip(results) {
            match result {
                // Observed as soon as acknowledged: a retry of this raw record will see it as published.
                Ok(_) => self
                    .books
                    .entry(record.raw_ref.partition)
                    .or_default()
                    .observe(record),
                Err(e) => failure = Some(e.to_string()),
            }
        }
        if let Some(reason) = failure {
            return Err(Transient(reason));
        }
        for record in &outputs {
            let record_type = if record.event.is_some() {
                "tracking_event"
            } else {
                "shipment_update"
            };
            self.metrics
                .published
                .with_label_values(&[&record.carrier, record_type])
                .inc();
        }
        Ok(Outcome::Published { carrier })
    }

    async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        envelope: Option<&RawEnvelope>,
        poison: Poison,
    ) -> Result<Outcome, Transient> {
        let letter = DeadLetter {
            stage: poison.stage.to_string(),
            reason: poison.reason,
            carrier: envelope.map(|e| e.carrier.clone()),
            format: envelope.map(|e| e.format.clone()),
            source_topic: message.topic().to_string(),
            source_partition: message.partition(),
            source_offset: message.offset(),
            source_key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().unwrap_or_default().to_vec(),
            envelope_id: envelope.map(|e| e.envelope_id.clone()),
            trace_id: envelope.map(|e| e.trace_id.clone()),
            failed_at: Utc::now(),
        };
        tracing::warn!(
            stage = letter.stage, reason = %letter.reason, carrier = letter.carrier.as_deref().unwrap_or("?"),
            partition = message.partition(), offset = message.offset(), "dead-lettering raw record"
        );
        let topic = self.config.topics.deadletter();
        let bytes = self
            .codec
            .encode(&topic, &letter)
            .await
            .map_err(|e| Transient(e.to_string()))?;
        let trace = letter
            .trace_id
            .clone()
            .unwrap_or_else(gluey_ops::trace::new_traceparent);
        self.producer
            .send(&topic, message.key(), &bytes, with_traceparent(&trace))
            .await
            .map_err(|e| Transient(e.to_string()))?;
        Ok(Outcome::DeadLettered {
            carrier: envelope
                .map(|e| e.carrier.clone())
                .unwrap_or_else(|| "unknown".into()),
            stage: poison.stage,
        })
    }

    fn count(&self, outcome: Outcome) {
        match outcome {
            Outcome::Published { carrier } => self
                .metrics
                .records
                .with_label_values(&[&carrier, "published"])
                .inc(),
            Outcome::Duplicate { carrier } => self
                .metrics
                .records
                .with_label_values(&[&carrier, "duplicate"])
                .inc(),
            Outcome::DeadLettered { carrier, stage } => {
                self.metrics
                    .records
                    .with_label_values(&[&carrier, "deadletter"])
                    .inc();
                self.metrics
                    .deadletters
                    .with_label_values(&[&carrier, stage])
                    .inc();
            }
        }
    }
}
