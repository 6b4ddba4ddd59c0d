//! The dead-letter topic, `tracking.deadletter.v1`, for operators: list what was dead-lettered
//! (with filters) and replay it once the cause is fixed (a mapping corrected, a shipment
//! registered). A replay re-produces each letter's `payload`, the original record value byte for
//! byte, to its source topic under its source key, with the letter's trace and a
//! `gluey-replayed-from` header naming the letter; it returns only once Kafka acknowledged every
//! record.
//!
//! Only letters of the raw topic are replayed: the normalizer consumes it and dedupes by event id,
//! so replaying the same letter twice publishes no canonical event twice. Anything else (a
//! dispatch letter points at the events topic, which data teams read as exactly once per id) is
//! refused, naming the topic, before anything is produced.

use std::time::Duration;

use chrono::{DateTime, Utc};
use gluey_contract::{Codec, DeadLetter, TopicNames};

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::Message;

use crate::headers::TRACEPARENT;
use crate::producer::{Acked, ProduceError, RecordProducer};
use crate::settings::KafkaSettings;
use crate::topic_reader::{read_to_end, ReadError};

/// Header on a replayed record: `<deadletter topic>/<partition>/<offset>` of its letter.
pub const REPLAYED_FROM: &str = "gluey-replayed-from";

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("topic {topic}: {reason}")]
    Topic { topic: String, reason: String },
    #[error(
        "{position} came from {source_topic}, which cannot be replayed (only dead letters of \
         {replayable} can); narrow the selection"
    )]
    NotReplayable {
        position: String,
        source_topic: String,
        replayable: String,
    },
    #[error("replaying {position}: {source}")]
    Produce {
        position: String,
        source: ProduceError,
    },
}

/// A record of the dead-letter topic as stored, not yet decoded.
#[derive(Debug, Clone)]
pub struct StoredLetter {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    /// Headers with a UTF-8 value (the pipeline writes no others).
    pub headers: Vec<(String, String)>,
    /// Empty for a null value (never written by the pipeline).
    pub value: Vec<u8>,
}

impl StoredLetter {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Which dead letters to list or replay; every field set must match.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    /// Exactly this stage (`decode`, `parse`, `join`, `dispatch`, …).
    pub stage: Option<String>,
    /// Exactly this carrier.
    pub carrier: Option<String>,
    /// The reason contains this text.
    pub reason_contains: Option<String>,
    /// Failed at or after this instant.
    pub since: Option<DateTime<Utc>>,
}

impl DeadLetterFilter {
    pub fn matches(&self, letter: &DeadLetter) -> bool {
        self.stage.as_ref().is_none_or(|s| *s == letter.stage)
            && self
                .carrier
                .as_ref()
                .is_none_or(|c| letter.carrier.as_ref() == Some(c))
            && self
                .reason_contains
                .as_ref()
                .is_none_or(|r| letter.reason.contains(r.as_str()))
            && self.since.is_none_or(|since| letter.failed_at >= since)
    }
}

/// A decoded dead letter and where it is on the dead-letter topic.
#[derive(Debug, Clone)]
pub struct DeadLetterEntry {
    pub partition: i32,
    pub offset: i64,
    pub letter: DeadLetter,
}

impl DeadLetterEntry {
    /// `topic/partition/offset`, as the `gluey-replayed-from` header carries it.
    pub fn position(&self, topic: &str) -> String {
        format!("{topic}/{}/{}", self.partition, self.offset)
    }
}

/// A record of the dead-letter topic that does not decode as a `DeadLetter`.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
}

/// The dead-letter topic as read, filtered.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterListing {
    pub topic: String,
    /// Records read, selected or not.
    pub total: usize,
    /// The letters matching the filter, by partition then offset.
    pub selected: Vec<DeadLetterEntry>,
    /// Records that do not decode (reported, never skipped silently).
    pub unreadable: Vec<Unreadable>,
}

/// Reads every record on `topic`, all partitions from the low to the high watermark as they are
/// when the call starts (blocking: run it off the async runtime). Fails if the end is not reached
/// within `timeout`, rather than return a partial topic.
pub fn read_topic(
    kafka: &KafkaSettings,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<StoredLetter>, DeadLetterError> {
    let mut out = Vec::new();
    read_to_end(kafka, topic, timeout, |message| {
        let headers = message
            .headers()
            .map(|hs| {
                hs.iter()
                    .filter_map(|h| {
                        let value = std::str::from_utf8(h.value?).ok()?;
                        Some((h.key.to_string(), value.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(StoredLetter {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            headers,
            value: message.payload().unwrap_or_default().to_vec(),
        });
    })
    .map_err(|e| match e {
        ReadError::Kafka(e) => DeadLetterError::Kafka(e),
        other => DeadLetterError::Topic {
            topic: topic.to_string(),
            reason: other.to_string(),
        },
    })?;
    out.sort_by_key(|l| (l.partition, l.offset));
    Ok(out)
}

/// Reads the whole dead-letter topic and keeps the letters `filter` matches. The Kafka read runs
/// on a blocking thread; decoding stays on the caller's runtime, where the codec's Schema Registry
/// client lives.
pub async fn list(
    kafka: &KafkaSettings,
    codec: &Codec,
    topics: &TopicNames,
    filter: &DeadLetterFilter,
    timeout: Duration,
) -> Result<DeadLetterListing, DeadLetterError> {
    let topic = topics.deadletter();
    let stored = {
        let (kafka, reading) = (kafka.clone(), topic.clone());
        tokio::task::spawn_blocking(move || read_topic(&kafka, &reading, timeout))
            .await
            .map_err(|e| DeadLetterError::Topic {
                topic: topic.clone(),
                reason: format!("reader thread: {e}"),
            })??
    };
    let mut listing = DeadLetterListing {
        topic,
        total: stored.len(),
        ..DeadLetterListing::default()
    };
    for record in stored {
        match codec.decode::<DeadLetter>(&record.value).await {
            Ok(letter) if filter.matches(&letter) => listing.selected.push(DeadLetterEntry {
                partition: record.partition,
                offset: record.offset,
                letter,
            }),
            Ok(_) => {}
            Err(e) => listing.unreadable.push(Unreadable {
                partition: record.partition,
                offset: record.offset,
                reason: e.to_string(),
            }),
        }
    }
    Ok(listing)
}

/// Refuses the selection if any letter's source is not the raw topic, before anything is
/// produced; names the first such letter and its topic.
pub fn check_replayable(
    topics: &TopicNames,
    deadletter_topic: &str,
    entries: &[DeadLetterEntry],
) -> Result<(), DeadLetterError> {
    let raw = topics.raw();
    match entries.iter().find(|e| e.letter.source_topic != raw) {
        None => Ok(()),
        Some(e) => Err(DeadLetterError::NotReplayable {
            position: e.position(deadletter_topic),
            source_topic: e.letter.source_topic.clone(),
            replayable: raw,
        }),
    }
}

/// One replayed letter: where it was, and where its payload now is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// `deadletter topic/partition/offset`.
    pub from: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Replays `entries` in order (by dead-letter partition, then offset, so one shipment's letters
/// keep their order), each awaiting Kafka's ack. Refuses the whole selection if any letter is not
/// replayable. Stops at the first failure; the letters before it are replayed, and replaying them
/// again is harmless (the normalizer dedupes by event id).
pub async fn replay(
    producer: &RecordProducer,
    topics: &TopicNames,
    entries: &[DeadLetterEntry],
) -> Result<Vec<Replayed>, DeadLetterError> {
    let deadletter_topic = topics.deadletter();
    check_replayable(topics, &deadletter_topic, entries)?;
    let mut ordered: Vec<&DeadLetterEntry> = entries.iter().collect();
    ordered.sort_by_key(|e| (e.partition, e.offset));
    let mut replayed = Vec::with_capacity(ordered.len());
    for entry in ordered {
        let letter = &entry.letter;
        let position = entry.position(&deadletter_topic);
        let trace = gluey_ops::trace::continue_or_start(letter.trace_id.as_deref());
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: TRACEPARENT,
                value: Some(&trace),
            })
            .insert(Header {
                key: REPLAYED_FROM,
                value: Some(&position),
            });
        let Acked { partition, offset } = producer
            .send(
                &letter.source_topic,
                letter.source_key.as_deref(),
                &letter.payload,
                headers,
            )
            .await
            .map_err(|source| DeadLetterError::Produce {
                position: position.clone(),
                source,
            })?;
        tracing::info!(
            topic = letter.source_topic,
            partition,
            offset,
            replayed_from = position,
            stage = letter.stage,
            "dead letter replayed"
        );
        replayed.push(Replayed {
            from: position,
            topic: letter.source_topic.clone(),
            partition,
            offset,
        });
    }
    Ok(replayed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(stage: &str, carrier: Option<&str>, reason: &str, at: &str) -> DeadLetter {
        DeadLetter {
            stage: stage.into(),
            reason: reason.into(),
            carrier: carrier.map(str::to_string),
            format: None,
            source_topic: "t.tracking.raw.v1".into(),
            source_partition: 0,
            source_offset: 7,
            source_key: None,
            payload: vec![1, 2, 3],
            envelope_id: None,
            trace_id: None,
            failed_at: DateTime::parse_from_rfc3339(at)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
        }
    }

    #[test]
    fn every_set_field_of_the_filter_must_match() {
        let l = letter(
            "join",
            Some("fedex"),
            "no shipment registered for fedex:1",
            "2024-05-01T10:00:00Z",
        );
        assert!(DeadLetterFilter::default().matches(&l));
        let by = |f: DeadLetterFilter| f.matches(&l);
        assert!(by(DeadLetterFilter {
            stage: Some("join".into()),
            carrier: Some("fedex".into()),
            reason_contains: Some("no shipment".into()),
            since: Some(l.failed_at),
        }));
        assert!(!by(DeadLetterFilter {
            stage: Some("parse".into()),
            ..Default::default()
        }));
        assert!(!by(DeadLetterFilter {
            carrier: Some("ups".into()),
            ..Default::default()
        }));
        assert!(!by(DeadLetterFilter {
            reason_contains: Some("mapping".into()),
            ..Default::default()
        }));
        assert!(!by(DeadLetterFilter {
            since: Some(l.failed_at + chrono::Duration::seconds(1)),
            ..Default::default()
        }));
        let unknown_carrier = letter("decode", None, "bad bytes", "2024-05-01T10:00:00Z");
        assert!(!DeadLetterFilter {
            carrier: Some("fedex".into()),
            ..Default::default()
        }
        .matches(&unknown_carrier));
    }

    #[test]
    fn only_raw_topic_letters_are_replayable() {
        let topics = TopicNames::new("t.");
        let raw = DeadLetterEntry {
            partition: 0,
            offset: 1,
            letter: letter("join", Some("fedex"), "r", "2024-05-01T10:00:00Z"),
        };
        let mut dispatch = raw.clone();
        dispatch.offset = 2;
        dispatch.letter.source_topic = topics.events();
        assert!(check_replayable(&topics, "dl", std::slice::from_ref(&raw)).is_ok());
        let refused = check_replayable(&topics, "dl", &[raw, dispatch])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains("dl/0/2"), "{refused}");
        assert!(refused.contains("t.tracking.events.v1"), "{refused}");
    }
}
