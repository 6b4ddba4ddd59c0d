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
/// Headers on a letter too large for one record, written in parts: the letter's id (shared by
/// its parts) and `k/n`, the part's number and how many there are. Each part is a whole
/// `DeadLetter` whose `payload` is the k-th slice of the original payload.
pub const LETTER_ID: &str = "gluey-letter-id";
pub const LETTER_PART: &str = "gluey-letter-part";

/// The longest reason a letter carries (a reason is a sentence, not a copy of the input).
pub const MAX_REASON_CHARS: usize = 2048;
/// The most parts a letter is read back from (a 1 MB payload in 16 KiB parts takes 62).
const MAX_PARTS: usize = 4096;
/// The smallest part a letter is split into when Kafka keeps refusing records as too large.
const MIN_PART_BYTES: usize = 16 * 1024;
/// Room in each record for the letter's other fields, its headers and Kafka's framing.
const PART_OVERHEAD: usize = 8 * 1024;

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

/// Why a dead letter could not be written (the caller retries: nothing is dropped).
#[derive(Debug, thiserror::Error)]
pub enum LetterWriteError {
    #[error("cannot encode the dead letter: {0}")]
    Codec(#[from] gluey_contract::CodecError),
    #[error("cannot write the dead letter: {0}")]
    Produce(#[from] ProduceError),
}

impl LetterWriteError {
    /// Whether the schema registry (rather than Kafka) is what failed.
    pub fn is_schema_registry(&self) -> bool {
        matches!(self, LetterWriteError::Codec(e) if e.is_retryable())
    }
}

/// `reason` cut to [`MAX_REASON_CHARS`], on a character boundary.
pub fn bounded_reason(reason: String) -> String {
    match reason.char_indices().nth(MAX_REASON_CHARS) {
        None => reason,
        Some((cut, _)) => format!("{}… (cut at {MAX_REASON_CHARS} characters)", &reason[..cut]),
    }
}

/// One record of a dead letter as written.
#[derive(Debug, Clone)]
pub struct LetterRecord {
    pub value: Vec<u8>,
    /// Set when the letter is written in parts.
    pub part: Option<LetterPart>,
}

/// Which part of which letter a record is (the [`LETTER_ID`] and [`LETTER_PART`] headers).
#[derive(Debug, Clone)]
pub struct LetterPart {
    pub id: String,
    /// 1-based.
    pub number: usize,
    pub of: usize,
}

/// The parts of one letter read so far, by number.
struct PartSet {
    id: String,
    of: usize,
    slots: Vec<Option<DeadLetterEntry>>,
}

/// The records `letter` is written as, each at most about `max_bytes`: the letter itself when it
/// fits, else numbered parts (see [`LETTER_PART`]) of one id.
pub async fn letter_records(
    codec: &Codec,
    topic: &str,
    letter: &DeadLetter,
    max_bytes: usize,
) -> Result<Vec<LetterRecord>, gluey_contract::CodecError> {
    let whole = codec.encode(topic, letter).await?;
    if whole.len() <= max_bytes {
        return Ok(vec![LetterRecord {
            value: whole,
            part: None,
        }]);
    }
    let around = whole.len().saturating_sub(letter.payload.len()) + PART_OVERHEAD;
    let part_bytes = max_bytes.saturating_sub(around).max(1024);
    let chunks: Vec<&[u8]> = letter.payload.chunks(part_bytes).collect();
    let id = uuid::Uuid::new_v4().to_string();
    let mut records = Vec::with_capacity(chunks.len());
    for (i, chunk) in chunks.iter().enumerate() {
        let part = DeadLetter {
            payload: chunk.to_vec(),
            ..letter.clone()
        };
        records.push(LetterRecord {
            value: codec.encode(topic, &part).await?,
            part: Some(LetterPart {
                id: id.clone(),
                number: i + 1,
                of: chunks.len(),
            }),
        });
    }
    Ok(records)
}

/// Writes `letter` to `topic` under `key` and waits for Kafka's acknowledgement of every record:
/// whole when it fits `max_bytes` (the producer's `message.max.bytes`), else in numbered parts.
/// When Kafka refuses a record as too large anyway (the topic's own limit is lower), the letter
/// is written again in parts half the size, down to 16 KiB; a reader takes the complete set of
/// parts of an id (see [`list`]). Returns how many records the letter took.
pub async fn write_dead_letter(
    producer: &RecordProducer,
    codec: &Codec,
    topic: &str,
    key: Option<&[u8]>,
    letter: &DeadLetter,
    headers: &OwnedHeaders,
    max_bytes: usize,
) -> Result<usize, LetterWriteError> {
    let mut max_bytes = max_bytes;
    loop {
        let records = letter_records(codec, topic, letter, max_bytes).await?;
        let mut refused = None;
        for record in &records {
            let mut headers = headers.clone();
            if let Some(part) = &record.part {
                let number = format!("{}/{}", part.number, part.of);
                headers = headers
                    .insert(Header {
                        key: LETTER_ID,
                        value: Some(&part.id),
                    })
                    .insert(Header {
                        key: LETTER_PART,
                        value: Some(&number),
                    });
            }
            if let Err(e) = producer.send(topic, key, &record.value, headers).await {
                refused = Some(e);
                break;
            }
        }
        match refused {
            None => return Ok(records.len()),
            Some(e) if e.is_too_large() && max_bytes > MIN_PART_BYTES => {
                tracing::warn!(
                    topic,
                    max_bytes,
                    "dead letter refused as too large; writing it in smaller parts"
                );
                max_bytes = (max_bytes / 2).max(MIN_PART_BYTES);
            }
            Some(e) => return Err(e.into()),
        }
    }
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
    // Parts of one letter, by (id, count): each slot filled as its part is read.
    let mut parts: Vec<PartSet> = Vec::new();
    for record in stored {
        let letter = match codec.decode::<DeadLetter>(&record.value).await {
            Ok(letter) => letter,
            Err(e) => {
                listing.unreadable.push(Unreadable {
                    partition: record.partition,
                    offset: record.offset,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let entry = DeadLetterEntry {
            partition: record.partition,
            offset: record.offset,
            letter,
        };
        let Some(part) = record.header(LETTER_PART) else {
            if filter.matches(&entry.letter) {
                listing.selected.push(entry);
            }
            continue;
        };
        let parsed = part
            .split_once('/')
            .and_then(|(k, n)| Some((k.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
            .filter(|(k, n)| (1..=*n).contains(k) && *n <= MAX_PARTS);
        let (Some((k, n)), Some(id)) = (parsed, record.header(LETTER_ID)) else {
            listing.unreadable.push(Unreadable {
                partition: record.partition,
                offset: record.offset,
                reason: format!(
                    "a letter part with a malformed {LETTER_PART} or no {LETTER_ID} header"
                ),
            });
            continue;
        };
        let set = match parts.iter().position(|p| p.id == id && p.of == n) {
            Some(i) => i,
            None => {
                parts.push(PartSet {
                    id: id.to_string(),
                    of: n,
                    slots: vec![None; n],
                });
                parts.len() - 1
            }
        };
        parts[set].slots[k - 1] = Some(entry);
    }
    for PartSet { id, of: n, slots } in parts {
        if slots.iter().any(Option::is_none) {
            let have: Vec<&DeadLetterEntry> = slots.iter().flatten().collect();
            if let Some(first) = have.first() {
                listing.unreadable.push(Unreadable {
                    partition: first.partition,
                    offset: first.offset,
                    reason: format!(
                        "letter {id} was written in {n} parts and only {} are on the topic",
                        have.len()
                    ),
                });
            }
            continue;
        }
        let mut slots = slots.into_iter().flatten();
        let Some(mut whole) = slots.next() else {
            continue;
        };
        for part in slots {
            whole.letter.payload.extend_from_slice(&part.letter.payload);
        }
        if filter.matches(&whole.letter) {
            listing.selected.push(whole);
        }
    }
    listing.selected.sort_by_key(|e| (e.partition, e.offset));
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

    #[test]
    fn a_reason_is_cut_on_a_character_boundary_and_says_so() {
        let short = "no parser for format \"x\"".to_string();
        assert_eq!(bounded_reason(short.clone()), short);
        let long = "é".repeat(MAX_REASON_CHARS + 10);
        let cut = bounded_reason(long);
        assert!(cut.starts_with(&"é".repeat(MAX_REASON_CHARS)));
        assert!(cut.ends_with(&format!("(cut at {MAX_REASON_CHARS} characters)")));
    }

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
