//! Knowing which partitions this instance owns: the consumer context records revocations, so a
//! service drops what it holds for partitions it lost (and starts afresh if it gets
//! them back), and commits stored offsets before a partition goes to another instance.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::ClientContext;

/// Partitions revoked since the pipeline last looked, and the partitions currently assigned.
#[derive(Debug, Clone, Default)]
pub struct Revocations {
    revoked: Arc<Mutex<Vec<i32>>>,
    assigned: Arc<Mutex<BTreeSet<i32>>>,
    /// Whether the group has given this member an assignment yet (possibly an empty one).
    joined: Arc<std::sync::atomic::AtomicBool>,
}

impl Revocations {
    pub fn take(&self) -> Vec<i32> {
        self.revoked
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    /// Whether the consumer group has assigned this member its partitions at least once (an
    /// empty assignment counts: a spare instance has joined too).
    pub fn joined(&self) -> bool {
        self.joined.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Partitions this instance owns now.
    pub fn assigned(&self) -> BTreeSet<i32> {
        self.assigned.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

/// A consumer context that records assignments and revocations (and commits on revoke).
#[derive(Debug, Clone, Default)]
pub struct PartitionOwnership {
    pub revocations: Revocations,
}

impl ClientContext for PartitionOwnership {}

impl ConsumerContext for PartitionOwnership {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(partitions) => {
                // Hand over cleanly: what is done is committed before another instance starts.
                if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
                    tracing::debug!(error = %e, "commit on revoke");
                }
                let lost: Vec<i32> = partitions
                    .elements()
                    .iter()
                    .map(|e| e.partition())
                    .collect();
                tracing::info!(partitions = ?lost, "partitions revoked");
                if let Ok(mut assigned) = self.revocations.assigned.lock() {
                    for p in &lost {
                        assigned.remove(p);
                    }
                }
                if let Ok(mut revoked) = self.revocations.revoked.lock() {
                    revoked.extend(lost);
                }
            }
            Rebalance::Assign(partitions) => {
                let got: Vec<i32> = partitions
                    .elements()
                    .iter()
                    .map(|e| e.partition())
                    .collect();
                tracing::info!(partitions = ?got, "partitions assigned");
                if let Ok(mut assigned) = self.revocations.assigned.lock() {
                    assigned.extend(got);
                }
                self.revocations
                    .joined
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }
}
