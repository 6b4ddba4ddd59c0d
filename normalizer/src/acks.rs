//! Waiting for Kafka's acknowledgements, and what a failed one means: an outage is waited out, a
//! refusal dead-letters the raw record when it is read again. Acknowledged events move their
//! partition's coverage (`restore::Coverage`); snapshots are settled here too.

use gluey_kafka::{PendingAck, ProduceError};

use crate::work::{Normalizer, Transient};

/// Waits for every acknowledgement; the first failure, with the topic it was for. Where an
/// events record landed moves its partition's `events_end` (see `restore::Coverage`).
pub async fn all_acked(n: &mut Normalizer, pending: Vec<PendingAck>) -> Result<(), AckFailure> {
    let topics: Vec<String> = pending.iter().map(|p| p.topic().to_string()).collect();
    let results = futures::future::join_all(pending.into_iter().map(PendingAck::acked)).await;
    let events = n.config.topics.events();
    let mut failure = None;
    for (topic, result) in topics.into_iter().zip(results) {
        match result {
            Ok(acked) if topic == events => {
                if let Some(state) = n.partitions.get_mut(&acked.partition) {
                    let end = &mut state.coverage.events_end;
                    *end = (*end).max(acked.offset + 1);
                }
            }
            Ok(_) => {}
            Err(error) => {
                failure.get_or_insert(AckFailure { topic, error });
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Snapshots of what changed, written and acknowledged; the coverage moves on where they all
/// were (see `snapshots`).
pub async fn settle_snapshots(n: &mut Normalizer) {
    for mut batch in n.write_snapshots().await {
        let pending = std::mem::take(&mut batch.pending);
        let acknowledged = match all_acked(n, pending).await {
            Ok(()) => true,
            Err(reason) => {
                tracing::warn!(partition = batch.partition, %reason, "state snapshot not acknowledged; written again with the next batch");
                false
            }
        };
        n.snapshots_settled(&batch, acknowledged);
    }
}

/// An output Kafka did not acknowledge.
#[derive(Debug)]
pub struct AckFailure {
    topic: String,
    error: ProduceError,
}

impl std::fmt::Display for AckFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.topic, self.error)
    }
}

/// An output of the raw record `reference` was not acknowledged: a refusal (too large for its
/// topic, not authorised) is remembered so the record is dead-lettered when read again after the
/// rewind, or, when what was refused is its dead letter (`letter`), so the letter is written
/// again in parts and awaited; an outage is waited out.
pub fn note_ack_failure(
    n: &mut Normalizer,
    reference: &str,
    letter: bool,
    e: AckFailure,
    unavailable: &mut Option<Transient>,
) {
    if e.error.is_retryable() {
        *unavailable = Some(Transient::kafka(e));
    } else if reference.is_empty() {
        tracing::warn!(reason = %e, "a refused output without a raw record to dead-letter");
    } else if letter {
        n.letters_refused.insert(reference.to_string());
    } else {
        n.refused
            .entry(reference.to_string())
            .or_insert_with(|| e.to_string());
    }
}
