//! `delivery.webhook.endpoints.v1`: which endpoints are disabled (by a 410, or by days of
//! failures) and which an operator enabled again. Compacted, keyed by endpoint id; the value is
//! JSON that names its endpoint too, so the topic reads back without keys.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gluey_kafka::deadletters::{read_topic, DeadLetterError};
use gluey_kafka::headers::with_traceparent;
use gluey_kafka::{KafkaSettings, ProduceError, RecordProducer};
use serde::{Deserialize, Serialize};

/// How often a running dispatcher re-reads the topic (an operator's `enable` takes effect
/// within this).
pub const REFRESH: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EndpointState {
    Disabled { reason: String, at: DateTime<Utc> },
    Enabled { by: String, at: DateTime<Utc> },
}

#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    endpoint: String,
    #[serde(flatten)]
    state: EndpointState,
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointStateError {
    #[error(transparent)]
    Read(#[from] DeadLetterError),
    #[error(transparent)]
    Write(#[from] ProduceError),
    #[error("cannot encode endpoint state: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The latest state of every endpoint on the topic (blocking: run it off the async runtime).
/// Records that do not parse are reported and skipped: they cannot enable anything.
pub fn read_all(
    kafka: &KafkaSettings,
    topic: &str,
) -> Result<HashMap<String, EndpointState>, EndpointStateError> {
    let mut out = HashMap::new();
    for record in read_topic(kafka, topic, Duration::from_secs(10))? {
        match serde_json::from_slice::<Stored>(&record.value) {
            Ok(stored) => {
                out.insert(stored.endpoint, stored.state);
            }
            Err(e) => tracing::warn!(
                topic,
                partition = record.partition,
                offset = record.offset,
                error = %e,
                "unreadable endpoint state record"
            ),
        }
    }
    Ok(out)
}

pub async fn write(
    producer: &RecordProducer,
    topic: &str,
    endpoint: &str,
    state: &EndpointState,
) -> Result<(), EndpointStateError> {
    let value = serde_json::to_vec(&Stored {
        endpoint: endpoint.to_string(),
        state: state.clone(),
    })?;
    producer
        .send(
            topic,
            Some(endpoint.as_bytes()),
            &value,
            with_traceparent(&gluey_ops::trace::new_traceparent()),
        )
        .await?;
    Ok(())
}
