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
use crate::parking::{Parked, RawRecord, PARKED_AT, PARKED_FROM, RESOLUTION, RESOLVES};
use crate::rebalance::PartitionOwnership;
use crate::restore::{restore_partition, PartitionState, RestoreError};
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
    /// Waiting for its shipment to register (`normalizer.parked.v1`).
    Parked {
        carrier: String,
    },
}

/// What a raw record turns into.
enum Transformed {
    Publish(Vec<CanonicalRecord>, usize),
    /// Its shipment is not registered (yet).
    Unregistered(String),
}

struct Normalizer {
    config: NormalizerConfig,
    codec: Arc<Codec>,
    producer: RecordProducer,
    kafka: KafkaSettings,
    /// State of the partitions this instance owns and has restored.
    partitions: HashMap<i32, PartitionState>,
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
    // Raw records and registrations of the same partitions (co-partitioned; the range assignor
    // gives one member the same partition numbers of both topics).
    let shipments_topic = config.topics.shipments();
    consumer.subscribe(&[&config.topics.raw(), &shipments_topic])?;
    health.set_ready(true, "consuming");
    let mut normalizer = Normalizer {
        config,
        codec,
        producer,
        kafka: kafka.clone(),
        partitions: HashMap::new(),
        metrics,
    };
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    let mut sweep = tokio::time::interval(normalizer.config.park_sweep_interval);
    loop {
        health.beat();
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = heartbeat.tick() => continue,
            _ = sweep.tick() => {
                if normalizer.expire_parked(&shutdown, &health).await.is_none() {
                    break;
                }
                continue;
            }
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
            normalizer.partitions.remove(&partition);
        }
        if !normalizer.partitions.contains_key(&message.partition()) {
            let restored = tokio::select! {
                r = normalizer.restore(message.partition()) => r?,
                _ = shutdown.cancelled() => break,
            };
            normalizer.partitions.insert(message.partition(), restored);
            // Records parked for shipments that registered while nobody owned the partition.
            if normalizer
                .release_registered(&shutdown, &health)
                .await
                .is_none()
            {
                break;
            }
        }
        if message.topic() == shipments_topic {
            normalizer.registration(&message).await;
            if normalizer
                .release_registered(&shutdown, &health)
                .await
                .is_none()
            {
                break;
            }
            if let Err(e) = consumer.store_offset_from_message(&message) {
                tracing::warn!(error = %e, "cannot store offset");
            }
            continue;
        }
        let raw = RawRecord::from_message(&message);
        let Some(outcome) = normalizer.until_done(&raw, false, &shutdown, &health).await else {
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
    /// The state of `partition`, rebuilt from the same partition of the output and registry
    /// topics.
    async fn restore(&self, partition: i32) -> Result<PartitionState, RestoreError> {
        let state = restore_partition(
            &self.kafka,
            &self.config.topics,
            partition,
            self.codec.clone(),
            Duration::from_secs(300),
        )
        .await?;
        tracing::info!(
            partition,
            records = state.events_read,
            shipments = state.book.len(),
            registrations = state.registrations.len(),
            undecodable = state.undecodable,
            "shipment state restored from output topic"
        );
        Ok(state)
    }

    /// A registration (or a tombstone) from `tracking.shipments.v1`.
    async fn registration(&mut self, message: &BorrowedMessage<'_>) {
        let Some(state) = self.partitions.get_mut(&message.partition()) else {
            return;
        };
        if message.offset() < state.shipments_restored_to {
            return; // already applied by the restore, possibly followed by newer records
        }
        let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
            tracing::warn!(
                offset = message.offset(),
                "registration without a UTF-8 key ignored"
            );
            return;
        };
        match message.payload() {
            None => state.registrations.apply(key, None),
            Some(bytes) => match self.codec.decode::<gluey_contract::Shipment>(bytes).await {
                Ok(shipment) => state.registrations.apply(key, Some(shipment)),
                Err(e) => {
                    tracing::warn!(key, offset = message.offset(), error = %e, "undecodable registration ignored")
                }
            },
        }
    }

    async fn until_done(
        &mut self,
        raw: &RawRecord,
        parked: bool,
        shutdown: &CancellationToken,
        health: &Health,
    ) -> Option<Outcome> {
        loop {
            match self.process(raw, parked).await {
                Ok(outcome) => return Some(outcome),
                Err(Transient(reason)) => {
                    tracing::warn!(partition = raw.partition, offset = raw.offset, %reason, "kafka unavailable; retrying the record");
                    health.beat();
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(self.config.retry_backoff) => {}
                    }
                }
            }
        }
    }

    async fn process(&mut self, raw: &RawRecord, parked: bool) -> Result<Outcome, Transient> {
        let envelope = match self.codec.decode::<RawEnvelope>(&raw.payload).await {
            Ok(envelope) => envelope,
            Err(e) if e.is_retryable() => return Err(Transient(e.to_string())),
            Err(e) => {
                let poison = Poison {
                    stage: "decode",
                    reason: e.to_string(),
                };
                return self.dead_letter(raw, None, poison).await;
            }
        };
        let raw_ref = RawReference {
            envelope_id: envelope.envelope_id.clone(),
            topic: raw.topic.clone(),
            partition: raw.partition,
            offset: raw.offset,
        };
        match self.transform(&envelope, &raw_ref) {
            Ok(Transformed::Publish(outputs, duplicates)) => {
                self.publish(outputs, duplicates, &envelope).await
            }
            // A released record whose shipment was deregistered meanwhile stays parked.
            Ok(Transformed::Unregistered(_)) if parked => Ok(Outcome::Parked {
                carrier: envelope.carrier,
            }),
            Ok(Transformed::Unregistered(key)) => self.park(raw, &key, &envelope).await,
            Err(poison) => self.dead_letter(raw, Some(&envelope), poison).await,
        }
    }

    /// Parks `raw` under `key` until the shipment registers.
    async fn park(
        &mut self,
        raw: &RawRecord,
        key: &str,
        envelope: &RawEnvelope,
    ) -> Result<Outcome, Transient> {
        use rdkafka::message::{Header, OwnedHeaders};
        let now = Utc::now();
        let (reference, at) = (raw.reference(), now.to_rfc3339());
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: PARKED_FROM,
                value: Some(&reference),
            })
            .insert(Header {
                key: PARKED_AT,
                value: Some(&at),
            })
            .insert(Header {
                key: gluey_kafka::headers::TRACEPARENT,
                value: Some(&envelope.trace_id),
            });
        let acked = self
            .producer
            .send(
                &self.config.topics.parked(),
                Some(key.as_bytes()),
                &raw.payload,
                headers,
            )
            .await
            .map_err(|e| Transient(e.to_string()))?;
        tracing::info!(
            shipment_key = key,
            partition = raw.partition,
            offset = raw.offset,
            "parked until the shipment registers"
        );
        self.partitions
            .entry(raw.partition)
            .or_default()
            .parked
            .add(
                key,
                Parked {
                    parked_offset: acked.offset,
                    parked_at: now,
                    raw: RawRecord {
                        key: Some(key.as_bytes().to_vec()),
                        ..raw.clone()
                    },
                },
            );
        Ok(Outcome::Parked {
            carrier: envelope.carrier.clone(),
        })
    }

    /// Writes the marker that resolves a parked record.
    async fn resolve_parked(
        &mut self,
        partition: i32,
        key: &str,
        parked: &Parked,
        resolution: &str,
    ) -> Result<(), Transient> {
        use rdkafka::message::{Header, OwnedHeaders};
        let offset = parked.parked_offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: RESOLVES,
                value: Some(&offset),
            })
            .insert(Header {
                key: RESOLUTION,
                value: Some(resolution),
            });
        self.producer
            .send(
                &self.config.topics.parked(),
                Some(key.as_bytes()),
                &[],
                headers,
            )
            .await
            .map_err(|e| Transient(e.to_string()))?;
        if let Some(state) = self.partitions.get_mut(&partition) {
            state.parked.resolve(key, parked.parked_offset);
        }
        Ok(())
    }

    /// Releases, in arrival order, the parked records of shipments that have registered.
    async fn release_registered(
        &mut self,
        shutdown: &CancellationToken,
        health: &Health,
    ) -> Option<()> {
        let mut ready: Vec<(i32, String)> = Vec::new();
        for (partition, state) in &self.partitions {
            for key in state.parked.keys() {
                if state.registrations.get(&key).is_some() {
                    ready.push((*partition, key));
                }
            }
        }
        for (partition, key) in ready {
            let parked = self
                .partitions
                .get(&partition)
                .map(|s| s.parked.of(&key))
                .unwrap_or_default();
            for entry in parked {
                let outcome = self.until_done(&entry.raw, true, shutdown, health).await?;
                if matches!(outcome, Outcome::Parked { .. }) {
                    break; // deregistered meanwhile: the rest waits too
                }
                tracing::info!(
                    shipment_key = key,
                    offset = entry.raw.offset,
                    "released parked record"
                );
                self.count(outcome);
                self.resolve_until_done((partition, &key, &entry), "released", shutdown, health)
                    .await?;
            }
        }
        Some(())
    }

    /// Dead-letters parked records older than the park window.
    async fn expire_parked(&mut self, shutdown: &CancellationToken, health: &Health) -> Option<()> {
        let now = Utc::now();
        let window =
            chrono::Duration::from_std(self.config.park_window).unwrap_or(chrono::Duration::MAX);
        let expired: Vec<(i32, String, Parked)> = self
            .partitions
            .iter()
            .flat_map(|(p, s)| {
                s.parked
                    .expired(now, window)
                    .into_iter()
                    .map(move |(k, e)| (*p, k, e))
            })
            .collect();
        for (partition, key, entry) in expired {
            let reason = format!(
                "no shipment registered for {key} within {:?}",
                self.config.park_window
            );
            let envelope = self
                .codec
                .decode::<RawEnvelope>(&entry.raw.payload)
                .await
                .ok();
            let outcome = loop {
                let poison = Poison {
                    stage: "join",
                    reason: reason.clone(),
                };
                match self
                    .dead_letter(&entry.raw, envelope.as_ref(), poison)
                    .await
                {
                    Ok(outcome) => break outcome,
                    Err(Transient(why)) => self.pause(&why, shutdown, health).await?,
                }
            };
            self.count(outcome);
            self.resolve_until_done((partition, &key, &entry), "expired", shutdown, health)
                .await?;
        }
        Some(())
    }

    /// Waits out a Kafka outage before the next attempt; `None` if shutdown came first.
    async fn pause(
        &self,
        reason: &str,
        shutdown: &CancellationToken,
        health: &Health,
    ) -> Option<()> {
        tracing::warn!(%reason, "kafka unavailable; retrying");
        health.beat();
        tokio::select! {
            _ = shutdown.cancelled() => None,
            _ = tokio::time::sleep(self.config.retry_backoff) => Some(()),
        }
    }

    async fn resolve_until_done(
        &mut self,
        target: (i32, &str, &Parked),
        resolution: &str,
        shutdown: &CancellationToken,
        health: &Health,
    ) -> Option<()> {
        let (partition, key, entry) = target;
        loop {
            match self.resolve_parked(partition, key, entry, resolution).await {
                Ok(()) => return Some(()),
                Err(Transient(reason)) => self.pause(&reason, shutdown, health).await?,
            }
        }
    }

    fn transform(
        &self,
        envelope: &RawEnvelope,
        raw_ref: &RawReference,
    ) -> Result<Transformed, Poison> {
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
        let empty = PartitionState::default();
        let state = self.partitions.get(&raw_ref.partition).unwrap_or(&empty);
        // Raw records are split per shipment, so there is normally one key; if any is not
        // registered the whole record waits (what was published is deduplicated on release).
        if let Some(unregistered) = by_shipment
            .keys()
            .find(|k| state.registrations.get(k).is_none())
        {
            return Ok(Transformed::Unregistered(unregistered.clone()));
        }
        let now = Utc::now();
        let mut outputs = Vec::new();
        let mut duplicates = 0;
        for (key, records) in by_shipment {
            let Some(registered) = state.registrations.get(&key) else {
                continue;
            };
            let owner = Owner {
                // Records under an alias keep the alias's key until forwarding to the owner's
                // partition exists; the customer is the owner's.
                shipment_key: key,
                customer_id: registered.customer_id.clone(),
                shipment_id: registered.shipment_id.clone(),
            };
            let planned = plan(
                records,
                &owner,
                &state.book,
                Source {
                    envelope,
                    raw_ref,
                    now,
                },
            );
            outputs.extend(planned.outputs);
            duplicates += planned.duplicates;
        }
        Ok(Transformed::Publish(outputs, duplicates))
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
                    .partitions
                    .entry(record.raw_ref.partition)
                    .or_default()
                    .book
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
        raw: &RawRecord,
        envelope: Option<&RawEnvelope>,
        poison: Poison,
    ) -> Result<Outcome, Transient> {
        let letter = DeadLetter {
            stage: poison.stage.to_string(),
            reason: poison.reason,
            carrier: envelope.map(|e| e.carrier.clone()),
            format: envelope.map(|e| e.format.clone()),
            source_topic: raw.topic.clone(),
            source_partition: raw.partition,
            source_offset: raw.offset,
            source_key: raw.key.clone(),
            payload: raw.payload.clone(),
            envelope_id: envelope.map(|e| e.envelope_id.clone()),
            trace_id: envelope.map(|e| e.trace_id.clone()),
            failed_at: Utc::now(),
        };
        tracing::warn!(
            stage = letter.stage, reason = %letter.reason, carrier = letter.carrier.as_deref().unwrap_or("?"),
            partition = raw.partition, offset = raw.offset, "dead-lettering raw record"
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
            .send(&topic, raw.key.as_deref(), &bytes, with_traceparent(&trace))
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
            Outcome::Parked { carrier } => self
                .metrics
                .records
                .with_label_values(&[&carrier, "parked"])
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
