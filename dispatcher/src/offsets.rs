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

/// Reports one input record finished when the last clone is dropped, unless some holder
/// abandoned it (shutdown in the middle): then the record stays unfinished and is read again.
#[derive(Debug, Clone)]
pub struct Completion {
    inner: Arc<CompletionInner>,
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
        }
    }

    pub fn abandon(&self) {
        self.inner.abandoned.store(true, Ordering::SeqCst);
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
    fn completion_reports_once_when_every_holder_is_done_unless_abandoned() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let c = Completion::new("a", 1, 9, tx.clone());
        let c2 = c.clone();
        drop(c);
        assert!(rx.try_recv().is_err());
        drop(c2);
        assert_eq!(rx.try_recv().unwrap(), ("a".to_string(), 1, 9));
        let abandoned = Completion::new("a", 1, 10, tx);
        abandoned.clone().abandon();
        drop(abandoned);
        assert!(rx.try_recv().is_err());
    }
}
