//! The `webhook-id`s a route has accepted, so that a sender's retry of a delivery we already
//! stored is answered 2xx without producing it again. Invariants:
//! - one delivery id is produced by at most one request at a time: a request that finds the id
//!   in flight waits for that request's outcome, then either answers "already accepted" or, if it
//!   failed, tries itself;
//! - an id is remembered only once Kafka acknowledged its records, so a delivery answered 503 is
//!   produced when retried;
//! - memory is bounded: an accepted id is kept for its retention (twice the timestamp tolerance:
//!   a replay of it is refused as stale after that) and at most `capacity` ids are kept, the
//!   oldest forgotten first.
//!
//! The cache is per process: with several ingest replicas a retry that reaches another replica
//! is produced again, and the normalizer's event-id dedupe absorbs it.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// (route carrier, webhook-id)
type Key = (String, String);

#[derive(Debug)]
enum Entry {
    /// A request holds the claim; waiters watch for it to be dropped.
    InFlight(watch::Receiver<()>),
    Accepted {
        expires: Instant,
    },
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// Accepted ids in the order they were accepted, with their expiry.
    accepted: VecDeque<(Instant, Key)>,
}

impl State {
    /// Removes the oldest accepted id still present; false when there is none.
    fn forget_oldest(&mut self) -> bool {
        while let Some((expires, key)) = self.accepted.pop_front() {
            if self.remove_accepted(&key, expires) {
                return true;
            }
        }
        false
    }

    fn forget_expired(&mut self, now: Instant) {
        while let Some((expires, _)) = self.accepted.front() {
            if *expires > now {
                break;
            }
            if let Some((expires, key)) = self.accepted.pop_front() {
                self.remove_accepted(&key, expires);
            }
        }
    }

    /// Removes `key` if it is the acceptance queued with `expires` (not a later one of it).
    fn remove_accepted(&mut self, key: &Key, expires: Instant) -> bool {
        let current =
            matches!(self.entries.get(key), Some(Entry::Accepted { expires: e }) if *e == expires);
        if current {
            self.entries.remove(key);
        }
        current
    }
}

#[derive(Debug, Default)]
pub(crate) struct DeliveryIds {
    state: Mutex<State>,
}

/// What a request may do with its delivery id.
#[derive(Debug)]
pub(crate) enum Claim {
    /// Produce it; report the outcome through the guard.
    Won(ClaimGuard),
    /// Already accepted: answer 2xx, produce nothing.
    Duplicate,
    /// `capacity` ids are in flight at once; nothing can be forgotten to make room.
    Full,
}

enum TryClaim {
    Done(Claim),
    Busy(watch::Receiver<()>),
}

impl DeliveryIds {
    /// Claims `id` for `carrier`, waiting while another request holds it.
    pub(crate) async fn claim(self: &Arc<Self>, carrier: &str, id: &str, capacity: usize) -> Claim {
        let key = (carrier.to_string(), id.to_string());
        loop {
            match self.try_claim(&key, capacity, Instant::now()) {
                TryClaim::Done(claim) => return claim,
                // Err means the holder is gone (accepted or released): look again.
                TryClaim::Busy(mut holder) => {
                    let _ = holder.changed().await;
                }
            }
        }
    }

    fn try_claim(self: &Arc<Self>, key: &Key, capacity: usize, now: Instant) -> TryClaim {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.forget_expired(now);
        let full = state.entries.len() >= capacity.max(1);
        let waiting = match state.entries.get(key) {
            Some(Entry::Accepted { expires }) if *expires > now => {
                return TryClaim::Done(Claim::Duplicate)
            }
            Some(Entry::InFlight(holder)) => Some(holder.clone()),
            _ => None,
        };
        if let Some(holder) = waiting {
            return TryClaim::Busy(holder);
        }
        if full && !state.entries.contains_key(key) && !state.forget_oldest() {
            return TryClaim::Done(Claim::Full);
        }
        let (sender, receiver) = watch::channel(());
        state.entries.insert(key.clone(), Entry::InFlight(receiver));
        TryClaim::Done(Claim::Won(ClaimGuard {
            ids: self.clone(),
            key: key.clone(),
            accepted: false,
            _holder: sender,
        }))
    }
}

/// Held while a request produces its delivery. Dropped without `accepted` (failure, 503, the
/// client went away), it releases the id so the next attempt produces.
#[derive(Debug)]
pub(crate) struct ClaimGuard {
    ids: Arc<DeliveryIds>,
    key: Key,
    accepted: bool,
    /// Dropped after `drop` ran, which wakes the waiters.
    _holder: watch::Sender<()>,
}

impl ClaimGuard {
    /// Kafka acknowledged the delivery: remember it for `retention`.
    pub(crate) fn accepted(mut self, retention: Duration, now: Instant) {
        let expires = now + retention;
        let mut state = self
            .ids
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state
            .entries
            .insert(self.key.clone(), Entry::Accepted { expires });
        state.accepted.push_back((expires, self.key.clone()));
        self.accepted = true;
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if self.accepted {
            return;
        }
        let mut state = self
            .ids
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let MapEntry::Occupied(entry) = state.entries.entry(self.key.clone()) {
            if matches!(entry.get(), Entry::InFlight(_)) {
                entry.remove();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    const RETENTION: Duration = Duration::from_secs(600);

    fn key(id: &str) -> Key {
        ("direct".to_string(), id.to_string())
    }

    fn won(t: TryClaim) -> ClaimGuard {
        match t {
            TryClaim::Done(Claim::Won(guard)) => guard,
            other => panic!("expected to win the claim, got {}", describe(&other)),
        }
    }

    fn describe(t: &TryClaim) -> &'static str {
        match t {
            TryClaim::Done(Claim::Won(_)) => "won",
            TryClaim::Done(Claim::Duplicate) => "duplicate",
            TryClaim::Done(Claim::Full) => "full",
            TryClaim::Busy(_) => "busy",
        }
    }

    #[test]
    fn accepted_ids_are_duplicates_until_they_expire() {
        let ids = Arc::new(DeliveryIds::default());
        let t0 = Instant::now();
        won(ids.try_claim(&key("a"), 10, t0)).accepted(RETENTION, t0);
        let later = t0 + RETENTION - Duration::from_secs(1);
        assert_eq!(describe(&ids.try_claim(&key("a"), 10, later)), "duplicate");
        // Another route's id of the same name is its own.
        let other = ("ups".to_string(), "a".to_string());
        assert_eq!(describe(&ids.try_claim(&other, 10, later)), "won");
        let expired = t0 + RETENTION;
        won(ids.try_claim(&key("a"), 10, expired));
    }

    #[test]
    fn a_failed_attempt_releases_the_id() {
        let ids = Arc::new(DeliveryIds::default());
        let t0 = Instant::now();
        let first = won(ids.try_claim(&key("a"), 10, t0));
        assert_eq!(describe(&ids.try_claim(&key("a"), 10, t0)), "busy");
        drop(first);
        won(ids.try_claim(&key("a"), 10, t0)).accepted(RETENTION, t0);
        assert_eq!(describe(&ids.try_claim(&key("a"), 10, t0)), "duplicate");
    }

    #[test]
    fn capacity_forgets_the_oldest_accepted_and_never_an_id_in_flight() {
        let ids = Arc::new(DeliveryIds::default());
        let t0 = Instant::now();
        for (i, id) in ["a", "b"].into_iter().enumerate() {
            let at = t0 + Duration::from_secs(i as u64);
            won(ids.try_claim(&key(id), 2, at)).accepted(RETENTION, at);
        }
        let _c = won(ids.try_claim(&key("c"), 2, t0));
        // "a" made room for "c"; "b" is still known.
        assert_eq!(describe(&ids.try_claim(&key("b"), 2, t0)), "duplicate");
        // "b" makes room for "d"; then two ids in flight fill it and nothing can be forgotten.
        let _d = won(ids.try_claim(&key("d"), 2, t0));
        assert_eq!(describe(&ids.try_claim(&key("e"), 2, t0)), "full");
        assert_eq!(describe(&ids.try_claim(&key("b"), 2, t0)), "full");
        assert_eq!(ids.state.lock().unwrap().entries.len(), 2);
    }

    #[tokio::test]
    async fn a_concurrent_claim_waits_for_the_outcome() {
        let ids = Arc::new(DeliveryIds::default());
        let first = match ids.claim("direct", "a", 10).await {
            Claim::Won(guard) => guard,
            other => panic!("{other:?}"),
        };
        let mut second = Box::pin(ids.claim("direct", "a", 10));
        assert!(
            (&mut second).now_or_never().is_none(),
            "waits while in flight"
        );
        first.accepted(RETENTION, Instant::now());
        assert!(matches!(second.await, Claim::Duplicate));

        // A failed holder hands the claim to the waiter.
        let first = match ids.claim("direct", "b", 10).await {
            Claim::Won(guard) => guard,
            other => panic!("{other:?}"),
        };
        let mut second = Box::pin(ids.claim("direct", "b", 10));
        assert!((&mut second).now_or_never().is_none());
        drop(first);
        assert!(matches!(second.await, Claim::Won(_)));
    }
}
