//! What the normalizer does besides handling the records it consumes: releasing parked records
//! once their shipment registers, dead-lettering those that waited too long, publishing
//! `shipment.expired` for quiet shipments, and compacting finished ones. Quiet and finished
//! shipments come from the book's activity index, never from a scan of every shipment.

use std::time::Duration;

use chrono::Utc;
use gluey_contract::RawEnvelope;
use gluey_kafka::PendingAck;

use crate::acks::{all_acked, note_ack_failure};
use crate::parking::Parked;
use crate::work::{Normalizer, Outcome, Poison, Transient};

/// A parked record handed over again once its shipment registered.
pub struct Release {
    partition: i32,
    reference: String,
    pending: Vec<PendingAck>,
    outcome: Outcome,
}

/// Waits for a release's acknowledgements and counts it; if any failed, the partition's state
/// is rebuilt (there is no input to rewind: the restore finds the record parked and releases it
/// again, or dead-letters it if Kafka refused its output).
pub async fn settle_release(
    n: &mut Normalizer,
    release: Release,
    unavailable: &mut Option<Transient>,
) {
    match all_acked(n, release.pending).await {
        Ok(()) => n.count(&release.outcome),
        Err(e) => {
            tracing::warn!(partition = release.partition, reason = %e, "release not acknowledged; the partition's state will be rebuilt");
            n.partitions.remove(&release.partition);
            let letter = matches!(release.outcome, Outcome::DeadLettered { .. });
            note_ack_failure(n, &release.reference, letter, e, unavailable);
        }
    }
}

/// Reads the payloads of `entries` back from the parked topic (the index keeps none). An entry
/// whose copy is no longer on the topic keeps an empty payload and is reported in the answer.
async fn read_back(
    n: &Normalizer,
    partition: i32,
    entries: &mut [Parked],
) -> Result<Vec<i64>, String> {
    let offsets: Vec<i64> = entries.iter().map(|e| e.parked_offset).collect();
    let (kafka, topic) = (n.kafka.clone(), n.config.topics.parked());
    let found = tokio::task::spawn_blocking(move || {
        gluey_kafka::read_offsets(&kafka, &topic, partition, &offsets, Duration::from_secs(30))
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let mut missing = Vec::new();
    for entry in entries.iter_mut() {
        match found.get(&entry.parked_offset) {
            Some(payload) => entry.raw.payload = payload.clone(),
            None => missing.push(entry.parked_offset),
        }
    }
    Ok(missing)
}

/// Why a parked record without its copy on the parked topic is dead-lettered.
fn copy_gone(n: &Normalizer, partition: i32, entry: &Parked) -> Poison {
    Poison {
        stage: "join",
        reason: format!(
            "the parked copy at {}/{partition}/{} is no longer on the topic (its retention is shorter than the park window?)",
            n.config.topics.parked(),
            entry.parked_offset
        ),
    }
}

/// Hands over, in arrival order, the parked records of shipments that have registered, and
/// their resolution markers. Returns what each release waits for.
pub async fn release_registered(n: &mut Normalizer) -> Vec<Release> {
    let mut ready: Vec<(i32, String)> = Vec::new();
    for (partition, state) in &n.partitions {
        for key in state.parked.keys() {
            if state.registrations.get(&key).is_some() {
                ready.push((*partition, key));
            }
        }
    }
    // One read-back per partition, for every key ready there.
    let mut by_partition: std::collections::BTreeMap<i32, Vec<(String, Vec<Parked>)>> =
        Default::default();
    for (partition, key) in ready {
        let parked = n
            .partitions
            .get(&partition)
            .map(|s| s.parked.of(&key))
            .unwrap_or_default();
        by_partition
            .entry(partition)
            .or_default()
            .push((key, parked));
    }
    let mut released = Vec::new();
    for (partition, mut keys) in by_partition {
        let mut all: Vec<Parked> = keys.iter().flat_map(|(_, p)| p.clone()).collect();
        let missing = match read_back(n, partition, &mut all).await {
            Ok(missing) => missing,
            Err(reason) => {
                tracing::warn!(partition, %reason, "parked records not read back; the partition's state will be rebuilt");
                n.partitions.remove(&partition);
                continue;
            }
        };
        let payloads: std::collections::HashMap<i64, Vec<u8>> = all
            .into_iter()
            .map(|p| (p.parked_offset, p.raw.payload))
            .collect();
        for (_, parked) in keys.iter_mut() {
            for entry in parked.iter_mut() {
                if let Some(payload) = payloads.get(&entry.parked_offset) {
                    entry.raw.payload = payload.clone();
                }
            }
        }
        released.extend(release_keys(n, partition, keys, &missing).await);
    }
    released
}

/// Releases the parked records of `keys` (their payloads read back), in arrival order.
async fn release_keys(
    n: &mut Normalizer,
    partition: i32,
    keys: Vec<(String, Vec<Parked>)>,
    missing: &[i64],
) -> Vec<Release> {
    let mut released = Vec::new();
    'keys: for (key, parked) in keys {
        if !n.partitions.contains_key(&partition) {
            break; // dropped by a failure above: the restore releases the rest
        }
        for entry in parked {
            let result = if missing.contains(&entry.parked_offset) {
                let poison = copy_gone(n, partition, &entry);
                n.dead_letter(&entry.raw, None, poison).await
            } else {
                n.handle(&entry.raw, true).await
            };
            let handled = match result {
                Ok(h) if matches!(h.outcome, Outcome::Parked { .. }) => continue 'keys, // deregistered meanwhile
                Ok(h) => h,
                Err(reason) => {
                    tracing::warn!(partition, %reason, "release not accepted; the partition's state will be rebuilt");
                    n.partitions.remove(&partition);
                    continue 'keys;
                }
            };
            let mut pending = handled.pending;
            match n.resolve_parked(partition, &key, &entry, "released").await {
                Ok(marker) => pending.push(marker),
                Err(reason) => {
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
            released.push(Release {
                partition,
                reference: entry.raw.reference(),
                pending,
                outcome: handled.outcome,
            });
        }
    }
    released
}

/// Dead-letters parked records older than the park window (and marks them resolved).
pub async fn expire_parked(n: &mut Normalizer) {
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
    for (partition, key, mut entry) in expired {
        let missing = match read_back(n, partition, std::slice::from_mut(&mut entry)).await {
            Ok(missing) => !missing.is_empty(),
            Err(reason) => {
                tracing::warn!(partition, %reason, "parked record not read back; it expires at the next sweep");
                continue;
            }
        };
        let reason = if missing {
            copy_gone(n, partition, &entry).reason
        } else {
            format!(
                "no shipment registered for {key} within {:?}",
                n.config.park_window
            )
        };
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
                .map_err(|t| t.reason)?;
            all_acked(&mut *n, handled.pending)
                .await
                .map_err(|e| e.to_string())?;
            let marker = n
                .resolve_parked(partition, &key, &entry, "expired")
                .await
                .map_err(|t| t.reason)?;
            all_acked(&mut *n, vec![marker])
                .await
                .map_err(|e| e.to_string())?;
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

/// Compacts finished shipments quiet for longer than `compact_after` (their snapshots follow),
/// and sets the state size gauges.
pub fn compact_finished(n: &mut Normalizer) {
    let grace = chrono::Duration::from_std(n.config.compact_after).unwrap_or(chrono::Duration::MAX);
    let since = Utc::now() - grace;
    for (partition, state) in n.partitions.iter_mut() {
        for key in state.book.compact_finished(since) {
            n.dirty.insert((*partition, key));
        }
    }
    report_state_size(n);
}

/// Sets `normalizer_state_shipments` and `normalizer_state_bytes` (one pass over the books: at
/// each sweep and after a restore, not per record).
pub fn report_state_size(n: &Normalizer) {
    let mut size = crate::shipment_book::BookSize::default();
    for state in n.partitions.values() {
        let s = state.book.size();
        size.live += s.live;
        size.compacted += s.compacted;
        size.live_bytes += s.live_bytes;
        size.compacted_bytes += s.compacted_bytes;
    }
    let m = &n.metrics;
    for (form, shipments, bytes) in [
        ("live", size.live, size.live_bytes),
        ("compacted", size.compacted, size.compacted_bytes),
    ] {
        m.state_shipments
            .with_label_values(&[form])
            .set(shipments as i64);
        m.state_bytes.with_label_values(&[form]).set(bytes as i64);
    }
}

/// Publishes `shipment.expired` for shipments quiet for longer than `expire_after`.
pub async fn expire_shipments(n: &mut Normalizer) {
    let now = Utc::now();
    let window = chrono::Duration::from_std(n.config.expire_after).unwrap_or(chrono::Duration::MAX);
    let events_topic = n.config.topics.events();
    let mut due = Vec::new();
    for (partition, state) in &n.partitions {
        // Only shipments quiet for the window, from the activity index.
        for key in state.book.quiet_live(now - window) {
            let (Some(entry), Some(registered)) =
                (state.book.get(&key), state.registrations.get(&key))
            else {
                continue;
            };
            let key = &key;
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
            all_acked(&mut *n, vec![ack])
                .await
                .map_err(|e| e.to_string())
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
                    n.dirty.insert((partition, record.shipment_key.clone()));
                }
            }
            Err(reason) => {
                tracing::warn!(partition, %reason, "expiry not acknowledged; the partition's state will be rebuilt");
                n.partitions.remove(&partition);
            }
        }
    }
}
