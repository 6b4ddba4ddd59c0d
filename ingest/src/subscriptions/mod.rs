//! `gluey ingest subscriptions`: keeps the carriers that push only on subscription pushing. UPS
//! Track Alert subscribes tracking numbers for 14 days, up to 100 per call; DHL Unified Push
//! subscribes a tracking number or a whole account. This service subscribes every number
//! registered on `tracking.shipments.v1` (owners and aliases), renews it before its validity ends,
//! stops at a terminal status on `tracking.events.v1` (delivered, returned, expired) or a
//! deregistration, and retries failures along a schedule, honouring 429.
//!
//! Its state is a compacted topic, `ingest.webhook.subscriptions.v1`, one record per carrier and
//! subject, written after every change and read back in full at start-up before the registry: a
//! restart knows what it subscribed and until when, so it neither forgets a subscription nor makes
//! it again early. A record is written once the carrier's answer is in and before the next call;
//! only a crash between the two repeats a call (a carrier takes a repeat as an extension).
//!
//! One instance runs at a time (it reads every partition); calls are made from one loop, one at a
//! time, so a carrier's rate limit applies naturally.

pub mod book;
pub mod call;
pub mod config;
pub mod dhl;
pub mod inputs;
pub mod metrics;
pub mod ups;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use gluey_contract::{CanonicalRecord, Codec, Shipment};
use gluey_kafka::headers::with_traceparent;
use gluey_kafka::{KafkaSettings, RecordProducer};
use gluey_ops::Health;
use prometheus::Registry;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::Message;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use book::{Failure, Renewal, SubjectKey, SubscriptionBook};
use call::{CallError, CallOutcome};
pub use config::{
    DhlSubscriptionConfig, SubscriptionCarriers, SubscriptionsConfig, UpsSubscriptionConfig,
};
use dhl::DhlClient;
use inputs::PerNumber;
use metrics::SubscriptionMetrics;
use ups::UpsClient;

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionsError {
    #[error("no carrier to subscribe with: the config file has neither [carriers.ups.subscriptions] nor [carriers.dhl.subscriptions]")]
    NoCarriers,
    #[error("--retry-schedule must name at least one pause")]
    EmptyRetrySchedule,
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("restoring subscription state: {0}")]
    Restore(#[from] inputs::RestoreError),
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// One carrier's subscription API.
enum CarrierClient {
    Ups(UpsClient),
    Dhl(DhlClient),
}

/// What the current config says about one carrier's calls.
struct Plan {
    max_batch: usize,
    renewal: Renewal,
}

impl CarrierClient {
    fn name(&self) -> &'static str {
        match self {
            CarrierClient::Ups(_) => "ups",
            CarrierClient::Dhl(_) => "dhl",
        }
    }

    /// `None` when a reload removed the carrier's section: its subscriptions wait.
    fn plan(&self, carriers: &SubscriptionCarriers) -> Option<Plan> {
        match self {
            CarrierClient::Ups(_) => carriers.ups.as_ref().map(|c| Plan {
                max_batch: c.max_batch,
                renewal: Renewal {
                    validity: Some(c.validity),
                    renew_before: c.renew_before,
                },
            }),
            CarrierClient::Dhl(_) => carriers.dhl.as_ref().map(|c| Plan {
                max_batch: 1,
                renewal: Renewal {
                    validity: c.validity,
                    renew_before: c.renew_before,
                },
            }),
        }
    }

    async fn subscribe(
        &mut self,
        carriers: &SubscriptionCarriers,
        subjects: &[String],
    ) -> Result<CallOutcome, CallError> {
        let missing = || CallError::Rejected("carrier section removed from the config".into());
        match self {
            CarrierClient::Ups(client) => {
                let config = carriers.ups.as_ref().ok_or_else(missing)?;
                client.subscribe(config, subjects).await
            }
            CarrierClient::Dhl(client) => {
                let config = carriers.dhl.as_ref().ok_or_else(missing)?;
                // The plan's max_batch is 1 for DHL.
                let [subject] = subjects else {
                    return Err(CallError::Rejected(
                        "DHL subscribes one subject per call".into(),
                    ));
                };
                client.subscribe(config, subject).await
            }
        }
    }
}

struct Subscriptions {
    config: SubscriptionsConfig,
    codec: Arc<Codec>,
    producer: RecordProducer,
    metrics: SubscriptionMetrics,
    book: SubscriptionBook,
    clients: Vec<CarrierClient>,
    per_number: PerNumber,
    /// Beaten between calls too: a pass of many calls must not look like a stalled loop.
    health: Health,
    /// A carrier that answered 429 gets no call before this.
    blocked_until: HashMap<&'static str, Instant>,
}

/// Restores the state, then subscribes, renews and stops until `shutdown`; then writes what is
/// unwritten and commits the events offsets.
pub async fn run_subscriptions(
    config: SubscriptionsConfig,
    kafka: &KafkaSettings,
    codec: Arc<Codec>,
    registry: &Registry,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), SubscriptionsError> {
    if config.retry_schedule.is_empty() {
        return Err(SubscriptionsError::EmptyRetrySchedule);
    }
    let carriers = config.carriers.current();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(config.request_timeout)
        .user_agent(concat!("gluey-subscriptions/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let mut clients = Vec::new();
    let mut per_number = PerNumber::default();
    let mut accounts = Vec::new();
    if carriers.ups.is_some() {
        clients.push(CarrierClient::Ups(UpsClient::new(http.clone())));
        per_number.0.push("ups");
    }
    if let Some(dhl) = &carriers.dhl {
        clients.push(CarrierClient::Dhl(DhlClient::new(http)));
        match &dhl.account_id {
            Some(account) => accounts.push(SubjectKey::account("dhl", account)),
            None => per_number.0.push("dhl"),
        }
    }
    if clients.is_empty() {
        return Err(SubscriptionsError::NoCarriers);
    }
    let metrics = SubscriptionMetrics::register(registry)?;
    let producer = RecordProducer::new(kafka, config.produce_timeout)?;

    health.set_ready(false, "restoring subscription state");
    let restored = inputs::restore(
        kafka,
        &config.topics,
        codec.clone(),
        per_number.clone(),
        config.restore_timeout,
    )
    .await?;
    let mut book = restored.book;
    let now = Utc::now();
    for account in &accounts {
        book.register_account(account, now);
    }
    let stopped = book.stop_unregistered();
    tracing::info!(
        subscriptions = book.len(),
        state_records = restored.state_records,
        registry_records = restored.registry_records,
        undecodable = restored.undecodable,
        stopped_as_deregistered = stopped,
        carriers = ?clients.iter().map(CarrierClient::name).collect::<Vec<_>>(),
        "subscription state restored"
    );
    let registry_follower =
        inputs::registry_follower(kafka, &config.topics, &restored.registry_from)?;
    let events = inputs::events_consumer(kafka, &config.topics, &config.group_id)?;
    let mut service = Subscriptions {
        config,
        codec,
        producer,
        metrics,
        book,
        clients,
        per_number,
        health: health.clone(),
        blocked_until: HashMap::new(),
    };
    service.update_gauges();
    health.set_ready(true, "subscribing");

    let mut tick = tokio::time::interval(service.config.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        health.beat();
        tokio::select! {
            _ = shutdown.cancelled() => break,
            message = registry_follower.recv() => match message {
                Ok(message) => service.registration(&message).await,
                Err(e) => tracing::warn!(error = %e, "registry consume error"),
            },
            message = events.recv() => match message {
                Ok(message) => {
                    if service.event(&message, &shutdown).await {
                        if let Err(e) = events.store_offset_from_message(&message) {
                            tracing::warn!(error = %e, "cannot store events offset");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "events consume error"),
            },
            _ = tick.tick() => {
                service.schedule(&shutdown).await;
                service.flush_until_written(&shutdown).await;
                service.update_gauges();
            }
        }
    }
    health.set_ready(false, "shutting down");
    if !service.flush().await {
        tracing::error!(
            "subscription state not fully written at shutdown; the next start repeats those calls"
        );
    }
    if let Err(e) = events.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(error = %e, "final events commit");
    }
    let producer = service.producer.clone();
    let _ = tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(10))).await;
    Ok(())
}

impl Subscriptions {
    /// A registry record from the follower.
    async fn registration(&mut self, message: &rdkafka::message::BorrowedMessage<'_>) {
        let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
            return;
        };
        let value = match message.payload() {
            None => None,
            Some(bytes) => match self.codec.decode::<Shipment>(bytes).await {
                Ok(shipment) => Some(shipment),
                Err(e) => {
                    tracing::warn!(partition = message.partition(), offset = message.offset(), error = %e, "undecodable registration skipped");
                    return;
                }
            },
        };
        inputs::apply_registration(
            &mut self.book,
            &self.per_number,
            key,
            value.as_ref(),
            Utc::now(),
        );
    }

    /// A record of `tracking.events.v1`; true once what it changed is written (its offset may
    /// then be stored).
    async fn event(
        &mut self,
        message: &rdkafka::message::BorrowedMessage<'_>,
        shutdown: &CancellationToken,
    ) -> bool {
        match self
            .codec
            .decode::<CanonicalRecord>(message.payload().unwrap_or_default())
            .await
        {
            Ok(record) => {
                inputs::apply_event(&mut self.book, &self.per_number, &record, Utc::now());
                !self.book.has_dirty() || self.flush_until_written(shutdown).await
            }
            Err(e) => {
                // The dispatchers dead-letter what cannot be read on this topic; here it is skipped.
                tracing::warn!(partition = message.partition(), offset = message.offset(), error = %e, "undecodable canonical record skipped");
                true
            }
        }
    }

    /// Makes every call that is due, carrier by carrier, batch by batch.
    async fn schedule(&mut self, shutdown: &CancellationToken) {
        let now = Utc::now();
        let lapsed = self.book.refresh_lapses(now);
        if lapsed > 0 {
            tracing::warn!(lapsed, "subscriptions lapsed before they were renewed");
        }
        let carriers = self.config.carriers.current();
        for i in 0..self.clients.len() {
            let name = self.clients[i].name();
            if self
                .blocked_until
                .get(name)
                .is_some_and(|until| Instant::now() < *until)
            {
                continue;
            }
            let Some(plan) = self.clients[i].plan(&carriers) else {
                continue;
            };
            let due = self.book.due(name, now);
            for batch in due.chunks(plan.max_batch.max(1)) {
                if shutdown.is_cancelled() {
                    return;
                }
                let subjects: Vec<String> = batch.iter().map(|k| k.subject.clone()).collect();
                let sent_at = Utc::now();
                let result = self.clients[i].subscribe(&carriers, &subjects).await;
                self.health.beat();
                let throttled = self.apply(name, batch, sent_at, plan.renewal, result);
                // Written before the next call: a restart must not repeat this one.
                self.flush_until_written(shutdown).await;
                if throttled {
                    break;
                }
            }
        }
    }

    /// Records a call's answer in the book; true if the carrier throttled us.
    fn apply(
        &mut self,
        carrier: &'static str,
        batch: &[SubjectKey],
        sent_at: chrono::DateTime<Utc>,
        renewal: Renewal,
        result: Result<CallOutcome, CallError>,
    ) -> bool {
        let now = Utc::now();
        let schedule = &self.config.retry_schedule;
        let count = |outcome: &str, n: usize| {
            self.metrics
                .subjects
                .with_label_values(&[carrier, outcome])
                .inc_by(n as u64)
        };
        match result {
            Ok(outcome) => {
                self.metrics
                    .calls
                    .with_label_values(&[carrier, outcome.label()])
                    .inc();
                tracing::info!(
                    carrier,
                    sent = batch.len(),
                    accepted = outcome.accepted.len(),
                    refused = outcome.refused.len(),
                    unconfirmed = outcome.unconfirmed.len(),
                    "subscribe call answered"
                );
                for (subject, id) in outcome.accepted {
                    let key = SubjectKey::new(carrier, &subject);
                    let renewed = self.book.get(&key).is_some_and(|r| r.periods > 0);
                    self.book.succeeded(&key, sent_at, renewal, id);
                    count(if renewed { "renewed" } else { "subscribed" }, 1);
                }
                for (subject, reason) in outcome.refused {
                    tracing::warn!(carrier, tracking_number = subject, %reason, "carrier refused the subscription");
                    let key = SubjectKey::new(carrier, &subject);
                    self.book
                        .failed(&key, Failure::Refused(&reason), schedule, now);
                    count("refused", 1);
                }
                for subject in outcome.unconfirmed {
                    let key = SubjectKey::new(carrier, &subject);
                    self.book.failed(
                        &key,
                        Failure::Failed("sent, but the carrier's answer did not name it"),
                        schedule,
                        now,
                    );
                    count("failed", 1);
                }
                false
            }
            Err(e) => {
                self.metrics
                    .calls
                    .with_label_values(&[carrier, e.label()])
                    .inc();
                if let CallError::Throttled { retry_after } = e {
                    let pause = retry_after
                        .or(schedule.first().copied())
                        .unwrap_or(Duration::from_secs(1));
                    tracing::warn!(
                        carrier,
                        pause_ms = pause.as_millis() as u64,
                        "carrier throttled subscribe calls (429); pausing them"
                    );
                    self.blocked_until.insert(carrier, Instant::now() + pause);
                    return true;
                }
                tracing::warn!(carrier, sent = batch.len(), error = %e, "subscribe call failed");
                let reason = e.to_string();
                for key in batch {
                    self.book
                        .failed(key, Failure::Failed(&reason), schedule, now);
                }
                count("failed", batch.len());
                false
            }
        }
    }

    /// Writes the changed records; false if some were not acknowledged (they stay dirty).
    async fn flush(&mut self) -> bool {
        let records = self.book.take_dirty(Utc::now());
        if records.is_empty() {
            return true;
        }
        let topic = self.config.topics.push_subscriptions();
        let traceparent = gluey_ops::trace::new_traceparent();
        let mut pending = Vec::with_capacity(records.len());
        let mut written = true;
        for (key, record) in records {
            let bytes = match self.codec.encode(&topic, &record).await {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::error!(key = key.record_key(), error = %e, "cannot encode subscription state");
                    written = false;
                    if e.is_retryable() {
                        self.book.mark_dirty(key);
                    }
                    continue;
                }
            };
            let record_key = key.record_key();
            match self
                .producer
                .enqueue(
                    &topic,
                    Some(record_key.as_bytes()),
                    &bytes,
                    with_traceparent(&traceparent),
                )
                .await
            {
                Ok(ack) => pending.push((key, ack)),
                Err(e) => {
                    tracing::warn!(key = record_key, error = %e, "subscription state not written");
                    written = false;
                    self.book.mark_dirty(key);
                }
            }
        }
        for (key, ack) in pending {
            if let Err(e) = ack.acked().await {
                tracing::warn!(key = key.record_key(), error = %e, "subscription state not acknowledged");
                written = false;
                self.book.mark_dirty(key);
            }
        }
        written
    }

    /// Writes until everything is acknowledged, pausing a tick between tries; gives up (false)
    /// once `shutdown` is cancelled and a last try failed.
    async fn flush_until_written(&mut self, shutdown: &CancellationToken) -> bool {
        loop {
            if self.flush().await {
                return true;
            }
            if shutdown.is_cancelled() {
                return false;
            }
            self.health.beat();
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(self.config.tick) => {}
            }
        }
    }

    fn update_gauges(&self) {
        let names: Vec<&str> = self.clients.iter().map(CarrierClient::name).collect();
        self.metrics.set_states(&names, &self.book.counts());
    }
}
