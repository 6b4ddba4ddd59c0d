//! Input records finish out of order (one endpoint answers in 5 ms, another times out after
//! 15 s), but a consumer group can only store one offset per partition. The tracker stores, per
//! partition, the offset below which every record is finished, so a restart re-reads (and
//! redelivers, with the same `webhook-id`) only what was not done.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

type TopicPartition = (String, i32);

#[derive(Debug, Default)]
struct Partition {
    pending: BTreeSet<i64>,
    /// Highest offset seen.
    highest: Option<i64>,
    /// Last offset stored (every record up to it is finished).
    stored: Option<i64>,
}

#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<TopicPartition, Partition>,
}

impl OffsetTracker {
    /// A record was read and its work started.
    pub fn begin(&mut self, topic: &str, partition: i32, offset: i64) {
        let p = self
            .partitions
            .entry((topic.to_string(), partition))
            .or_default();
        if p.highest.is_some_and(|h| offset <= h) {
            // The partition was rewound (reassigned after a rebalance): start over from here.
            *p = Partition::default();
        }
        p.pending.insert(offset);
        p.highest = Some(offset);
    }

    pub fn finish(&mut self, topic: &str, partition: i32, offset: i64) {
        if let Some(p) = self.partitions.get_mut(&(topic.to_string(), partition)) {
            p.pending.remove(&offset);
        }
    }

    /// The partition was revoked: nothing of it is stored from here on.
    pub fn forget(&mut self, topic: &str, partition: i32) {
        self.partitions.remove(&(topic.to_string(), partition));
    }

    /// Records begun and not finished.
    pub fn in_flight(&self) -> usize {
        self.partitions.values().map(|p| p.pending.len()).sum()
    }

    /// `(topic, partition, offset)` to store where the finished prefix grew since last time.
    pub fn advanced(&mut self) -> Vec<(String, i32, i64)> {
        let mut out = Vec::new();
        for ((topic, partition), p) in &mut self.partitions {
            let done_up_to = match (p.pending.first(), p.highest) {
                (Some(first), _) => first - 1,
                (None, Some(highest)) => highest,
                (None, None) => continue,
            };
            if done_up_to >= 0 && p.stored.is_none_or(|s| done_up_to > s) {
                p.stored = Some(done_up_to);
                out.push((topic.clone(), *partition, done_up_to));
            }
        }
        out
    }
}

/// One holder's share of an input record's work. The record counts as finished when every
/// holder (each clone) has called [`Completion::settle`]; a holder dropped without settling
/// (shutdown in the middle, a panic, a read-ahead record let go) leaves it unfinished, so its
/// offset is never stored and it is read again.
#[derive(Debug)]
pub struct Completion {
    inner: Arc<CompletionInner>,
    settled: bool,
}

#[derive(Debug)]
struct CompletionInner {
    topic: String,
    partition: i32,
    offset: i64,
    abandoned: AtomicBool,
    finished: mpsc::UnboundedSender<(String, i32, i64)>,
}

impl Completion {
    pub fn new(
        topic: &str,
        partition: i32,
        offset: i64,
        finished: mpsc::UnboundedSender<(String, i32, i64)>,
    ) -> Completion {
        Completion {
            inner: Arc::new(CompletionInner {
                topic: topic.to_string(),
                partition,
                offset,
                abandoned: AtomicBool::new(false),
                finished,
            }),
            settled: false,
        }
    }

    /// This holder's work is durably done.
    pub fn settle(mut self) {
        self.settled = true;
    }
}

impl Clone for Completion {
    /// Another holder, which must settle too.
    fn clone(&self) -> Completion {
        Completion {
            inner: self.inner.clone(),
            settled: false,
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if !self.settled {
            self.inner.abandoned.store(true, Ordering::SeqCst);
        }
    }
}

impl Drop for CompletionInner {
    fn drop(&mut self) {
        if !self.abandoned.load(Ordering::SeqCst) {
            // The lane may be gone already at shutdown; then nothing more is stored anyway.
            let _ =
                self.finished
                    .send((std::mem::take(&mut self.topic), self.partition, self.offset));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_finished_prefix_is_stored() {
        let mut t = OffsetTracker::default();
        for offset in 0..5 {
            t.begin("a", 0, offset);
        }
        t.finish("a", 0, 1);
        t.finish("a", 0, 2);
        assert_eq!(t.advanced(), vec![], "offset 0 is still in flight");
        t.finish("a", 0, 0);
        assert_eq!(t.advanced(), vec![("a".to_string(), 0, 2)]);
        assert_eq!(t.advanced(), vec![], "nothing new");
        t.finish("a", 0, 4);
        assert_eq!(t.advanced(), vec![]);
        t.finish("a", 0, 3);
        assert_eq!(t.advanced(), vec![("a".to_string(), 0, 4)]);
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn a_rewound_partition_starts_over() {
        let mut t = OffsetTracker::default();
        t.begin("a", 0, 7);
        t.begin("a", 0, 8);
        t.begin("a", 0, 3);
        assert_eq!(t.in_flight(), 1);
        t.finish("a", 0, 3);
        assert_eq!(t.advanced(), vec![("a".to_string(), 0, 3)]);
    }

    #[test]
    fn completion_reports_once_when_every_holder_settled_and_never_otherwise() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let c = Completion::new("a", 1, 9, tx.clone());
        let c2 = c.clone();
        c.settle();
        assert!(rx.try_recv().is_err(), "one holder still working");
        c2.settle();
        assert_eq!(rx.try_recv().unwrap(), ("a".to_string(), 1, 9));
        // A holder dropped without settling (shutdown, a panic): the record stays unfinished.
        let dropped = Completion::new("a", 1, 10, tx.clone());
        let other = dropped.clone();
        drop(dropped);
        other.settle();
        assert!(rx.try_recv().is_err());
        let panicked = Completion::new("a", 1, 11, tx);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _holder = panicked;
            panic!("a delivery task panics");
        }));
        assert!(result.is_err());
        assert!(rx.try_recv().is_err(), "a panic never counts as finished");
    }
}
