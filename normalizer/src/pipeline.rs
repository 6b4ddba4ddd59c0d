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

use futures::FutureExt;
use gluey_contract::Codec;
use gluey_kafka::{KafkaSettings, RecordProducer};
use gluey_ops::{Backoff, Health};
use prometheus::Registry;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Message, Offset};
use tokio_util::sync::CancellationToken;

use crate::acks::{all_acked, note_ack_failure, settle_snapshots};
use crate::config::NormalizerConfig;
use crate::metrics::NormalizerMetrics;
use crate::parking::RawRecord;
use crate::restore::{restore_partition, PartitionState, RestoreError};
use crate::upkeep::{
    compact_finished, expire_parked, expire_shipments, release_registered, settle_release,
};
use crate::work::{Dependency, Handled, Normalizer, Outcome, Poison, Transient};
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
    #[error(
        "--park-window ({window}) must be shorter than the retention of {topic} ({retention}): \
         parked records are read back from it when released or expired"
    )]
    ParkWindow {
        window: String,
        topic: String,
        retention: String,
    },
}

/// One consumed record of a batch and what it waits for.
struct Item {
    topic: String,
    partition: i32,
    offset: i64,
    /// The raw record it stands for (`topic/partition/offset`; for a forwarded record, the
    /// original), where a refusal of its outputs is remembered.
    reference: String,
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
    if let Some(retention) = gluey_contract::topics::PARKED.retention {
        if config.park_window >= retention {
            return Err(NormalizerError::ParkWindow {
                window: gluey_ops::duration::format_duration(config.park_window),
                topic: config.topics.parked(),
                retention: gluey_ops::duration::format_duration(retention),
            });
        }
    }
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
        refused: HashMap::new(),
        letters_refused: HashSet::new(),
    };
    let mut backoff = Backoff::new(n.config.retry_backoff, Duration::from_secs(30));
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    let mut sweep = tokio::time::interval(n.config.park_sweep_interval);
    'run: loop {
        health.beat();
        let first = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = heartbeat.tick() => {
                // Partitions owned but quiet are restored too, so their parked records and quiet
                // shipments are looked after without waiting for a new record.
                if restore_assigned(&mut n, &revocations, &mut backoff, &shutdown, &health).await.is_none() {
                    break;
                }
                settle_snapshots(&mut n).await;
                report_readiness(&n, &revocations, &health);
                continue;
            }
            _ = sweep.tick() => {
                expire_parked(&mut n).await;
                expire_shipments(&mut n).await;
                compact_finished(&mut n);
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
        // What did not answer, when a partition failed for want of a dependency.
        let mut unavailable: Option<Transient> = None;
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
                    .map(|p| restore_until_done(&n, *p, &backoff, &shutdown, &health)),
            )
            .await;
            for (partition, state) in unrestored.into_iter().zip(restores) {
                let Some(state) = state else { break 'run };
                install(&mut n, partition, state);
            }
            registrations_seen = true; // parked records may be releasable now
            report_readiness(&n, &revocations, &health);
        }
        for message in &batch {
            let partition = message.partition();
            if !n.partitions.contains_key(&partition) {
                // Dropped by a failed release earlier in this batch: restore again.
                let Some(state) =
                    restore_until_done(&n, partition, &backoff, &shutdown, &health).await
                else {
                    break 'run;
                };
                install(&mut n, partition, state);
                registrations_seen = true;
            }
            let topic = message.topic().to_string();
            if failed.contains(&partition) {
                continue; // read again after the rewind
            }
            if topic == shipments_topic {
                if let Err(t) = n.registration(message).await {
                    tracing::warn!(partition, offset = message.offset(), reason = %t, "registration not readable yet; the partition will be rewound");
                    failed.insert(partition);
                    unavailable = Some(t);
                    continue;
                }
                registrations_seen = true;
                items.push(Item {
                    topic,
                    partition,
                    offset: message.offset(),
                    reference: String::new(),
                    handled: None,
                });
                continue;
            }
            let forwarded = if topic == repartition_topic {
                RawRecord::from_forwarded(message)
            } else {
                None
            };
            let (raw, result) = match forwarded {
                Some(raw) => {
                    let result = n.handle(&raw, false).await;
                    (raw, result)
                }
                None if topic == repartition_topic => {
                    let raw = RawRecord::from_message(message);
                    let poison = Poison { stage: "decode", reason: "forwarded record without its gluey-forwarded-from / gluey-owner headers".into() };
                    let result = n.dead_letter(&raw, None, poison).await;
                    (raw, result)
                }
                None => {
                    let raw = RawRecord::from_message(message);
                    let result = n.handle(&raw, false).await;
                    (raw, result)
                }
            };
            match result {
                Ok(handled) => items.push(Item {
                    topic,
                    partition,
                    offset: message.offset(),
                    reference: raw.reference(),
                    handled: Some(handled),
                }),
                Err(t) => {
                    tracing::warn!(partition, offset = message.offset(), reason = %t, "output not accepted; the partition will be rewound");
                    failed.insert(partition);
                    unavailable = Some(t);
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
            if let Err(e) = all_acked(&mut n, std::mem::take(&mut handled.pending)).await {
                tracing::warn!(partition = item.partition, offset = item.offset, reason = %e, "output not acknowledged; the partition will be rewound");
                failed.insert(item.partition);
                let letter = matches!(handled.outcome, Outcome::DeadLettered { .. });
                note_ack_failure(&mut n, &item.reference, letter, e, &mut unavailable);
            }
        }
        for release in released {
            settle_release(&mut n, release, &mut unavailable).await;
        }
        // The state of every shipment that changed, for consumers of tracking.state.v1 and the
        // next restore; never from a partition whose outputs were not all acknowledged.
        for partition in &failed {
            n.partitions.remove(partition);
        }
        settle_snapshots(&mut n).await;
        tracing::debug!(records = batch.len(), ?handled_in, acknowledged_in = ?started.elapsed(), "batch done");
        // Commit what is done; rewind what is not.
        for item in &items {
            if failed.contains(&item.partition) {
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
            for topic in [&raw_topic, &repartition_topic, &shipments_topic] {
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
        match unavailable {
            Some(t)
                if pause(&n, &t, &mut backoff, &shutdown, &health)
                    .await
                    .is_none() =>
            {
                break
            }
            Some(_) => {}
            None if failed.is_empty() => {
                backoff.reset();
                health.set_waiting_on(None);
            }
            // Refused outputs: their records are dead-lettered when read again, at once.
            None => {}
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

/// Takes a restored partition: shipments the restore rebuilt from the events topic get their
/// snapshot written again before the coverage moves past them.
fn install(n: &mut Normalizer, partition: i32, mut state: PartitionState) {
    for key in std::mem::take(&mut state.stale_snapshots) {
        n.dirty.insert((partition, key));
    }
    let read = state.read;
    for (kind, count) in [
        ("snapshot", read.snapshots),
        ("event", read.events),
        ("registration", read.registrations),
        ("parked", read.parked),
    ] {
        n.metrics.restored.with_label_values(&[kind]).inc_by(count);
    }
    n.partitions.insert(partition, state);
    crate::upkeep::report_state_size(n);
}

/// Waits out an unavailable dependency before the next attempt, with back-off, counted in
/// `normalizer_retries_total` and shown by `/readyz`; `None` if shutdown came first.
async fn pause(
    n: &Normalizer,
    why: &Transient,
    backoff: &mut Backoff,
    shutdown: &CancellationToken,
    health: &Health,
) -> Option<()> {
    let dependency = why.dependency.label();
    let wait = backoff.pause();
    tracing::warn!(dependency, reason = %why, ?wait, "dependency unavailable; retrying");
    n.metrics.retries.with_label_values(&[dependency]).inc();
    health.set_waiting_on(Some(&format!(
        "waiting for {}: {why}",
        match why.dependency {
            Dependency::Kafka => "Kafka",
            Dependency::SchemaRegistry => "the schema registry",
        }
    )));
    health.beat();
    tokio::select! {
        _ = shutdown.cancelled() => None,
        _ = tokio::time::sleep(wait) => Some(()),
    }
}

/// The state of `partition`, rebuilt from the same partition of the output, registry and parked
/// topics; retried while Kafka is unavailable.
async fn restore_until_done(
    n: &Normalizer,
    partition: i32,
    backoff: &Backoff,
    shutdown: &CancellationToken,
    health: &Health,
) -> Option<PartitionState> {
    // Each partition restoring at once waits on its own copy of the back-off.
    let mut backoff = backoff.clone();
    loop {
        // A fence: whatever this instance handed to the producer before (outputs of a batch
        // whose partition failed later in it, say) is acknowledged or failed before the output
        // topic is read, so the restore sees it and nothing is published twice.
        let producer = n.producer.clone();
        let fence = n.config.produce_timeout + Duration::from_secs(5);
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || producer.flush(fence)).await {
            let why = Transient::kafka(format!(
                "outputs in flight not settled before restoring partition {partition}: {e}"
            ));
            pause(n, &why, &mut backoff, shutdown, health).await?;
            continue;
        }
        let started = std::time::Instant::now();
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
                health.set_waiting_on(None);
                n.metrics
                    .restore_seconds
                    .observe(started.elapsed().as_secs_f64());
                tracing::info!(
                    partition,
                    snapshots = state.read.snapshots,
                    events = state.read.events,
                    events_from = state.coverage.covered_to,
                    shipments = state.book.len(),
                    registrations = state.registrations.len(),
                    parked = state.parked.len(),
                    undecodable = state.undecodable,
                    "shipment state restored from its snapshots and the events after them"
                );
                return Some(state);
            }
            Err(e) => {
                let why = Transient {
                    dependency: e.dependency(),
                    reason: format!("restoring partition {partition}: {e}"),
                };
                pause(n, &why, &mut backoff, shutdown, health).await?
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
    backoff: &mut Backoff,
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
            .map(|p| restore_until_done(n, *p, backoff, shutdown, health)),
    )
    .await;
    for (partition, state) in missing.into_iter().zip(restores) {
        install(n, partition, state?);
    }
    let mut unavailable = None;
    for release in release_registered(n).await {
        settle_release(n, release, &mut unavailable).await;
    }
    match unavailable {
        Some(why) => pause(n, &why, backoff, shutdown, health).await,
        None => Some(()),
    }
}
