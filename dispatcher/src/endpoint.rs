//! What the dispatcher keeps per endpoint while it runs: concurrency slots, a rate limiter, a
//! circuit breaker, and whether the endpoint is disabled. Deliveries that an endpoint cannot take
//! now are handed to the retry path without an attempt, so a slow or dead endpoint never holds
//! up anyone else's deliveries.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{EndpointConfig, RetryPolicy};

/// Why a delivery was not attempted now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// The circuit breaker is open: the endpoint has been failing.
    Breaker,
    RateLimit,
    /// Every concurrency slot stayed busy for the slot wait.
    Concurrency,
}

impl Held {
    pub fn label(self) -> &'static str {
        match self {
            Held::Breaker => "breaker_open",
            Held::RateLimit => "rate_limit",
            Held::Concurrency => "concurrency",
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Breaker {
    consecutive_failures: u32,
    /// Open until then; after it, one probe at a time is let through.
    open_until: Option<Instant>,
    cooldown: Duration,
    probing: bool,
    /// Since when every attempt has failed (wall clock: compared with deliveries' first
    /// attempts, which survive restarts).
    failing_since: Option<DateTime<Utc>>,
    last_success: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

#[derive(Debug)]
pub struct EndpointRuntime {
    pub config: EndpointConfig,
    slots: Arc<Semaphore>,
    breaker: Mutex<Breaker>,
    bucket: Mutex<Bucket>,
    disabled: Mutex<Option<String>>,
}

/// Permission to attempt now: a concurrency slot, and whether this attempt is the breaker's probe.
#[derive(Debug)]
pub struct Admission {
    _slot: OwnedSemaphorePermit,
    pub probe: bool,
}

/// What the breaker made of an attempt's failure.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterFailure {
    Continue,
    /// Failing without a success for longer than the policy allows: disable the endpoint.
    Disable,
}

impl EndpointRuntime {
    pub fn new(config: EndpointConfig) -> EndpointRuntime {
        EndpointRuntime {
            slots: Arc::new(Semaphore::new(config.max_concurrency)),
            config,
            breaker: Mutex::new(Breaker::default()),
            bucket: Mutex::new(Bucket {
                tokens: 1.0,
                refilled: Instant::now(),
            }),
            disabled: Mutex::new(None),
        }
    }

    /// The runtime of an endpoint whose configuration was reloaded without changing where or
    /// how fast it is delivered to: slots, breaker and disabled state carry over.
    pub fn rebuilt(old: &EndpointRuntime, config: EndpointConfig) -> EndpointRuntime {
        EndpointRuntime {
            slots: old.slots.clone(),
            breaker: Mutex::new(lock(&old.breaker).clone()),
            bucket: Mutex::new(Bucket {
                tokens: 1.0,
                refilled: Instant::now(),
            }),
            disabled: Mutex::new(old.disabled()),
            config,
        }
    }

    pub fn id(&self) -> &str {
        &self.config.id
    }

    pub fn disabled(&self) -> Option<String> {
        lock(&self.disabled).clone()
    }

    pub fn set_disabled(&self, reason: Option<String>) {
        let enabling = reason.is_none();
        let was = std::mem::replace(&mut *lock(&self.disabled), reason);
        if enabling && was.is_some() {
            // Re-enabled by an operator: start with a clean breaker.
            *lock(&self.breaker) = Breaker::default();
        }
    }

    /// Waits (at most `policy.slot_wait`) for permission to attempt now, or says until when the
    /// delivery should wait instead.
    pub async fn admit(&self, policy: &RetryPolicy) -> Result<Admission, (Held, Duration)> {
        let probe = self.breaker_admits(policy)?;
        let release_probe = |runtime: &EndpointRuntime| {
            if probe {
                lock(&runtime.breaker).probing = false;
            }
        };
        if let Err(wait) = self.take_token(policy) {
            release_probe(self);
            return Err((Held::RateLimit, wait));
        }
        match tokio::time::timeout(policy.slot_wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => Ok(Admission { _slot: slot, probe }),
            _ => {
                release_probe(self);
                Err((Held::Concurrency, policy.slot_wait))
            }
        }
    }

    /// `Ok(probe)` when the breaker lets an attempt through.
    fn breaker_admits(&self, policy: &RetryPolicy) -> Result<bool, (Held, Duration)> {
        let mut b = lock(&self.breaker);
        let Some(open_until) = b.open_until else {
            return Ok(false);
        };
        let now = Instant::now();
        if now < open_until {
            return Err((Held::Breaker, open_until - now));
        }
        if b.probing {
            // Someone is probing; ask again after about one cool-down.
            return Err((Held::Breaker, b.cooldown.max(policy.slot_wait)));
        }
        b.probing = true;
        Ok(true)
    }

    fn take_token(&self, policy: &RetryPolicy) -> Result<(), Duration> {
        let Some(rate) = self.config.rate_limit else {
            return Ok(());
        };
        let burst = rate.max(1.0);
        let mut bucket = lock(&self.bucket);
        let now = Instant::now();
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / rate);
        Err(wait.max(policy.slot_wait.min(Duration::from_millis(100))))
    }

    pub fn succeeded(&self) {
        let mut b = lock(&self.breaker);
        *b = Breaker {
            last_success: Some(Utc::now()),
            ..Breaker::default()
        };
    }

    /// Records a failed attempt of a delivery first attempted at `first_attempt_at`.
    pub fn failed(
        &self,
        policy: &RetryPolicy,
        probe: bool,
        first_attempt_at: DateTime<Utc>,
    ) -> AfterFailure {
        let now = Utc::now();
        let mut b = lock(&self.breaker);
        b.consecutive_failures += 1;
        let mut since = b.failing_since.unwrap_or(now);
        if b.last_success.is_none_or(|s| s < first_attempt_at) {
            // This delivery has been failing since its first attempt (also across restarts).
            since = since.min(first_attempt_at);
        }
        b.failing_since = Some(since);
        if probe || b.consecutive_failures >= policy.breaker_threshold {
            b.cooldown = if probe {
                (b.cooldown * 2).min(policy.breaker_max_cooldown)
            } else if b.cooldown.is_zero() {
                policy.breaker_cooldown
            } else {
                b.cooldown
            };
            b.open_until = Some(Instant::now() + b.cooldown);
            b.probing = false;
        }
        let failing_for = (now - since).to_std().unwrap_or(Duration::ZERO);
        if failing_for >= policy.disable_after {
            AfterFailure::Disable
        } else {
            AfterFailure::Continue
        }
    }

    pub fn breaker_open(&self) -> bool {
        lock(&self.breaker).open_until.is_some()
    }
}

/// A poisoned lock only means another task panicked while holding it; the state is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FilterSection;
    use crate::signing::WebhookSigner;

    fn runtime(max_concurrency: usize, rate_limit: Option<f64>) -> EndpointRuntime {
        EndpointRuntime::new(EndpointConfig {
            id: "e".into(),
            customer_id: "c".into(),
            url: url::Url::parse("https://example.com/").unwrap(),
            signer: WebhookSigner::new(Vec::new()),
            filter: FilterSection::default(),
            max_concurrency,
            rate_limit,
        })
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            slot_wait: Duration::from_millis(20),
            breaker_cooldown: Duration::from_millis(200),
            breaker_max_cooldown: Duration::from_secs(1),
            ..RetryPolicy::standard()
        }
    }

    #[tokio::test]
    async fn the_breaker_opens_after_the_threshold_and_lets_one_probe_through() {
        let (r, p) = (runtime(4, None), policy());
        let first = Utc::now();
        for _ in 0..p.breaker_threshold - 1 {
            assert_eq!(r.failed(&p, false, first), AfterFailure::Continue);
        }
        assert!(r.admit(&p).await.is_ok(), "below the threshold");
        r.failed(&p, false, first);
        let (held, wait) = r.admit(&p).await.unwrap_err();
        assert_eq!(held, Held::Breaker);
        assert!(wait <= p.breaker_cooldown);
        tokio::time::sleep(wait).await;
        let probe = r.admit(&p).await.unwrap();
        assert!(probe.probe);
        assert_eq!(
            r.admit(&p).await.unwrap_err().0,
            Held::Breaker,
            "one probe at a time"
        );
        r.succeeded();
        drop(probe);
        assert!(!r.admit(&p).await.unwrap().probe, "closed again");
    }

    #[tokio::test]
    async fn a_failed_probe_doubles_the_cooldown() {
        let (r, p) = (runtime(4, None), policy());
        for _ in 0..p.breaker_threshold {
            r.failed(&p, false, Utc::now());
        }
        let wait = r.admit(&p).await.unwrap_err().1;
        tokio::time::sleep(wait).await;
        let probe = r.admit(&p).await.unwrap();
        r.failed(&p, probe.probe, Utc::now());
        let (held, wait) = r.admit(&p).await.unwrap_err();
        assert_eq!(held, Held::Breaker);
        assert!(wait > p.breaker_cooldown, "{wait:?}");
    }

    #[tokio::test]
    async fn a_busy_endpoint_holds_deliveries_after_the_slot_wait() {
        let (r, p) = (runtime(1, None), policy());
        let slot = r.admit(&p).await.unwrap();
        assert_eq!(r.admit(&p).await.unwrap_err().0, Held::Concurrency);
        drop(slot);
        assert!(r.admit(&p).await.is_ok());
    }

    #[tokio::test]
    async fn the_rate_limit_holds_deliveries_beyond_it() {
        let (r, p) = (runtime(8, Some(2.0)), policy());
        let _a = r.admit(&p).await.unwrap();
        let _b = r.admit(&p).await.unwrap_err();
        assert_eq!(_b.0, Held::RateLimit);
    }

    #[test]
    fn failing_since_a_delivery_first_attempt_long_ago_disables() {
        let (r, p) = (runtime(1, None), policy());
        let long_ago = Utc::now() - chrono::Duration::days(6);
        assert_eq!(r.failed(&p, false, long_ago), AfterFailure::Disable);
        let fresh = runtime(1, None);
        assert_eq!(fresh.failed(&p, false, Utc::now()), AfterFailure::Continue);
        // A success after the delivery's first attempt: it is not the endpoint that fails.
        let recovering = runtime(1, None);
        recovering.succeeded();
        assert_eq!(
            recovering.failed(&p, false, Utc::now() - chrono::Duration::days(6)),
            AfterFailure::Continue
        );
    }
}
