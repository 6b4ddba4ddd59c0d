//! Parked records: raw records for shipments nobody has registered yet (carriers often scan
//! before the label data arrives). They wait on `normalizer.parked.v1` (co-partitioned, keyed by
//! shipment key) and are released, in the order they arrived, when the shipment registers; after
//! the park window they are dead-lettered. A resolution (released or expired) is written back to
//! the same topic as a marker, so a restart neither forgets a parked record nor resolves it twice
//! (releasing twice would only yield counted duplicates; expiring twice an identical dead letter).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rdkafka::message::{BorrowedMessage, Headers, Message};

/// Headers on parked records and markers.
pub const PARKED_FROM: &str = "gluey-parked-from";
pub const PARKED_AT: &str = "gluey-parked-at";
pub const RESOLVES: &str = "gluey-resolves";
pub const RESOLUTION: &str = "gluey-resolution";
/// Headers on records forwarded from an alias's partition to the owner's.
pub const FORWARDED_FROM: &str = "gluey-forwarded-from";
pub const OWNER: &str = "gluey-owner";

/// A raw record, owned: as consumed, or as it waited in the parked topic.
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// Where the raw record is on the raw topic (what outputs refer to).
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// The partition whose state applies (the owner's, for a forwarded record).
    pub state_partition: i32,
    /// Set on records forwarded from an alias: the owner's shipment key.
    pub owner: Option<String>,
}

impl RawRecord {
    pub fn from_message(message: &BorrowedMessage<'_>) -> RawRecord {
        RawRecord {
            topic: message.topic().to_string(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().unwrap_or_default().to_vec(),
            state_partition: message.partition(),
            owner: None,
        }
    }

    /// A record forwarded to the owner's partition: it still refers to the original raw record.
    pub fn from_forwarded(message: &BorrowedMessage<'_>) -> Option<RawRecord> {
        let from = header(message, FORWARDED_FROM)?;
        let owner = header(message, OWNER)?.to_string();
        let mut raw = RawRecord::from_reference(
            from,
            message.key().map(<[u8]>::to_vec),
            message.payload().unwrap_or_default().to_vec(),
        )?;
        raw.state_partition = message.partition();
        raw.owner = Some(owner);
        Some(raw)
    }

    /// `topic/partition/offset`, as the parked-from header carries it.
    pub fn reference(&self) -> String {
        format!("{}/{}/{}", self.topic, self.partition, self.offset)
    }

    fn from_reference(
        reference: &str,
        key: Option<Vec<u8>>,
        payload: Vec<u8>,
    ) -> Option<RawRecord> {
        let mut parts = reference.rsplitn(3, '/');
        let offset = parts.next()?.parse().ok()?;
        let partition = parts.next()?.parse().ok()?;
        let topic = parts.next()?.to_string();
        Some(RawRecord {
            topic,
            partition,
            offset,
            key,
            payload,
            state_partition: partition,
            owner: None,
        })
    }
}

/// One parked record. In the index its `raw.payload` is empty: the bytes stay on the parked
/// topic, at `parked_offset`, and are read back when the record is released or expires, so
/// memory holds an index entry per parked record, not its payload.
#[derive(Debug, Clone)]
pub struct Parked {
    /// Offset in the parked topic (what a marker resolves).
    pub parked_offset: i64,
    pub parked_at: DateTime<Utc>,
    pub raw: RawRecord,
}

/// Unresolved parked records of one partition, by shipment key, in arrival order.
#[derive(Debug, Default)]
pub struct ParkedIndex {
    by_key: BTreeMap<String, Vec<Parked>>,
}

fn header<'a>(message: &'a BorrowedMessage<'_>, name: &str) -> Option<&'a str> {
    message
        .headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}

impl ParkedIndex {
    /// Applies one record of the parked topic (during restore): a parked record or a marker.
    pub fn observe(&mut self, message: &BorrowedMessage<'_>) {
        let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
            return;
        };
        if let Some(resolved) = header(message, RESOLVES).and_then(|o| o.parse::<i64>().ok()) {
            self.resolve(key, resolved);
            return;
        }
        let (Some(from), Some(at)) = (header(message, PARKED_FROM), header(message, PARKED_AT))
        else {
            return;
        };
        let Ok(parked_at) = DateTime::parse_from_rfc3339(at) else {
            return;
        };
        let raw_key = Some(key.as_bytes().to_vec());
        if let Some(raw) = RawRecord::from_reference(
            from,
            raw_key,
            message.payload().unwrap_or_default().to_vec(),
        ) {
            self.add(
                key,
                Parked {
                    parked_offset: message.offset(),
                    parked_at: parked_at.with_timezone(&Utc),
                    raw,
                },
            );
        }
    }

    /// Indexes `parked` (without its payload).
    pub fn add(&mut self, key: &str, mut parked: Parked) {
        parked.raw.payload = Vec::new();
        self.by_key.entry(key.to_string()).or_default().push(parked);
    }

    pub fn resolve(&mut self, key: &str, parked_offset: i64) {
        if let Some(list) = self.by_key.get_mut(key) {
            list.retain(|p| p.parked_offset != parked_offset);
            if list.is_empty() {
                self.by_key.remove(key);
            }
        }
    }

    /// The parked records of `key`, oldest first.
    pub fn of(&self, key: &str) -> Vec<Parked> {
        self.by_key.get(key).cloned().unwrap_or_default()
    }

    /// Keys with parked records.
    pub fn keys(&self) -> Vec<String> {
        self.by_key.keys().cloned().collect()
    }

    /// Parked records older than `window` at `now`.
    pub fn expired(&self, now: DateTime<Utc>, window: chrono::Duration) -> Vec<(String, Parked)> {
        self.by_key
            .iter()
            .flat_map(|(k, list)| {
                list.iter()
                    .filter(|p| now - p.parked_at > window)
                    .map(move |p| (k.clone(), p.clone()))
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.by_key.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_keeps_no_payload_and_resolving_removes_the_entry() {
        let mut index = ParkedIndex::default();
        let raw = RawRecord {
            topic: "tracking.raw.v1".into(),
            partition: 1,
            offset: 7,
            key: Some(b"fedex:1".to_vec()),
            payload: vec![0xAB; 900_000],
            state_partition: 1,
            owner: None,
        };
        index.add(
            "fedex:1",
            Parked {
                parked_offset: 3,
                parked_at: Utc::now(),
                raw,
            },
        );
        let parked = index.of("fedex:1");
        assert_eq!(parked.len(), 1);
        assert!(
            parked[0].raw.payload.is_empty(),
            "read back from the topic on release"
        );
        assert_eq!(parked[0].raw.reference(), "tracking.raw.v1/1/7");
        index.resolve("fedex:1", 3);
        assert!(index.is_empty());
    }
}
