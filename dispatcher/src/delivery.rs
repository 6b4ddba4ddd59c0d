//! One record on its way to one endpoint, and how it is kept on the retry and dead-letter topics:
//! the canonical record's bytes exactly as on `tracking.events.v1`, with the delivery's state in
//! headers, so a replay or an older dispatcher reads the same record.

use chrono::{DateTime, SecondsFormat, Utc};
use gluey_contract::CanonicalRecord;
use gluey_kafka::headers::header_str;
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};
use rdkafka::Message;

pub const ENDPOINT: &str = "gluey-endpoint";
/// Attempts made so far.
pub const ATTEMPT: &str = "gluey-attempt";
pub const DUE_AT: &str = "gluey-due-at";
pub const FIRST_ATTEMPT_AT: &str = "gluey-first-attempt-at";
pub const LAST_ERROR: &str = "gluey-last-error";
/// Why a delivery was dead-lettered, and when.
pub const REASON: &str = "gluey-reason";
pub const DEADLETTERED_AT: &str = "gluey-deadlettered-at";
pub const TRACEPARENT: &str = "traceparent";

#[derive(Debug, Clone)]
pub struct Delivery {
    pub endpoint: String,
    /// The record as on `tracking.events.v1`.
    pub bytes: Vec<u8>,
    pub record: CanonicalRecord,
    pub attempts: u32,
    pub first_attempt_at: Option<DateTime<Utc>>,
    pub due_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("retry record at {topic}/{partition}@{offset}: {reason}")]
pub struct MalformedDelivery {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Delivery {
    pub fn headers(&self, reason: Option<&str>) -> OwnedHeaders {
        let attempts = self.attempts.to_string();
        let due = time(self.due_at);
        let first = self.first_attempt_at.map(time);
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: ENDPOINT,
                value: Some(self.endpoint.as_bytes()),
            })
            .insert(Header {
                key: ATTEMPT,
                value: Some(attempts.as_bytes()),
            })
            .insert(Header {
                key: DUE_AT,
                value: Some(due.as_bytes()),
            })
            .insert(Header {
                key: TRACEPARENT,
                value: Some(self.record.trace_id.as_bytes()),
            });
        let deadlettered_at = reason.map(|_| time(Utc::now()));
        for (key, value) in [
            (FIRST_ATTEMPT_AT, first.as_deref()),
            (LAST_ERROR, self.last_error.as_deref()),
            (REASON, reason),
            (DEADLETTERED_AT, deadlettered_at.as_deref()),
        ] {
            if let Some(value) = value {
                headers = headers.insert(Header {
                    key,
                    value: Some(value.as_bytes()),
                });
            }
        }
        headers
    }

    /// The delivery kept in `message`; the record is decoded by the caller (it needs the codec).
    pub fn from_message(
        message: &BorrowedMessage<'_>,
        record: CanonicalRecord,
    ) -> Result<Delivery, MalformedDelivery> {
        let malformed = |reason: String| MalformedDelivery {
            topic: message.topic().to_string(),
            partition: message.partition(),
            offset: message.offset(),
            reason,
        };
        let headers = message.headers();
        let get = |name: &str| header_str(headers, name);
        let endpoint = get(ENDPOINT)
            .ok_or_else(|| malformed(format!("no {ENDPOINT} header")))?
            .to_string();
        let attempts = get(ATTEMPT)
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| malformed(format!("no numeric {ATTEMPT} header")))?;
        let parse_time = |name: &str| {
            get(name)
                .map(|t| {
                    DateTime::parse_from_rfc3339(t)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|e| malformed(format!("{name}: {e}")))
                })
                .transpose()
        };
        let due_at = parse_time(DUE_AT)?.ok_or_else(|| malformed(format!("no {DUE_AT} header")))?;
        Ok(Delivery {
            endpoint,
            bytes: message.payload().unwrap_or_default().to_vec(),
            record,
            attempts,
            first_attempt_at: parse_time(FIRST_ATTEMPT_AT)?,
            due_at,
            last_error: get(LAST_ERROR).map(str::to_string),
        })
    }
}
