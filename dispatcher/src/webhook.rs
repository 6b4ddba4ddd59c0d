//! `gluey dispatch webhook`: reads `tracking.events.v1` in its own consumer group and POSTs each
//! record to every endpoint of its customer, signed per Standard Webhooks. The input offset is
//! stored only after every endpoint answered 2xx (or 410, which disables it), so a crash or a
//! restart redelivers rather than loses; a redelivery carries the same `webhook-id`.
//!
//! In this first slice a failing endpoint is retried in place with capped exponential backoff,
//! which holds up its partition; Kafka-backed retry tiers, per-endpoint isolation and SSRF checks
//! come with the full webhook channel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use gluey_contract::{CanonicalRecord, Codec, DeadLetter};
use gluey_kafka::headers::with_traceparent;
use gluey_kafka::{KafkaSettings, RecordProducer};
use gluey_ops::Health;
use prometheus::Registry;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;
use reqwest::redirect::Policy;
use tokio_util::sync::CancellationToken;

use crate::config::{DispatcherConfig, EndpointConfig};
use crate::metrics::DispatchMetrics;
use crate::payload;

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// The answer to one attempt.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    Delivered,
    /// 410 Gone: the customer retired the endpoint.
    Gone,
    Failed(String),
}

struct Dispatcher {
    config: DispatcherConfig,
    client: reqwest::Client,
    metrics: DispatchMetrics,
}

pub async fn run_webhook_dispatcher(
    config: DispatcherConfig,
    kafka: &KafkaSettings,
    codec: Arc<Codec>,
    registry: &Registry,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), DispatchError> {
    let metrics = DispatchMetrics::register(registry)?;
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .timeout(config.attempt_timeout)
        .user_agent(concat!("gluey-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let producer = RecordProducer::new(kafka, Duration::from_secs(30))?;
    let consumer: StreamConsumer = kafka.consumer_config(&config.group_id).create()?;
    consumer.subscribe(&[&config.topics.events()])?;
    let dispatcher = Dispatcher {
        config,
        client,
        metrics,
    };
    health.set_ready(true, "consuming");
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
        let done = match codec
            .decode::<CanonicalRecord>(message.payload().unwrap_or_default())
            .await
        {
            Ok(record) => dispatcher.dispatch(&record, &shutdown, &health).await,
            Err(e) => {
                dead_letter(
                    &codec,
                    &producer,
                    &dispatcher.config,
                    &message,
                    e.to_string(),
                )
                .await
            }
        };
        if !done {
            break;
        }
        if let Err(e) = consumer.store_offset_from_message(&message) {
            tracing::warn!(error = %e, "cannot store offset");
        }
    }
    health.set_ready(false, "shutting down");
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(error = %e, "final commit");
    }
    let _ = tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(10))).await;
    Ok(())
}

/// A record this dispatcher cannot read is kept on the dead-letter topic, not skipped silently.
async fn dead_letter(
    codec: &Codec,
    producer: &RecordProducer,
    config: &DispatcherConfig,
    message: &BorrowedMessage<'_>,
    reason: String,
) -> bool {
    tracing::error!(partition = message.partition(), offset = message.offset(), %reason, "undecodable canonical record; dead-lettering");
    let letter = DeadLetter {
        stage: "dispatch".into(),
        reason,
        carrier: None,
        format: None,
        source_topic: message.topic().to_string(),
        source_partition: message.partition(),
        source_offset: message.offset(),
        source_key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().unwrap_or_default().to_vec(),
        envelope_id: None,
        trace_id: None,
        failed_at: Utc::now(),
    };
    let topic = config.topics.deadletter();
    match codec.encode(&topic, &letter).await {
        Ok(bytes) => producer
            .send(
                &topic,
                message.key(),
                &bytes,
                with_traceparent(&gluey_ops::trace::new_traceparent()),
            )
            .await
            .is_ok(),
        Err(_) => false,
    }
}

impl Dispatcher {
    /// Delivers to every endpoint of the record's customer; false if shutdown came first.
    async fn dispatch(
        &self,
        record: &CanonicalRecord,
        shutdown: &CancellationToken,
        health: &Health,
    ) -> bool {
        let Some(customer) = record.customer_id.as_deref() else {
            self.metrics
                .skipped
                .with_label_values(&["no_customer"])
                .inc();
            return true;
        };
        if record
            .event
            .as_ref()
            .is_some_and(|e| e.flags.iter().any(|f| f == "post_terminal"))
        {
            // Recorded on the topic, not re-notified (DESIGN.md).
            self.metrics
                .skipped
                .with_label_values(&["post_terminal"])
                .inc();
            return true;
        }
        let all = self.config.endpoints.current();
        let endpoints: Vec<&EndpointConfig> =
            all.iter().filter(|e| e.customer_id == customer).collect();
        if endpoints.is_empty() {
            self.metrics
                .skipped
                .with_label_values(&["no_endpoint"])
                .inc();
            return true;
        }
        let body = match serde_json::to_vec(&payload::body(record)) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise webhook body");
                return true;
            }
        };
        let results =
            futures::future::join_all(endpoints.iter().map(|endpoint| {
                self.deliver_until_done(endpoint, record, &body, shutdown, health)
            }))
            .await;
        results.into_iter().all(|done| done)
    }

    async fn deliver_until_done(
        &self,
        endpoint: &EndpointConfig,
        record: &CanonicalRecord,
        body: &[u8],
        shutdown: &CancellationToken,
        health: &Health,
    ) -> bool {
        let id = payload::webhook_id(record);
        let mut backoff = self.config.initial_backoff;
        let mut attempt_no = 0u32;
        loop {
            attempt_no += 1;
            let started = Instant::now();
            let attempt = tokio::select! {
                a = self.attempt(endpoint, &id, record, body) => a,
                _ = shutdown.cancelled() => return false,
            };
            self.metrics
                .duration
                .with_label_values(&[&endpoint.customer_id])
                .observe(started.elapsed().as_secs_f64());
            health.beat();
            match attempt {
                Attempt::Delivered => {
                    self.metrics
                        .attempts
                        .with_label_values(&[&endpoint.customer_id, "delivered"])
                        .inc();
                    self.metrics
                        .delivered
                        .with_label_values(&[&endpoint.customer_id])
                        .inc();
                    tracing::info!(
                        customer = endpoint.customer_id,
                        webhook_id = id,
                        sequence = record.sequence,
                        attempt = attempt_no,
                        trace_id = gluey_ops::trace::trace_id(&record.trace_id),
                        "delivered"
                    );
                    return true;
                }
                Attempt::Gone => {
                    self.metrics
                        .attempts
                        .with_label_values(&[&endpoint.customer_id, "gone"])
                        .inc();
                    tracing::error!(customer = endpoint.customer_id, url = %endpoint.url, "endpoint answered 410 Gone; not delivering to it");
                    return true;
                }
                Attempt::Failed(reason) => {
                    self.metrics
                        .attempts
                        .with_label_values(&[&endpoint.customer_id, "failed"])
                        .inc();
                    tracing::warn!(customer = endpoint.customer_id, webhook_id = id, attempt = attempt_no, %reason, retry_in = ?backoff, "delivery failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.cancelled() => return false,
                    }
                    backoff = (backoff * 2).min(self.config.max_backoff);
                }
            }
        }
    }

    async fn attempt(
        &self,
        endpoint: &EndpointConfig,
        id: &str,
        record: &CanonicalRecord,
        body: &[u8],
    ) -> Attempt {
        let signed = endpoint.signer.sign(id, Utc::now().timestamp(), body);
        let response = self
            .client
            .post(endpoint.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &signed.id)
            .header("webhook-timestamp", &signed.timestamp)
            .header("webhook-signature", &signed.signature)
            .header("traceparent", &record.trace_id)
            .body(body.to_vec())
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => Attempt::Delivered,
            Ok(r) if r.status().as_u16() == 410 => Attempt::Gone,
            Ok(r) => Attempt::Failed(format!("status {}", r.status().as_u16())),
            Err(e) if e.is_timeout() => Attempt::Failed("timeout".into()),
            Err(e) => Attempt::Failed(format!("connection: {e}")),
        }
    }
}
