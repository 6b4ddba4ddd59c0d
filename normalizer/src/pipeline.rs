//! The consume → transform → produce loop, in batches: take what the consumer has ready (up to
//! `max_batch`), handle each record in partition order (each handed to the producer at once,
//! updating the partition's state as it goes), then wait for every acknowledgement and only then
//! store the input offsets. If any output of a partition was not acknowledged, that partition's
//! state is dropped and its input rewound to the first record not fully acknowledged: the state
//! is rebuilt from what the output topic really holds, so nothing is lost and nothing published
//! twice. Anything about a record itself that fails goes to the dead-letter topic, on the first
//! attempt.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::FutureExt;
use gluey_contract::{Codec, RawEnvelope};
use gluey_kafka::{KafkaSettings, PendingAck, RecordProducer};
use gluey_ops::Health;
use prometheus::Registry;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Message, Offset};
use tokio_util::sync::CancellationToken;

use crate::config::NormalizerConfig;
use crate::metrics::NormalizerMetrics;
use crate::parking::{Parked, RawRecord};
use crate::restore::{restore_partition, PartitionState, RestoreError};
use crate::work::{Handled, Normalizer, Outcome, Poison, Transient};
use gluey_kafka::rebalance::PartitionOwnership;

#[derive(Debug, thiserror::Error)]
pub enum NormalizerError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("restoring shipment state: {0}")]
    Restore(#[from] RestoreError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("{0}")]
    Mapping(#[from] gluey_carriers::mapping::MappingError),
    #[error("{0}")]
    Assignor(#[from] gluey_kafka::settings::AssignorError),
}

/// One consumed record of a batch and what it waits for.
struct Item {
    topic: String,
    partition: i32,
    offset: i64,
    handled: Option<Handled>,
}

pub async fn run_normalizer(
    config: NormalizerConfig,
    kafka: &KafkaSettings,
    codec: Arc<Codec>,
    registry: &Registry,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), NormalizerError> {
    // A broken mapping table is a start-up error, not a stream of dead letters.
    gluey_carriers::validate_mappings()?;
    let metrics = NormalizerMetrics::register(registry)?;
    let producer = RecordProducer::new(kafka, config.produce_timeout)?;
    let ownership = PartitionOwnership::default();
    let revocations = ownership.revocations.clone();
    kafka.check_co_partitioning_assignor()?;
    let mut consumer_config = kafka.consumer_config(&config.group_id);
    if kafka.property("partition.assignment.strategy").is_none() {
        consumer_config.set("partition.assignment.strategy", "range");
    }
    let consumer: StreamConsumer<PartitionOwnership> =
        consumer_config.create_with_context(ownership)?;
    // Raw records and registrations of the same partitions (co-partitioned; the range assignor
    // gives one member the same partition numbers of both topics).
    let (raw_topic, shipments_topic) = (config.topics.raw(), config.topics.shipments());
    let repartition_topic = config.topics.repartition();
    consumer.subscribe(&[&raw_topic, &shipments_topic, &repartition_topic])?;
    // Ready once the group has assigned this instance its partitions and every one of them is
    // restored (see `report_readiness`), not merely subscribed.
    health.set_ready(false, "joining the consumer group");
    let max_batch = config.max_batch.max(1);
    let mut n = Normalizer {
        config,
        codec,
        producer,
        kafka: kafka.clone(),
        partitions: HashMap::new(),
        dirty: Default::default(),
        metrics,
    };
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    let mut sweep = tokio::time::interval(n.config.park_sweep_interval);
    'run: loop {
        health.beat();
        let first = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = heartbeat.tick() => {
                // Partitions owned but quiet are restored too, so their parked records and quiet
                // shipments are looked after without waiting for a new record.
                if restore_assigned(&mut n, &revocations, &shutdown, &health).await.is_none() {
                    break;
                }
                report_readiness(&n, &revocations, &health);
                continue;
            }
            _ = sweep.tick() => {
                expire_parked(&mut n).await;
                expire_shipments(&mut n).await;
                continue;
            }
            m = consumer.recv() => m,
        };
        let mut batch = match first {
            Ok(m) => vec![m],
            Err(e) => {
                tracing::warn!(error = %e, "consume error");
                continue;
            }
        };
        while batch.len() < max_batch {
            match consumer.recv().now_or_never() {
                Some(Ok(m)) => batch.push(m),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "consume error");
                    break;
                }
                None => break,
            }
        }
        // Partitions whose outputs were not all accepted: their state is dropped and their
        // input (raw and repartition records of this batch) read again.
        let started = std::time::Instant::now();
        let mut failed: HashSet<i32> = HashSet::new();
        let mut items = Vec::with_capacity(batch.len());
        let mut registrations_seen = false;
        for partition in revocations.take() {
            n.partitions.remove(&partition);
        }
        // Partitions seen for the first time are restored together, before any of their records.
        let mut unrestored: Vec<i32> = batch
            .iter()
            .map(|m| m.partition())
            .filter(|p| !n.partitions.contains_key(p))
            .collect();
        unrestored.sort_unstable();
        unrestored.dedup();
        if !unrestored.is_empty() {
            let restores = futures::future::join_all(
                unrestored
                    .iter()
                    .map(|p| restore_until_done(&n, *p, &shutdown, &health)),
            )
            .await;
            for (partition, state) in unrestored.into_iter().zip(restores) {
                let Some(state) = state else { break 'run };
                n.partitions.insert(partition, state);
            }
            registrations_seen = true; // parked records may be releasable now
            report_readiness(&n, &revocations, &health);
        }
        for message in &batch {
            let partition = message.partition();
            if !n.partitions.contains_key(&partition) {
                // Dropped by a failed release earlier in this batch: restore again.
                let Some(state) = restore_until_done(&n, partition, &shutdown, &health).await
                else {
                    break 'run;
                };
                n.partitions.insert(partition, state);
                registrations_seen = true;
            }
            let topic = message.topic().to_string();
            if topic == shipments_topic {
                n.registration(message).await;
                registrations_seen = true;
                items.push(Item {
                    topic,
                    partition,
                    offset: message.offset(),
                    handled: None,
                });
                continue;
            }
            if failed.contains(&partition) {
                continue; // read again after the rewind
            }
            let result = if topic == repartition_topic {
                match RawRecord::from_forwarded(message) {
                    Some(raw) => n.handle(&raw, false).await,
                    None => {
                        let poison = Poison { stage: "decode", reason: "forwarded record without its gluey-forwarded-from / gluey-owner headers".into() };
                        n.dead_letter(&RawRecord::from_message(message), None, poison)
                            .await
                    }
                }
            } else {
                n.handle(&RawRecord::from_message(message), false).await
            };
            match result {
                Ok(handled) => items.push(Item {
                    topic,
                    partition,
                    offset: message.offset(),
                    handled: Some(handled),
                }),
                Err(Transient(reason)) => {
                    tracing::warn!(partition, offset = message.offset(), %reason, "output not accepted; the partition will be rewound");
                    failed.insert(partition);
                }
            }
        }
        let released = if registrations_seen {
            release_registered(&mut n).await
        } else {
            Vec::new()
        };
        let handled_in = started.elapsed();
        // Wait for every acknowledgement.
        for item in &mut items {
            let Some(handled) = item.handled.as_mut() else {
                continue;
            };
            if failed.contains(&item.partition) {
                continue;
            }
            if let Err(reason) = all_acked(std::mem::take(&mut handled.pending)).await {
                tracing::warn!(partition = item.partition, offset = item.offset, %reason, "output not acknowledged; the partition will be rewound");
                failed.insert(item.partition);
            }
        }
        for (partition, pending, outcome) in released {
            match all_acked(pending).await {
                Ok(()) => n.count(&outcome),
                Err(reason) => {
                    // No input to rewind: the restore rebuilds the parked set and releases again.
                    tracing::warn!(partition, %reason, "release not acknowledged; the partition's state will be rebuilt");
                    n.partitions.remove(&partition);
                }
            }
        }
        // The state of every shipment that changed, for consumers of tracking.state.v1.
        for (partition, ack) in n.write_snapshots().await {
            if let Err(reason) = all_acked(vec![ack]).await {
                tracing::warn!(partition, %reason, "state snapshot not acknowledged; written again at the next change");
            }
        }
        tracing::debug!(records = batch.len(), ?handled_in, acknowledged_in = ?started.elapsed(), "batch done");
        // Commit what is done; rewind what is not.
        for item in &items {
            if item.handled.is_some() && failed.contains(&item.partition) {
                continue;
            }
            if let Some(handled) = &item.handled {
                n.count(&handled.outcome);
            }
            // librdkafka stores `offset + 1` itself: pass the record's own offset.
            if let Err(e) = consumer.store_offset(&item.topic, item.partition, item.offset) {
                tracing::warn!(error = %e, partition = item.partition, offset = item.offset, "cannot store offset");
            }
        }
        for partition in &failed {
            n.partitions.remove(partition);
            for topic in [&raw_topic, &repartition_topic] {
                let Some(from) = batch
                    .iter()
                    .filter(|m| m.topic() == topic.as_str() && m.partition() == *partition)
                    .map(|m| m.offset())
                    .min()
                else {
                    continue;
                };
                if let Err(e) = consumer.seek(
                    topic,
                    *partition,
                    Offset::Offset(from),
                    Duration::from_secs(10),
                ) {
                    tracing::warn!(error = %e, topic, partition, "cannot rewind; the partition's records come again after a restart");
                }
            }
        }
        if !failed.is_empty()
            && pause(&n, "outputs not acknowledged", &shutdown, &health)
                .await
                .is_none()
        {
            break;
        }
    }
    health.set_ready(false, "shutting down");
    tracing::info!("normalizer draining: committing offsets and flushing producer");
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        // NoOffset just means nothing new was stored since the last commit.
        tracing::debug!(error = %e, "final commit");
    }
    let producer = n.producer.clone();
    let _ = tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(10))).await;
    Ok(())
}

async fn all_acked(pending: Vec<PendingAck>) -> Result<(), String> {
    for result in futures::future::join_all(pending.into_iter().map(PendingAck::acked)).await {
        result.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Waits out a Kafka outage before the next attempt; `None` if shutdown came first.
async fn pause(
    n: &Normalizer,
    reason: &str,
    shutdown: &CancellationToken,
    health: &Health,
) -> Option<()> {
    tracing::warn!(%reason, "kafka unavailable; retrying");
    health.beat();
    tokio::select! {
        _ = shutdown.cancelled() => None,
        _ = tokio::time::sleep(n.config.retry_backoff) => Some(()),
    }
}

/// The state of `partition`, rebuilt from the same partition of the output, registry and parked
/// topics; retried while Kafka is unavailable.
async fn restore_until_done(
    n: &Normalizer,
    partition: i32,
    shutdown: &CancellationToken,
    health: &Health,
) -> Option<PartitionState> {
    loop {
        let restore = restore_partition(
            &n.kafka,
            &n.config.topics,
            partition,
            n.codec.clone(),
            Duration::from_secs(120),
        );
        let result = tokio::select! {
            r = restore => r,
            _ = shutdown.cancelled() => return None,
        };
        match result {
            Ok(state) => {
                tracing::info!(
                    partition,
                    records = state.events_read,
                    shipments = state.book.len(),
                    registrations = state.registrations.len(),
                    parked = state.parked.len(),
                    undecodable = state.undecodable,
                    "shipment state restored from output topic"
                );
                return Some(state);
            }
            Err(e) => {
                pause(
                    n,
                    &format!("restoring partition {partition}: {e}"),
                    shutdown,
                    health,
                )
                .await?
            }
        }
    }
}

/// Hands over, in arrival order, the parked records of shipments that have registered, and
/// their resolution markers. Returns what each release waits for.
async fn release_registered(n: &mut Normalizer) -> Vec<(i32, Vec<PendingAck>, Outcome)> {
    let mut ready: Vec<(i32, String)> = Vec::new();
    for (partition, state) in &n.partitions {
        for key in state.parked.keys() {
            if state.registrations.get(&key).is_some() {
                ready.push((*partition, key));
            }
        }
    }
    let mut released = Vec::new();
    'keys: for (partition, key) in ready {
        let parked = n
            .partitions
            .get(&partition)
            .map(|s| s.parked.of(&key))
            .unwrap_or_default();
        for entry in parked {
            let handled = match n.handle(&entry.raw, true).await {
                Ok(h) if matches!(h.outcome, Outcome::Parked { .. }) => continue 'keys, // deregistered meanwhile
                Ok(h) => h,
                Err(Transient(reason)) => {
                    tracing::warn!(partition, %reason, "release not accepted; the partition's state will be rebuilt");
                    n.partitions.remove(&partition);
                    continue 'keys;
                }
            };
            let mut pending = handled.pending;
            match n.resolve_parked(partition, &key, &entry, "released").await {
                Ok(marker) => pending.push(marker),
                Err(Transient(reason)) => {
                    tracing::warn!(partition, %reason, "release marker not accepted; the partition's state will be rebuilt");
                    n.partitions.remove(&partition);
                    continue 'keys;
                }
            }
            tracing::info!(
                shipment_key = key,
                offset = entry.raw.offset,
                "released parked record"
            );
            released.push((partition, pending, handled.outcome));
        }
    }
    released
}

/// Dead-letters parked records older than the park window (and marks them resolved).
async fn expire_parked(n: &mut Normalizer) {
    let now = Utc::now();
    let window = chrono::Duration::from_std(n.config.park_window).unwrap_or(chrono::Duration::MAX);
    let expired: Vec<(i32, String, Parked)> = n
        .partitions
        .iter()
        .flat_map(|(p, s)| {
            s.parked
                .expired(now, window)
                .into_iter()
                .map(move |(k, e)| (*p, k, e))
        })
        .collect();
    for (partition, key, entry) in expired {
        let reason = format!(
            "no shipment registered for {key} within {:?}",
            n.config.park_window
        );
        let envelope = n.codec.decode::<RawEnvelope>(&entry.raw.payload).await.ok();
        let result = async {
            let handled = n
                .dead_letter(
                    &entry.raw,
                    envelope.as_ref(),
                    Poison {
                        stage: "join",
                        reason,
                    },
                )
                .await
                .map_err(|t| t.0)?;
            all_acked(handled.pending).await?;
            let marker = n
                .resolve_parked(partition, &key, &entry, "expired")
                .await
                .map_err(|t| t.0)?;
            all_acked(vec![marker]).await?;
            Ok::<Outcome, String>(handled.outcome)
        }
        .await;
        match result {
            Ok(outcome) => n.count(&outcome),
            Err(reason) => {
                // Rebuilt from the parked topic, the record expires again at the next sweep.
                tracing::warn!(partition, %reason, "expiry not acknowledged; the partition's state will be rebuilt");
                n.partitions.remove(&partition);
            }
        }
    }
}

/// Publishes `shipment.expired` for shipments quiet for longer than `expire_after`.
async fn expire_shipments(n: &mut Normalizer) {
    let now = Utc::now();
    let window = chrono::Duration::from_std(n.config.expire_after).unwrap_or(chrono::Duration::MAX);
    let events_topic = n.config.topics.events();
    let mut due = Vec::new();
    for (partition, state) in &n.partitions {
        for (key, entry) in state.book.entries() {
            let Some(registered) = state.registrations.get(key) else {
                continue;
            };
            let owner = crate::transform::Owner {
                shipment_key: key.clone(),
                customer_id: registered.customer_id.clone(),
                shipment_id: registered.shipment_id.clone(),
            };
            let tracking_number = key.split_once(':').map(|(_, n)| n).unwrap_or(key);
            if let Some(record) = crate::transform::plan_expiry(
                entry,
                &owner,
                &registered.carrier,
                tracking_number,
                &events_topic,
                now,
                window,
            ) {
                due.push((*partition, record));
            }
        }
    }
    for (partition, record) in due {
        let result = async {
            let bytes = n
                .codec
                .encode(&events_topic, &record)
                .await
                .map_err(|e| e.to_string())?;
            let ack = n
                .producer
                .enqueue(
                    &events_topic,
                    Some(record.shipment_key.as_bytes()),
                    &bytes,
                    gluey_kafka::headers::with_traceparent(&record.trace_id),
                )
                .await
                .map_err(|e| e.to_string())?;
            all_acked(vec![ack]).await
        }
        .await;
        match result {
            Ok(()) => {
                tracing::info!(shipment_key = record.shipment_key, "shipment expired");
                n.metrics
                    .published
                    .with_label_values(&[&record.carrier, "shipment_update"])
                    .inc();
                if let Some(state) = n.partitions.get_mut(&partition) {
                    state.book.observe(&record);
                }
            }
            Err(reason) => {
                tracing::warn!(partition, %reason, "expiry not acknowledged; the partition's state will be rebuilt");
                n.partitions.remove(&partition);
            }
        }
    }
}

/// Ready means assigned, restored and consuming: the group has given this instance its partitions
/// (none is an answer too: a spare replica is ready and says so) and each one's state is rebuilt.
fn report_readiness(
    n: &Normalizer,
    revocations: &gluey_kafka::rebalance::Revocations,
    health: &Health,
) {
    if !revocations.joined() {
        health.set_ready(false, "joining the consumer group");
        return;
    }
    let assigned = revocations.assigned();
    let restoring = assigned
        .iter()
        .filter(|p| !n.partitions.contains_key(p))
        .count();
    if assigned.is_empty() {
        health.set_ready(true, "no partitions assigned (a spare instance)");
    } else if restoring > 0 {
        health.set_ready(
            false,
            &format!("restoring {restoring} of {} partitions", assigned.len()),
        );
    } else {
        health.set_ready(true, &format!("consuming {} partitions", assigned.len()));
    }
}

/// Restores every assigned partition that has no state yet, and releases what registered.
async fn restore_assigned(
    n: &mut Normalizer,
    revocations: &gluey_kafka::rebalance::Revocations,
    shutdown: &CancellationToken,
    health: &Health,
) -> Option<()> {
    for partition in revocations.take() {
        n.partitions.remove(&partition);
    }
    let missing: Vec<i32> = revocations
        .assigned()
        .into_iter()
        .filter(|p| !n.partitions.contains_key(p))
        .collect();
    if missing.is_empty() {
        return Some(());
    }
    let restores = futures::future::join_all(
        missing
            .iter()
            .map(|p| restore_until_done(n, *p, shutdown, health)),
    )
    .await;
    for (partition, state) in missing.into_iter().zip(restores) {
        n.partitions.insert(partition, state?);
    }
    for (partition, pending, outcome) in release_registered(n).await {
        match all_acked(pending).await {
            Ok(()) => n.count(&outcome),
            Err(reason) => {
                tracing::warn!(partition, %reason, "release not acknowledged; the partition's state will be rebuilt");
                n.partitions.remove(&partition);
            }
        }
    }
    Some(())
}
