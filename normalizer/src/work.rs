//! What the normalizer does with one record, without waiting for Kafka: decode, parse, join,
//! plan against the partition's state, and hand the outputs (canonical records, a parked copy, a
//! dead letter, a resolution marker) to the producer. The partition's state is updated as soon as
//! an output is handed over; the batch loop (`pipeline`) waits for every acknowledgement before it
//! stores input offsets, and if any output of a partition fails it drops that partition's state
//! and rewinds its input, so the state is rebuilt from what Kafka really holds.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::Utc;
use gluey_carriers::{ParsedRecord, RawInput};
use gluey_contract::{
    shipment_key, CanonicalRecord, Codec, DeadLetter, RawEnvelope, RawReference, Status,
};
use gluey_kafka::deadletters::{bounded_reason, letter_records, write_dead_letter, LetterRecord};
use gluey_kafka::headers::with_traceparent;
use gluey_kafka::{KafkaSettings, PendingAck, RecordProducer};
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};
use rdkafka::Message;

use crate::config::NormalizerConfig;
use crate::metrics::NormalizerMetrics;
use crate::parking::{
    Parked, RawRecord, FORWARDED_FROM, OWNER, PARKED_AT, PARKED_FROM, RESOLUTION, RESOLVES,
};
use crate::restore::PartitionState;
use crate::transform::{plan, Owner, Source};

/// Why a raw record is dead-lettered.
#[derive(Debug)]
pub struct Poison {
    pub stage: &'static str,
    pub reason: String,
}

/// What the normalizer depends on to handle any record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    Kafka,
    SchemaRegistry,
}

impl Dependency {
    /// The bounded label of `normalizer_retries_total`.
    pub fn label(self) -> &'static str {
        match self {
            Dependency::Kafka => "kafka",
            Dependency::SchemaRegistry => "schema_registry",
        }
    }
}

/// Kafka or the schema registry is unavailable for now: the partition is rewound and its records
/// handled again after a back-off, for as long as it takes (never dead-lettered, never skipped).
#[derive(Debug)]
pub struct Transient {
    pub dependency: Dependency,
    pub reason: String,
}

impl Transient {
    pub fn kafka(reason: impl std::fmt::Display) -> Transient {
        Transient {
            dependency: Dependency::Kafka,
            reason: reason.to_string(),
        }
    }

    pub fn registry(reason: impl std::fmt::Display) -> Transient {
        Transient {
            dependency: Dependency::SchemaRegistry,
            reason: reason.to_string(),
        }
    }
}

impl std::fmt::Display for Transient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Why an output of a record was not written.
enum Failed {
    /// Retry later (see [`Transient`]).
    Transient(Transient),
    /// Kafka or the codec refuses this output itself (too large for its topic, a topic that does
    /// not exist or may not be written, a record that does not fit its schema): retrying cannot
    /// help, so the input is dead-lettered, with what was already handed over kept.
    Refused { stage: &'static str, reason: String },
}

impl Failed {
    fn encoding(e: gluey_contract::CodecError) -> Failed {
        if e.is_retryable() {
            Failed::Transient(Transient::registry(e))
        } else {
            Failed::Refused {
                stage: "encode",
                reason: e.to_string(),
            }
        }
    }

    fn producing(stage: &'static str, topic: &str, e: gluey_kafka::ProduceError) -> Failed {
        if e.is_retryable() {
            Failed::Transient(Transient::kafka(e))
        } else {
            Failed::Refused {
                stage,
                reason: format!("{topic}: {e}"),
            }
        }
    }
}

/// How a raw record ended, with its carrier (`unknown` when the envelope did not decode).
#[derive(Debug)]
pub enum Outcome {
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
    /// Sent on to the owner's partition (it arrived under an alias).
    Forwarded {
        carrier: String,
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
    /// It arrived under an alias: the owner's key, whose partition holds the state.
    Forward(String),
}

/// One record's outcome and the acknowledgements it waits for.
#[derive(Debug)]
pub struct Handled {
    pub outcome: Outcome,
    pub pending: Vec<PendingAck>,
}

pub struct Normalizer {
    pub config: NormalizerConfig,
    pub codec: Arc<Codec>,
    pub producer: RecordProducer,
    pub kafka: KafkaSettings,
    /// State of the partitions this instance owns and has restored.
    pub partitions: HashMap<i32, PartitionState>,
    /// Shipments whose state changed since their snapshot was last written.
    pub dirty: std::collections::BTreeSet<(i32, String)>,
    pub metrics: NormalizerMetrics,
    /// Raw records (by `topic/partition/offset`) an output of which Kafka refused when its
    /// acknowledgement came, with the reason: dead-lettered when handled again after the rewind.
    pub refused: HashMap<String, String>,
    /// Raw records whose dead letter Kafka refused when its acknowledgement came: their next
    /// letter is written and awaited at once, split into parts as far as Kafka requires.
    pub letters_refused: std::collections::HashSet<String>,
}

impl Normalizer {
    /// Handles one raw record. `parked`: it comes from the parked topic (a release).
    pub async fn handle(&mut self, raw: &RawRecord, parked: bool) -> Result<Handled, Transient> {
        let envelope = match self.codec.decode::<RawEnvelope>(&raw.payload).await {
            Ok(envelope) => envelope,
            Err(e) if e.is_retryable() => return Err(Transient::registry(e)),
            Err(e) => {
                let poison = Poison {
                    stage: "decode",
                    reason: e.to_string(),
                };
                return self.dead_letter(raw, None, poison).await;
            }
        };
        // An output of this record was refused by Kafka when its acknowledgement came (the
        // partition was rewound and restored since): dead-letter it now, waiting for the letter
        // (in parts if it must be), so the partition cannot come back here again.
        if let Some(reason) = self.refused.remove(&raw.reference()) {
            let poison = Poison {
                stage: "produce",
                reason,
            };
            self.letters_refused.insert(raw.reference());
            return self.dead_letter(raw, Some(&envelope), poison).await;
        }
        let mut pending = Vec::new();
        let result = self
            .handle_envelope(raw, &envelope, parked, &mut pending)
            .await;
        match result {
            Ok(mut handled) => {
                handled.pending.splice(0..0, pending);
                Ok(handled)
            }
            Err(Failed::Transient(t)) => Err(t),
            Err(Failed::Refused { stage, reason }) => {
                // What was handed over before the refusal stays (a replay dedupes it).
                let mut handled = self
                    .dead_letter(raw, Some(&envelope), Poison { stage, reason })
                    .await?;
                handled.pending.splice(0..0, pending);
                Ok(handled)
            }
        }
    }

    /// `pending` collects what is handed over, also when a later output fails.
    async fn handle_envelope(
        &mut self,
        raw: &RawRecord,
        envelope: &RawEnvelope,
        parked: bool,
        pending: &mut Vec<PendingAck>,
    ) -> Result<Handled, Failed> {
        let raw_ref = RawReference {
            envelope_id: envelope.envelope_id.clone(),
            topic: raw.topic.clone(),
            partition: raw.partition,
            offset: raw.offset,
        };
        let transformed = match self.transform(envelope, &raw_ref, raw) {
            Ok(t) => t,
            Err(poison) => {
                return self
                    .dead_letter(raw, Some(envelope), poison)
                    .await
                    .map_err(Failed::Transient)
            }
        };
        match transformed {
            Transformed::Publish(outputs, duplicates) => {
                self.publish(outputs, duplicates, envelope, raw.state_partition, pending)
                    .await
            }
            Transformed::Forward(owner) => self.forward(raw, &owner, envelope).await,
            // A released record whose shipment was deregistered meanwhile stays parked.
            Transformed::Unregistered(_) if parked => Ok(Handled {
                outcome: Outcome::Parked {
                    carrier: envelope.carrier.clone(),
                },
                pending: Vec::new(),
            }),
            Transformed::Unregistered(key) => self.park(raw, &key, envelope).await,
        }
    }

    fn transform(
        &self,
        envelope: &RawEnvelope,
        raw_ref: &RawReference,
        raw: &RawRecord,
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
            // A forwarded record belongs to its owner, whatever number the carrier used.
            let key = match &raw.owner {
                Some(owner) => owner.clone(),
                None => shipment_key(&envelope.carrier, record.tracking_number()),
            };
            by_shipment.entry(key).or_default().push(record);
        }
        let empty = PartitionState::default();
        let state = self.partitions.get(&raw.state_partition).unwrap_or(&empty);
        // Records under an alias go to the owner's partition, where its state lives.
        if raw.owner.is_none() {
            if let Some(owner) = by_shipment
                .keys()
                .find_map(|k| state.registrations.get(k).and_then(|r| r.alias_of.clone()))
            {
                return Ok(Transformed::Forward(owner));
            }
        }
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
        state_partition: i32,
        pending: &mut Vec<PendingAck>,
    ) -> Result<Handled, Failed> {
        let carrier = envelope.carrier.clone();
        if outputs.is_empty() {
            tracing::debug!(carrier, duplicates, "nothing new in raw record");
            return Ok(Handled {
                outcome: Outcome::Duplicate { carrier },
                pending: Vec::new(),
            });
        }
        let topic = self.config.topics.events();
        for record in &outputs {
            let bytes = self
                .codec
                .encode(&topic, record)
                .await
                .map_err(Failed::encoding)?;
            let ack = self
                .producer
                .enqueue(
                    &topic,
                    Some(record.shipment_key.as_bytes()),
                    &bytes,
                    with_traceparent(&envelope.trace_id),
                )
                .await
                .map_err(|e| Failed::producing("produce", &topic, e))?;
            pending.push(ack);
            // Seen from now on: the next record of this shipment builds on it. If the ack fails,
            // the batch loop drops this state and rebuilds it from the output topic.
            self.partitions
                .entry(state_partition)
                .or_default()
                .book
                .observe(record);
            self.dirty
                .insert((state_partition, record.shipment_key.clone()));
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
        Ok(Handled {
            outcome: Outcome::Published { carrier },
            pending: Vec::new(),
        })
    }

    /// Sends `raw` on to the owner's partition through the repartition topic.
    async fn forward(
        &mut self,
        raw: &RawRecord,
        owner: &str,
        envelope: &RawEnvelope,
    ) -> Result<Handled, Failed> {
        let reference = raw.reference();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: FORWARDED_FROM,
                value: Some(&reference),
            })
            .insert(Header {
                key: OWNER,
                value: Some(owner),
            })
            .insert(Header {
                key: gluey_kafka::headers::TRACEPARENT,
                value: Some(&envelope.trace_id),
            });
        let topic = self.config.topics.repartition();
        let ack = self
            .producer
            .enqueue(&topic, Some(owner.as_bytes()), &raw.payload, headers)
            .await
            .map_err(|e| Failed::producing("forward", &topic, e))?;
        tracing::debug!(
            owner,
            partition = raw.partition,
            offset = raw.offset,
            "forwarded to the owner's partition"
        );
        Ok(Handled {
            outcome: Outcome::Forwarded {
                carrier: envelope.carrier.clone(),
            },
            pending: vec![ack],
        })
    }

    /// Parks `raw` under `key` until the shipment registers.
    async fn park(
        &mut self,
        raw: &RawRecord,
        key: &str,
        envelope: &RawEnvelope,
    ) -> Result<Handled, Failed> {
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
        // Parking waits for its ack here: the marker that later resolves it needs the parked
        // copy's offset. (Parking is the exception, so the wait does not slow the stream.)
        let topic = self.config.topics.parked();
        let acked = self
            .producer
            .enqueue(&topic, Some(key.as_bytes()), &raw.payload, headers)
            .await
            .map_err(|e| Failed::producing("park", &topic, e))?
            .acked()
            .await
            .map_err(|e| Failed::producing("park", &topic, e))?;
        tracing::info!(
            shipment_key = key,
            partition = raw.partition,
            offset = raw.offset,
            "parked until the shipment registers"
        );
        self.partitions
            .entry(raw.state_partition)
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
        Ok(Handled {
            outcome: Outcome::Parked {
                carrier: envelope.carrier.clone(),
            },
            pending: Vec::new(),
        })
    }

    /// Hands over the marker that resolves a parked record.
    pub async fn resolve_parked(
        &mut self,
        partition: i32,
        key: &str,
        parked: &Parked,
        resolution: &str,
    ) -> Result<PendingAck, Transient> {
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
        let ack = self
            .producer
            .enqueue(
                &self.config.topics.parked(),
                Some(key.as_bytes()),
                &[],
                headers,
            )
            .await
            .map_err(Transient::kafka)?;
        if let Some(state) = self.partitions.get_mut(&partition) {
            state.parked.resolve(key, parked.parked_offset);
        }
        Ok(ack)
    }

    /// Writes `raw` to the dead-letter topic with `poison`'s stage and reason. The letter is
    /// handed over (its acknowledgement awaited with the batch) when it fits one record; a letter
    /// too large for one record, or one Kafka refused before (`letters_refused`), is written here
    /// and now, in numbered parts if it must be (see
    /// `gluey_kafka::deadletters::write_dead_letter`). Never dropped: a letter that cannot be
    /// written is a [`Transient`] failure, retried.
    pub async fn dead_letter(
        &mut self,
        raw: &RawRecord,
        envelope: Option<&RawEnvelope>,
        poison: Poison,
    ) -> Result<Handled, Transient> {
        let letter = DeadLetter {
            stage: poison.stage.to_string(),
            reason: bounded_reason(poison.reason),
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
        let trace = letter
            .trace_id
            .clone()
            .unwrap_or_else(gluey_ops::trace::new_traceparent);
        let carrier = envelope
            .map(|e| e.carrier.clone())
            .unwrap_or_else(|| "unknown".into());
        let outcome = Outcome::DeadLettered {
            carrier,
            stage: poison.stage,
        };
        let max_bytes = self.kafka.message_max_bytes();
        let records = letter_records(&self.codec, &topic, &letter, max_bytes)
            .await
            .map_err(|e| match e.is_retryable() {
                true => Transient::registry(e),
                false => Transient::kafka(format!("cannot encode dead letter: {e}")),
            })?;
        let awaited = self.letters_refused.contains(&raw.reference());
        if let [LetterRecord {
            value: bytes,
            part: None,
        }] = records.as_slice()
        {
            if !awaited {
                let ack = self
                    .producer
                    .enqueue(&topic, raw.key.as_deref(), bytes, with_traceparent(&trace))
                    .await
                    .map_err(|e| Transient::kafka(format!("{topic}: {e}")))?;
                return Ok(Handled {
                    outcome,
                    pending: vec![ack],
                });
            }
        }
        let written = write_dead_letter(
            &self.producer,
            &self.codec,
            &topic,
            raw.key.as_deref(),
            &letter,
            &with_traceparent(&trace),
            max_bytes,
        )
        .await
        .map_err(|e| match e.is_schema_registry() {
            true => Transient::registry(e),
            false => Transient::kafka(e),
        })?;
        self.letters_refused.remove(&raw.reference());
        tracing::info!(
            records = written,
            partition = raw.partition,
            offset = raw.offset,
            "dead letter written and acknowledged"
        );
        Ok(Handled {
            outcome,
            pending: Vec::new(),
        })
    }

    /// A registration (or a tombstone) from `tracking.shipments.v1`. One that cannot be decoded
    /// while the schema registry does not answer is a [`Transient`] failure (the partition is
    /// restored and the registration read again), never skipped.
    pub async fn registration(&mut self, message: &BorrowedMessage<'_>) -> Result<(), Transient> {
        let Some(state) = self.partitions.get_mut(&message.partition()) else {
            return Ok(());
        };
        if message.offset() < state.shipments_restored_to {
            return Ok(()); // already applied by the restore, possibly followed by newer records
        }
        let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
            tracing::warn!(
                offset = message.offset(),
                "registration without a UTF-8 key ignored"
            );
            return Ok(());
        };
        match message.payload() {
            None => state.registrations.apply(key, None),
            Some(bytes) => match self.codec.decode::<gluey_contract::Shipment>(bytes).await {
                Ok(shipment) => state.registrations.apply(key, Some(shipment)),
                Err(e) if e.is_retryable() => return Err(Transient::registry(e)),
                Err(e) => {
                    tracing::warn!(key, offset = message.offset(), error = %e, "undecodable registration ignored")
                }
            },
        }
        Ok(())
    }

    pub fn count(&self, outcome: &Outcome) {
        let (carrier, label) = match outcome {
            Outcome::Published { carrier } => (carrier, "published"),
            Outcome::Duplicate { carrier } => (carrier, "duplicate"),
            Outcome::Parked { carrier } => (carrier, "parked"),
            Outcome::Forwarded { carrier } => (carrier, "forwarded"),
            Outcome::DeadLettered { carrier, stage } => {
                self.metrics
                    .deadletters
                    .with_label_values(&[carrier.as_str(), stage])
                    .inc();
                (carrier, "deadletter")
            }
        };
        self.metrics
            .records
            .with_label_values(&[carrier, label])
            .inc();
    }
}
