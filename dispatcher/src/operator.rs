//! What an operator does with the webhook channel (`gluey webhooks …`): see which endpoints are
//! disabled, enable one again, list its dead-lettered deliveries and replay them. A replayed
//! delivery starts a fresh ladder with the same `webhook-id`, so a receiver that already has it
//! recognises it.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gluey_contract::{CanonicalRecord, Codec, TopicNames};
use gluey_kafka::deadletters::{read_topic, StoredLetter};
use gluey_kafka::{KafkaSettings, RecordProducer};

use crate::delivery::{self, Delivery};
use crate::endpoint_state::{self, EndpointState, EndpointStateError};
use crate::payload;

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(transparent)]
    State(#[from] EndpointStateError),
    #[error(transparent)]
    Read(#[from] gluey_kafka::deadletters::DeadLetterError),
    #[error("writing to kafka: {0}")]
    Write(#[from] gluey_kafka::ProduceError),
    #[error("reading kafka: {0}")]
    Task(String),
}

/// The recorded state of every endpoint that was ever disabled or enabled.
pub async fn endpoint_states(
    kafka: &KafkaSettings,
    topics: &TopicNames,
) -> Result<HashMap<String, EndpointState>, OperatorError> {
    let (kafka, topic) = (kafka.clone(), topics.webhook_endpoints());
    tokio::task::spawn_blocking(move || endpoint_state::read_all(&kafka, &topic))
        .await
        .map_err(|e| OperatorError::Task(e.to_string()))?
        .map_err(Into::into)
}

/// Enables `endpoint` again; running dispatchers pick it up within a few seconds.
pub async fn enable(
    producer: &RecordProducer,
    topics: &TopicNames,
    endpoint: &str,
    by: &str,
) -> Result<(), OperatorError> {
    let state = EndpointState::Enabled {
        by: by.to_string(),
        at: Utc::now(),
    };
    endpoint_state::write(producer, &topics.webhook_endpoints(), endpoint, &state).await?;
    Ok(())
}

/// One dead-lettered delivery.
#[derive(Debug, Clone)]
pub struct DeadDelivery {
    pub partition: i32,
    pub offset: i64,
    pub endpoint: String,
    pub reason: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// When it was dead-lettered.
    pub at: Option<DateTime<Utc>>,
    pub webhook_id: Option<String>,
    pub stored: StoredLetter,
}

/// The dead-lettered deliveries of `endpoint` (all endpoints when `None`), dead-lettered at or
/// after `since`.
pub async fn dead_deliveries(
    kafka: &KafkaSettings,
    codec: &Codec,
    topics: &TopicNames,
    endpoint: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<DeadDelivery>, OperatorError> {
    let (k, topic) = (kafka.clone(), topics.webhook_deadletter());
    let stored =
        tokio::task::spawn_blocking(move || read_topic(&k, &topic, Duration::from_secs(30)))
            .await
            .map_err(|e| OperatorError::Task(e.to_string()))??;
    let mut out = Vec::new();
    for letter in stored {
        let Some(name) = letter.header(delivery::ENDPOINT).map(str::to_string) else {
            continue;
        };
        if endpoint.is_some_and(|e| e != name) {
            continue;
        }
        let at = letter
            .header(delivery::DEADLETTERED_AT)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        if since.is_some_and(|since| at.is_none_or(|at| at < since)) {
            continue;
        }
        let webhook_id = codec
            .decode::<CanonicalRecord>(&letter.value)
            .await
            .ok()
            .map(|r| payload::webhook_id(&r));
        out.push(DeadDelivery {
            partition: letter.partition,
            offset: letter.offset,
            endpoint: name,
            reason: letter.header(delivery::REASON).unwrap_or("").to_string(),
            attempts: letter
                .header(delivery::ATTEMPT)
                .and_then(|a| a.parse().ok())
                .unwrap_or(0),
            last_error: letter.header(delivery::LAST_ERROR).map(str::to_string),
            at,
            webhook_id,
            stored: letter,
        });
    }
    Ok(out)
}

/// Puts dead-lettered deliveries back on the first retry topic, due now, with a fresh ladder.
pub async fn replay(
    producer: &RecordProducer,
    codec: &Codec,
    topics: &TopicNames,
    deliveries: &[DeadDelivery],
) -> Result<usize, OperatorError> {
    let topic = topics.webhook_retry(0);
    let mut replayed = 0;
    for dead in deliveries {
        let Ok(record) = codec.decode::<CanonicalRecord>(&dead.stored.value).await else {
            tracing::warn!(
                partition = dead.partition,
                offset = dead.offset,
                "dead-lettered delivery does not hold a readable record; not replayed"
            );
            continue;
        };
        let delivery = Delivery {
            endpoint: dead.endpoint.clone(),
            bytes: dead.stored.value.clone(),
            record,
            attempts: 0,
            first_attempt_at: None,
            due_at: Utc::now(),
            last_error: dead.last_error.clone(),
        };
        producer
            .send(
                &topic,
                Some(delivery.endpoint.as_bytes()),
                &delivery.bytes,
                delivery.headers(None),
            )
            .await?;
        replayed += 1;
    }
    Ok(replayed)
}
