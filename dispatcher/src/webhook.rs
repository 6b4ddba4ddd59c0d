//! `gluey dispatch webhook`: delivers `tracking.events.v1` to customers' endpoints, signed per
//! Standard Webhooks, with a three-day retry ladder kept in Kafka.
//!
//! - The **main lane** reads the events topic and starts one delivery per matching endpoint at
//!   once, without waiting for any of them before reading on. An input offset is stored only
//!   when every delivery of that record and of every record before it has succeeded, been
//!   dead-lettered, or been written to a retry topic and acknowledged; a crash therefore
//!   redelivers (with the same `webhook-id`) and never loses.
//! - A delivery that fails is written to the retry topic of its next ladder step
//!   (`delivery.webhook.retry.<n>.v1`) with its due time; one **retry lane** per step reads its
//!   topic a bounded window ahead and attempts each delivery when it falls due. So retries
//!   survive restarts and never hold up the main partition.
//! - Each endpoint has concurrency slots, an optional rate limit and a circuit breaker
//!   (`endpoint.rs`); what it cannot take now goes to the retry path without using an attempt.
//!   A 410, or days of failures without a success, disables the endpoint
//!   (`delivery.webhook.endpoints.v1`); its deliveries are dead-lettered per endpoint
//!   (`delivery.webhook.deadletter.v1`), replayable.
//! - Every connection goes through the SSRF guard (`ssrf`); redirects are never followed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use gluey_contract::{CanonicalRecord, Codec, CodecError, DeadLetter};
use gluey_kafka::deadletters::{bounded_reason, write_dead_letter};
use gluey_kafka::headers::with_traceparent;
use gluey_kafka::rebalance::PartitionOwnership;
use gluey_kafka::{KafkaSettings, RecordProducer};
use gluey_ops::{Backoff, Health};
use prometheus::Registry;
use rand::Rng;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{DispatcherConfig, EndpointConfig};
use crate::delivery::Delivery;
use crate::endpoint::{AfterFailure, EndpointRuntime};
use crate::endpoint_state::{self, EndpointState};
use crate::metrics::DispatchMetrics;
use crate::offsets::{Completion, OffsetTracker};
use crate::payload;
use crate::retry::{self, Answer, Failure};
use crate::ssrf::{blocked_cause, GuardedClient, SsrfGuard, SystemResolver};

const USER_AGENT: &str = concat!("gluey-webhooks/", env!("CARGO_PKG_VERSION"));
/// Header with the 1-based number of the attempt.
pub const ATTEMPT_HEADER: &str = "gluey-attempt";

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

type Finished = (String, i32, i64);

struct Ctx {
    config: DispatcherConfig,
    client: GuardedClient,
    producer: RecordProducer,
    codec: Arc<Codec>,
    kafka: KafkaSettings,
    metrics: DispatchMetrics,
    /// Not ready while an input waits on the schema registry.
    health: Health,
    shutdown: CancellationToken,
    /// Runtime state per endpoint id, rebuilt for endpoints whose configuration changed.
    endpoints: Mutex<Endpoints>,
    /// Which endpoints are disabled.
    disabled: Mutex<Disabled>,
}

/// Disabled endpoints: as recorded on `delivery.webhook.endpoints.v1`, and as this process
/// disabled them (kept until the record is read back, or an operator enabled the endpoint
/// after), so a refresh that started before a disable, or a record that could not be written,
/// does not enable the endpoint again.
#[derive(Debug, Default)]
struct Disabled {
    recorded: HashMap<String, EndpointState>,
    local: HashMap<String, (String, chrono::DateTime<Utc>)>,
}

impl Disabled {
    fn reason(&self, id: &str) -> Option<String> {
        if let Some((reason, _)) = self.local.get(id) {
            return Some(reason.clone());
        }
        match self.recorded.get(id) {
            Some(EndpointState::Disabled { reason, .. }) => Some(reason.clone()),
            _ => None,
        }
    }

    fn refreshed(&mut self, recorded: HashMap<String, EndpointState>) {
        self.local.retain(|id, (_, at)| match recorded.get(id) {
            // Read back: the record stands for it now.
            Some(EndpointState::Disabled { .. }) => false,
            // An operator enabled it after this process disabled it.
            Some(EndpointState::Enabled { at: enabled, .. }) => enabled < at,
            None => true,
        });
        self.recorded = recorded;
    }
}

struct Endpoints {
    /// The configuration the runtimes were built from.
    from: Option<Arc<Vec<EndpointConfig>>>,
    by_id: HashMap<String, Arc<EndpointRuntime>>,
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
    let guard = SsrfGuard::new(config.address_policy, Arc::new(SystemResolver), registry)?;
    let client = GuardedClient::new(guard, USER_AGENT, config.attempt_timeout)?;
    let producer = RecordProducer::new(kafka, Duration::from_secs(30))?;
    let ctx = Arc::new(Ctx {
        config,
        client,
        producer,
        codec,
        kafka: kafka.clone(),
        metrics,
        health: health.clone(),
        shutdown: shutdown.clone(),
        endpoints: Mutex::new(Endpoints {
            from: None,
            by_id: HashMap::new(),
        }),
        disabled: Mutex::new(Disabled::default()),
    });
    // Which endpoints are disabled, before the first delivery; then kept up to date.
    ctx.refresh_disabled().await;
    let refresher = tokio::spawn({
        let ctx = ctx.clone();
        async move {
            let mut every = tokio::time::interval(endpoint_state::REFRESH);
            loop {
                tokio::select! {
                    _ = ctx.shutdown.cancelled() => break,
                    _ = every.tick() => ctx.refresh_disabled().await,
                }
            }
        }
    });
    let mut lanes = Vec::new();
    for step in 0..ctx.config.retry.ladder.len() {
        lanes.push(tokio::spawn(run_lane(
            ctx.clone(),
            Lane::Retry(step),
            health.clone(),
        )));
    }
    health.set_ready(true, "consuming");
    let main = run_lane(ctx.clone(), Lane::Main, health.clone()).await;
    for lane in lanes {
        match lane.await {
            Ok(Err(e)) => tracing::error!(error = %e, "retry lane failed"),
            Err(e) => tracing::error!(error = %e, "retry lane panicked"),
            Ok(Ok(())) => {}
        }
    }
    health.set_ready(false, "shutting down");
    let _ = refresher.await;
    let producer = ctx.producer.clone();
    let _ = tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(10))).await;
    main
}

#[derive(Debug, Clone, Copy)]
enum Lane {
    Main,
    Retry(usize),
}

impl Lane {
    fn name(self) -> String {
        match self {
            Lane::Main => "main".into(),
            Lane::Retry(step) => format!("retry.{}", step + 1),
        }
    }
}

/// Refusals (not outages) of a record by Kafka before it is handled as refused.
const REFUSALS_BEFORE_GIVING_UP: u32 = 3;

/// How writing a delivery record ended.
enum HandOver {
    Written,
    ShutDown,
    /// Kafka refuses the record itself (missing topic, too large, not authorised).
    Refused(String),
}

/// Whether an unreadable input was dead-lettered (true), or shutdown came first (false).
struct Settled(bool);

/// An input record decoded, or why it was not.
enum Decoded {
    Record(Box<CanonicalRecord>),
    /// It will never decode (the bytes, not a dependency): dead-letter it.
    Unreadable(String),
    ShutDown,
}

/// A delivery read ahead on a retry lane, waiting for its due time.
struct Waiting {
    partition: i32,
    delivery: Delivery,
    completion: Completion,
}

async fn run_lane(ctx: Arc<Ctx>, lane: Lane, health: Health) -> Result<(), DispatchError> {
    // A group per lane: a lane joining or leaving does not rebalance the others.
    let (group, topic) = match lane {
        Lane::Main => (ctx.config.group_id.clone(), ctx.config.topics.events()),
        Lane::Retry(step) => (
            format!("{}.retry.{}", ctx.config.group_id, step + 1),
            ctx.config.topics.webhook_retry(step),
        ),
    };
    let ownership = PartitionOwnership::default();
    let revocations = ownership.revocations.clone();
    let consumer: StreamConsumer<PartitionOwnership> = ctx
        .kafka
        .consumer_config(&group)
        .create_with_context(ownership)?;
    consumer.subscribe(&[&topic])?;
    let (finished_tx, mut finished) = mpsc::unbounded_channel::<Finished>();
    let mut tracker = OffsetTracker::default();
    let mut waiting: BinaryHeap<Reverse<(chrono::DateTime<Utc>, u64)>> = BinaryHeap::new();
    let mut parked: HashMap<u64, Waiting> = HashMap::new();
    let mut serial = 0u64;
    let in_flight = ctx.metrics.in_flight.with_label_values(&[&lane.name()]);
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    // Reading is paused (not stopped: the consumer keeps polling, so it stays in its group)
    // while the lane is full.
    let mut paused = false;
    // Partitions revoked since last looked at: another member (or this one, afresh) reads them
    // from their committed offsets, so what was read ahead of them is let go unfinished and
    // their offsets start over. Looked at before every new record too, since the rebalance
    // happens inside `recv`, before it returns the new assignment's first record.
    let drop_revoked =
        |tracker: &mut OffsetTracker, parked: &mut HashMap<u64, Waiting>, paused: &mut bool| {
            let revoked = revocations.take();
            if revoked.is_empty() {
                return;
            }
            *paused = false;
            for partition in revoked {
                tracker.forget(&topic, partition);
                parked.retain(|_, w| w.partition != partition);
            }
        };
    loop {
        if matches!(lane, Lane::Main) {
            health.beat();
        }
        drop_revoked(&mut tracker, &mut parked, &mut paused);
        in_flight.set(tracker.in_flight() as i64);
        // Keys of records let go stay in the heap until they come up; they are skipped then.
        let next_due = waiting
            .peek()
            .map(|Reverse((due, _))| (*due - Utc::now()).to_std().unwrap_or(Duration::ZERO));
        let room = match lane {
            Lane::Main => tracker.in_flight() < ctx.config.max_in_flight,
            Lane::Retry(_) => parked.len() < ctx.config.read_ahead,
        };
        if room == paused {
            if let Ok(assignment) = consumer.assignment() {
                let switched = if room {
                    consumer.resume(&assignment)
                } else {
                    consumer.pause(&assignment)
                };
                match switched {
                    Ok(()) => paused = !room,
                    Err(e) => {
                        tracing::warn!(error = %e, lane = lane.name(), "cannot pause or resume reading")
                    }
                }
            }
        }
        tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            Some(done) = finished.recv() => {
                tracker.finish(&done.0, done.1, done.2);
                while let Ok(done) = finished.try_recv() {
                    tracker.finish(&done.0, done.1, done.2);
                }
                store(&consumer, &mut tracker);
            }
            _ = tokio::time::sleep(next_due.unwrap_or(Duration::MAX)), if next_due.is_some() => {
                let now = Utc::now();
                while let Some(Reverse((due, key))) = waiting.peek().copied() {
                    if due > now {
                        break;
                    }
                    waiting.pop();
                    if let Some(w) = parked.remove(&key) {
                        tokio::spawn(deliver(ctx.clone(), w.delivery, w.completion));
                    }
                }
            }
            m = consumer.recv() => {
                let message = match m {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, lane = lane.name(), "consume error");
                        continue;
                    }
                };
                drop_revoked(&mut tracker, &mut parked, &mut paused);
                tracker.begin(message.topic(), message.partition(), message.offset());
                let completion = Completion::new(
                    message.topic(),
                    message.partition(),
                    message.offset(),
                    finished_tx.clone(),
                );
                match lane {
                    Lane::Main => ctx.clone().dispatch(&message, completion).await,
                    Lane::Retry(_) => match ctx.read_delivery(&message).await {
                        Ok(delivery) => {
                            serial += 1;
                            waiting.push(Reverse((delivery.due_at, serial)));
                            let partition = message.partition();
                            parked.insert(serial, Waiting { partition, delivery, completion });
                        }
                        Err(Settled(true)) => completion.settle(),
                        // Shutdown before the dead letter was written: read again.
                        Err(Settled(false)) => drop(completion),
                    },
                }
            }
            _ = heartbeat.tick() => {}
        }
    }
    // Drain: deliveries read ahead but not yet due are let go unfinished (read again after the
    // restart); those in flight may finish (bounded); store what is done, commit.
    parked.clear();
    let deadline = Instant::now() + ctx.config.attempt_timeout + Duration::from_secs(2);
    while tracker.in_flight() > 0 && Instant::now() < deadline {
        match tokio::time::timeout_at(deadline.into(), finished.recv()).await {
            Ok(Some(done)) => tracker.finish(&done.0, done.1, done.2),
            _ => break,
        }
    }
    store(&consumer, &mut tracker);
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(error = %e, lane = lane.name(), "final commit");
    }
    Ok(())
}

fn store(consumer: &StreamConsumer<PartitionOwnership>, tracker: &mut OffsetTracker) {
    for (topic, partition, offset) in tracker.advanced() {
        // librdkafka stores `offset + 1` itself: pass the last finished record's own offset.
        if let Err(e) = consumer.store_offset(&topic, partition, offset) {
            tracing::debug!(error = %e, topic, partition, offset, "cannot store offset (revoked?)");
        }
    }
}

impl Ctx {
    /// The runtime of endpoint `id` under the current configuration.
    fn endpoint(&self, id: &str) -> Option<Arc<EndpointRuntime>> {
        let current = self.config.endpoints.current();
        let mut endpoints = lock(&self.endpoints);
        if !endpoints
            .from
            .as_ref()
            .is_some_and(|from| Arc::ptr_eq(from, &current))
        {
            // Configuration (re)loaded: keep the runtime (breaker, slots) of unchanged endpoints.
            let mut by_id = HashMap::new();
            for config in current.iter() {
                let runtime = match endpoints.by_id.remove(&config.id) {
                    Some(old)
                        if old.config.url == config.url
                            && old.config.max_concurrency == config.max_concurrency
                            && old.config.rate_limit == config.rate_limit =>
                    {
                        Arc::new(EndpointRuntime::rebuilt(&old, config.clone()))
                    }
                    _ => Arc::new(EndpointRuntime::new(config.clone())),
                };
                by_id.insert(config.id.clone(), runtime);
            }
            endpoints.by_id = by_id;
            endpoints.from = Some(current);
        }
        let runtime = endpoints.by_id.get(id).cloned()?;
        drop(endpoints);
        runtime.set_disabled(lock(&self.disabled).reason(id));
        Some(runtime)
    }

    async fn refresh_disabled(&self) {
        let kafka = self.kafka.clone();
        let topic = self.config.topics.webhook_endpoints();
        match tokio::task::spawn_blocking(move || endpoint_state::read_all(&kafka, &topic)).await {
            Ok(Ok(states)) => {
                let mut disabled = lock(&self.disabled);
                disabled.refreshed(states);
                let current = self.config.endpoints.current();
                for endpoint in current.iter() {
                    self.metrics
                        .endpoint_disabled
                        .with_label_values(&[&endpoint.id])
                        .set(i64::from(disabled.reason(&endpoint.id).is_some()));
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read endpoint states; keeping the last known")
            }
            Err(e) => tracing::warn!(error = %e, "endpoint state reader failed"),
        }
    }

    /// Starts the deliveries of one input record to every endpoint that wants it; the record is
    /// finished when each has settled. A record that cannot be decoded yet because the schema
    /// registry does not answer waits for it in a task of its own (the lane reads on, up to its
    /// in-flight bound); it is never dead-lettered for that.
    async fn dispatch(self: Arc<Self>, message: &BorrowedMessage<'_>, completion: Completion) {
        let bytes = message.payload().unwrap_or_default();
        match self.codec.decode::<CanonicalRecord>(bytes).await {
            Ok(record) => self.start_deliveries(bytes, record, completion),
            Err(e) if e.is_retryable() => {
                let message = message.detach();
                tokio::spawn(async move {
                    let bytes = message.payload().unwrap_or_default();
                    match self.decode_waiting(bytes, e).await {
                        Decoded::Record(record) => {
                            self.start_deliveries(bytes, *record, completion)
                        }
                        Decoded::Unreadable(reason) => {
                            if self.dead_letter_input(&message, reason).await {
                                completion.settle();
                            }
                        }
                        // Unsettled: read again after the restart.
                        Decoded::ShutDown => drop(completion),
                    }
                });
            }
            Err(e) => {
                if self.dead_letter_input(message, e.to_string()).await {
                    completion.settle();
                }
            }
        }
    }

    /// Decodes `bytes` again and again, with back-off, while the schema registry does not
    /// answer (`first` is the error that started the wait); the wait shows in
    /// `dispatch_webhook_input_retries_total` and in `/readyz`.
    async fn decode_waiting(&self, bytes: &[u8], first: CodecError) -> Decoded {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let mut error = first;
        loop {
            if !error.is_retryable() {
                return Decoded::Unreadable(error.to_string());
            }
            self.metrics
                .input_retries
                .with_label_values(&["schema_registry"])
                .inc();
            self.health.set_waiting_on(Some(&format!(
                "waiting for the schema registry to decode input: {error}"
            )));
            tracing::warn!(%error, "cannot decode input while the schema registry does not answer; retrying");
            tokio::select! {
                _ = self.shutdown.cancelled() => return Decoded::ShutDown,
                _ = tokio::time::sleep(backoff.pause()) => {}
            }
            match self.codec.decode::<CanonicalRecord>(bytes).await {
                Ok(record) => {
                    self.health.set_waiting_on(None);
                    return Decoded::Record(Box::new(record));
                }
                Err(e) => error = e,
            }
        }
    }

    /// One delivery per endpoint that wants `record`, each holding a share of `completion`.
    fn start_deliveries(
        self: Arc<Self>,
        bytes: &[u8],
        record: CanonicalRecord,
        completion: Completion,
    ) {
        let skipped = if record.customer_id.is_none() {
            Some("no_customer")
        } else if record
            .event
            .as_ref()
            .is_some_and(|e| e.flags.iter().any(|f| f == "post_terminal"))
        {
            // Recorded on the topic, not re-notified (DESIGN.md).
            Some("post_terminal")
        } else {
            None
        };
        let all = self.config.endpoints.current();
        let matching: Vec<&EndpointConfig> = all
            .iter()
            .filter(|e| {
                record.customer_id.as_deref() == Some(e.customer_id.as_str())
                    && e.filter.matches(&record)
            })
            .collect();
        let skipped = skipped.or(matching.is_empty().then_some("no_endpoint"));
        if let Some(reason) = skipped {
            self.metrics.skipped.with_label_values(&[reason]).inc();
            completion.settle();
            return;
        }
        let now = Utc::now();
        for endpoint in matching {
            let delivery = Delivery {
                endpoint: endpoint.id.clone(),
                bytes: bytes.to_vec(),
                record: record.clone(),
                attempts: 0,
                first_attempt_at: None,
                due_at: now,
                last_error: None,
            };
            tokio::spawn(deliver(self.clone(), delivery, completion.clone()));
        }
        // Each delivery holds its own share now.
        completion.settle();
    }

    /// A delivery from a retry topic. A malformed one is dead-lettered (not skipped):
    /// `Err(Settled(true))` once it is, `Err(Settled(false))` if shutdown came first. While the
    /// schema registry does not answer it waits (retry lanes carry little, so the lane waits
    /// with it).
    async fn read_delivery(&self, message: &BorrowedMessage<'_>) -> Result<Delivery, Settled> {
        let bytes = message.payload().unwrap_or_default();
        let decoded = match self.codec.decode::<CanonicalRecord>(bytes).await {
            Ok(record) => Decoded::Record(Box::new(record)),
            Err(e) => self.decode_waiting(bytes, e).await,
        };
        let reason = match decoded {
            Decoded::Record(record) => match Delivery::from_message(message, *record) {
                Ok(delivery) => return Ok(delivery),
                Err(e) => e.to_string(),
            },
            Decoded::Unreadable(reason) => reason,
            Decoded::ShutDown => return Err(Settled(false)),
        };
        Err(Settled(self.dead_letter_input(message, reason).await))
    }

    /// An input this dispatcher cannot read goes to the pipeline's dead-letter topic.
    async fn dead_letter_input(&self, message: &impl Message, reason: String) -> bool {
        tracing::error!(topic = message.topic(), partition = message.partition(), offset = message.offset(), %reason, "unreadable record; dead-lettering");
        let letter = DeadLetter {
            stage: "dispatch".into(),
            reason: bounded_reason(reason),
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
        let topic = self.config.topics.deadletter();
        let headers = with_traceparent(&gluey_ops::trace::new_traceparent());
        let max_bytes = self.kafka.message_max_bytes();
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        loop {
            let written = write_dead_letter(
                &self.producer,
                &self.codec,
                &topic,
                message.key(),
                &letter,
                &headers,
                max_bytes,
            )
            .await;
            match written {
                Ok(_) => return true,
                Err(e) => {
                    tracing::warn!(error = %e, topic, "cannot write dead letter; retrying");
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return false,
                        _ = tokio::time::sleep(backoff.pause()) => {}
                    }
                }
            }
        }
    }

    /// Writes `delivery` to `topic` and waits for the ack, retrying while Kafka is unavailable.
    async fn hand_over(&self, topic: &str, delivery: &Delivery, reason: Option<&str>) -> HandOver {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        let mut refusals = 0;
        loop {
            match self
                .producer
                .send(
                    topic,
                    Some(delivery.endpoint.as_bytes()),
                    &delivery.bytes,
                    delivery.headers(reason),
                )
                .await
            {
                Ok(_) => return HandOver::Written,
                Err(e) => {
                    if !e.is_retryable() {
                        refusals += 1;
                        if refusals >= REFUSALS_BEFORE_GIVING_UP {
                            tracing::error!(error = %e, topic, endpoint = delivery.endpoint, "kafka refuses the delivery record");
                            return HandOver::Refused(e.to_string());
                        }
                    }
                    tracing::warn!(error = %e, topic, endpoint = delivery.endpoint, "cannot write delivery; retrying");
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return HandOver::ShutDown,
                        _ = tokio::time::sleep(backoff.pause()) => {}
                    }
                }
            }
        }
    }

    /// To the retry topic for a pause of `delay`, at least ladder step `min_step` (0-based): a
    /// jittered pause a little shorter than its step still goes to that step's topic.
    async fn schedule(&self, mut delivery: Delivery, delay: Duration, min_step: usize) -> bool {
        delivery.due_at = Utc::now()
            + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::days(1));
        let step = retry::retry_step(&self.config.retry, delay)
            .max(min_step)
            .min(self.config.retry.ladder.len().saturating_sub(1));
        self.metrics
            .scheduled
            .with_label_values(&[&delivery.endpoint, &(step + 1).to_string()])
            .inc();
        match self
            .hand_over(&self.config.topics.webhook_retry(step), &delivery, None)
            .await
        {
            HandOver::Written => true,
            HandOver::ShutDown => false,
            // The retry topic will not take it (missing, or the record too large): kept as a
            // dead letter rather than retried for ever with its partition's offset held.
            HandOver::Refused(why) => {
                let mut delivery = delivery;
                delivery.last_error = Some(format!("retry topic refused the record: {why}"));
                self.dead_letter(&delivery, "retry_unwritable").await
            }
        }
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> bool {
        self.metrics
            .deadlettered
            .with_label_values(&[&delivery.endpoint, reason])
            .inc();
        tracing::warn!(
            endpoint = delivery.endpoint,
            webhook_id = payload::webhook_id(&delivery.record),
            attempts = delivery.attempts,
            reason,
            "delivery dead-lettered"
        );
        loop {
            match self
                .hand_over(
                    &self.config.topics.webhook_deadletter(),
                    delivery,
                    Some(reason),
                )
                .await
            {
                HandOver::Written => return true,
                HandOver::ShutDown => return false,
                // Nowhere left to keep it: keep trying (its input is not finished meanwhile,
                // so nothing is lost), loudly.
                HandOver::Refused(why) => {
                    tracing::error!(endpoint = delivery.endpoint, %why, "the delivery dead-letter topic refuses the record; retrying");
                }
            }
        }
    }

    async fn disable(&self, endpoint: &EndpointRuntime, reason: String) {
        tracing::error!(endpoint = endpoint.id(), url = %endpoint.config.url, %reason, "endpoint disabled; its deliveries are dead-lettered until an operator enables it again");
        endpoint.set_disabled(Some(reason.clone()));
        lock(&self.disabled)
            .local
            .insert(endpoint.id().to_string(), (reason.clone(), Utc::now()));
        self.metrics
            .endpoint_disabled
            .with_label_values(&[endpoint.id()])
            .set(1);
        let topic = self.config.topics.webhook_endpoints();
        let state = EndpointState::Disabled {
            reason,
            at: Utc::now(),
        };
        if let Err(e) = endpoint_state::write(&self.producer, &topic, endpoint.id(), &state).await {
            tracing::error!(error = %e, endpoint = endpoint.id(), "cannot record the endpoint as disabled; it is disabled in this process only");
        }
    }

    /// One attempt: signed request, answer classified.
    async fn attempt(&self, endpoint: &EndpointRuntime, delivery: &Delivery) -> Answer {
        let record = &delivery.record;
        let body = match serde_json::to_vec(&payload::body(record)) {
            Ok(body) => body,
            Err(e) => return Answer::Failed(Failure::new("body", e.to_string())),
        };
        let id = payload::webhook_id(record);
        let signed = endpoint
            .config
            .signer
            .sign(&id, Utc::now().timestamp(), &body);
        let request = match self.client.post(&endpoint.config.url) {
            Ok(request) => request,
            Err(rejected) => return Answer::Failed(Failure::new("blocked", rejected.to_string())),
        };
        let response = request
            .header("content-type", "application/json")
            .header("webhook-id", &signed.id)
            .header("webhook-timestamp", &signed.timestamp)
            .header("webhook-signature", &signed.signature)
            .header("traceparent", &record.trace_id)
            .header(ATTEMPT_HEADER, (delivery.attempts + 1).to_string())
            .body(body)
            .send()
            .await;
        match response {
            Ok(r) => {
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| retry::parse_retry_after(v, Utc::now(), self.config.time_scale));
                retry::classify(r.status().as_u16(), retry_after)
            }
            Err(e) => {
                if let Some(blocked) = blocked_cause(&e) {
                    Answer::Failed(Failure::new("blocked", blocked.to_string()))
                } else if e.is_timeout() {
                    Answer::Failed(Failure {
                        throttled: true,
                        ..Failure::new("timeout", "no answer within the attempt timeout")
                    })
                } else {
                    Answer::Failed(Failure::new("connection", error_chain(&e)))
                }
            }
        }
    }
}

/// Takes one delivery as far as it can go now: attempted (delivered, or on to the retry path or
/// the dead letters), or held for later without using an attempt.
async fn deliver(ctx: Arc<Ctx>, mut delivery: Delivery, completion: Completion) {
    if deliver_once(&ctx, &mut delivery).await {
        completion.settle();
    }
    // Otherwise shutdown came before the delivery was settled: dropping the completion
    // unsettled leaves its input to be read again after a restart.
}

async fn deliver_once(ctx: &Ctx, delivery: &mut Delivery) -> bool {
    let Some(endpoint) = ctx.endpoint(&delivery.endpoint) else {
        return ctx.dead_letter(delivery, "endpoint_removed").await;
    };
    if endpoint.disabled().is_some() {
        return ctx.dead_letter(delivery, "endpoint_disabled").await;
    }
    let policy = &ctx.config.retry;
    let admission = tokio::select! {
        _ = ctx.shutdown.cancelled() => return false,
        a = endpoint.admit(policy) => a,
    };
    let admission = match admission {
        Ok(admission) => admission,
        Err((held, wait)) => {
            ctx.metrics
                .held
                .with_label_values(&[endpoint.id(), held.label()])
                .inc();
            return ctx.schedule(delivery.clone(), wait, 0).await;
        }
    };
    let started = Instant::now();
    let answer = tokio::select! {
        _ = ctx.shutdown.cancelled() => return false,
        a = ctx.attempt(&endpoint, delivery) => a,
    };
    let customer = endpoint.config.customer_id.clone();
    ctx.metrics
        .duration
        .with_label_values(&[&customer, endpoint.id()])
        .observe(started.elapsed().as_secs_f64());
    delivery.attempts += 1;
    delivery.first_attempt_at.get_or_insert_with(Utc::now);
    let webhook_id = payload::webhook_id(&delivery.record);
    let outcome = match &answer {
        Answer::Delivered => "delivered".to_string(),
        Answer::Gone => "gone".to_string(),
        Answer::Failed(f) => f.kind.clone(),
    };
    ctx.metrics
        .attempts
        .with_label_values(&[&customer, endpoint.id(), &outcome])
        .inc();
    let settled = match answer {
        Answer::Delivered => {
            endpoint.succeeded();
            ctx.metrics
                .delivered
                .with_label_values(&[&customer, endpoint.id()])
                .inc();
            tracing::info!(
                endpoint = endpoint.id(),
                webhook_id,
                sequence = delivery.record.sequence,
                attempt = delivery.attempts,
                trace_id = gluey_ops::trace::trace_id(&delivery.record.trace_id),
                "delivered"
            );
            true
        }
        Answer::Gone => {
            ctx.disable(&endpoint, "answered 410 Gone".into()).await;
            delivery.last_error = Some("status_410: answered 410 Gone".into());
            ctx.dead_letter(delivery, "gone").await
        }
        Answer::Failed(failure) => {
            delivery.last_error = Some(format!("{}: {}", failure.kind, failure.detail));
            let after = endpoint.failed(policy, admission.probe);
            let jitter = rand::rng().random_range(-1.0..=1.0);
            let next = retry::next_delay(policy, delivery.attempts, &failure, jitter);
            tracing::warn!(endpoint = endpoint.id(), webhook_id, attempt = delivery.attempts, failure = failure.kind, detail = failure.detail, retry_in = ?next, "delivery attempt failed");
            if after == AfterFailure::Disable {
                ctx.disable(
                    &endpoint,
                    format!(
                        "failing without a success for {:?} or more",
                        policy.disable_after
                    ),
                )
                .await;
                ctx.dead_letter(delivery, "endpoint_disabled").await
            } else {
                match next {
                    Some(delay) => {
                        let step =
                            usize::try_from(delivery.attempts.saturating_sub(1)).unwrap_or(0);
                        ctx.schedule(delivery.clone(), delay, step).await
                    }
                    None => ctx.dead_letter(delivery, "attempts_exhausted").await,
                }
            }
        }
    };
    ctx.metrics
        .breaker_open
        .with_label_values(&[endpoint.id()])
        .set(i64::from(endpoint.breaker_open()));
    drop(admission);
    settled
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
