//! A producer that tells the caller when the broker has acknowledged the record, and whether a
//! failure means "Kafka is unavailable, try later" or "this record can never be written".

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

use crate::settings::KafkaSettings;

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("kafka unavailable: {0}")]
    Unavailable(KafkaError),
    #[error("record rejected by kafka: {0}")]
    Rejected(KafkaError),
}

impl ProduceError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, ProduceError::Unavailable(_))
    }

    /// Refused because the record is larger than the producer or the topic accepts.
    pub fn is_too_large(&self) -> bool {
        matches!(self, ProduceError::Rejected(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageSizeTooLarge))
    }
}

fn classify(e: KafkaError) -> ProduceError {
    match e.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessage
            | RDKafkaErrorCode::InvalidRecord
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::UnknownTopic
            | RDKafkaErrorCode::UnknownPartition,
        ) => ProduceError::Rejected(e),
        _ => ProduceError::Unavailable(e),
    }
}

/// Where an acknowledged record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acked {
    pub partition: i32,
    pub offset: i64,
}

/// A record handed to the producer, not yet acknowledged.
pub struct PendingAck {
    future: rdkafka::producer::DeliveryFuture,
    topic: String,
}

impl std::fmt::Debug for PendingAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingAck")
    }
}

impl PendingAck {
    /// The topic the record was sent to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Waits for the broker's acknowledgement (bounded by the producer's delivery timeout).
    pub async fn acked(self) -> Result<Acked, ProduceError> {
        match self.future.await {
            Ok(Ok(delivery)) => Ok(Acked {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Ok(Err((e, _))) => Err(classify(e)),
            Err(_) => Err(ProduceError::Unavailable(KafkaError::Canceled)),
        }
    }
}

#[derive(Clone)]
pub struct RecordProducer {
    inner: FutureProducer,
}

impl std::fmt::Debug for RecordProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordProducer")
    }
}

impl RecordProducer {
    /// An idempotent, acks=all producer whose records fail after `delivery_timeout` without ack.
    pub fn new(
        settings: &KafkaSettings,
        delivery_timeout: Duration,
    ) -> Result<RecordProducer, KafkaError> {
        let inner = settings.producer_config(delivery_timeout).create()?;
        Ok(RecordProducer { inner })
    }

    /// Sends one record and waits for the broker's acknowledgement.
    pub async fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: OwnedHeaders,
    ) -> Result<Acked, ProduceError> {
        let mut record = FutureRecord::<[u8], [u8]>::to(topic)
            .payload(payload)
            .headers(headers);
        if let Some(key) = key {
            record = record.key(key);
        }
        // Timeout::Never on the local queue: the delivery timeout bounds the wait instead.
        match self.inner.send(record, Timeout::Never).await {
            Ok(delivery) => Ok(Acked {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Err((e, _)) => Err(classify(e)),
        }
    }

    /// Hands one record to the producer's queue without waiting for the ack (waiting only while
    /// the bounded local queue is full); `PendingAck::acked` then waits for the broker.
    pub async fn enqueue(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: OwnedHeaders,
    ) -> Result<PendingAck, ProduceError> {
        loop {
            let mut record = FutureRecord::<[u8], [u8]>::to(topic)
                .payload(payload)
                .headers(headers.clone());
            if let Some(key) = key {
                record = record.key(key);
            }
            match self.inner.send_result(record) {
                Ok(future) => {
                    return Ok(PendingAck {
                        future,
                        topic: topic.to_string(),
                    })
                }
                Err((e, _)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err((e, _)) => return Err(classify(e)),
            }
        }
    }

    /// Sends a tombstone (null value) for `key` and waits for the acknowledgement.
    pub async fn send_tombstone(&self, topic: &str, key: &[u8]) -> Result<Acked, ProduceError> {
        let record = FutureRecord::<[u8], [u8]>::to(topic).key(key);
        match self.inner.send(record, Timeout::Never).await {
            Ok(delivery) => Ok(Acked {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Err((e, _)) => Err(classify(e)),
        }
    }

    /// Waits until every queued record is acknowledged or `timeout` passes.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.flush(Timeout::After(timeout))
    }
}
