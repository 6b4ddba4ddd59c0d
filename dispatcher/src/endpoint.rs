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

#[derive(Debug, Default)]
struct Breaker {
    consecutive_failures: u32,
    /// Open until then; after it, one probe at a time is let through.
    open_until: Option<Instant>,
    cooldown: Duration,
    probing: bool,
    /// Since when every attempt this process made has failed.
    failing_since: Option<DateTime<Utc>>,
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
    /// Shared with the runtime a reload replaces, so an attempt in flight across a reload
    /// reports to the same breaker.
    breaker: Arc<Mutex<Breaker>>,
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
            breaker: Arc::new(Mutex::new(Breaker::default())),
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
            breaker: old.breaker.clone(),
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
        *b = Breaker::default();
    }

    /// Records a failed attempt (`probe`: the one the open breaker let through).
    pub fn failed(&self, policy: &RetryPolicy, probe: bool) -> AfterFailure {
        let now = Utc::now();
        let mut b = lock(&self.breaker);
        b.consecutive_failures += 1;
        // Counted from the first failure this process saw without a success since: a restart
        // starts the count again rather than risk disabling an endpoint that succeeded meanwhile.
        let since = *b.failing_since.get_or_insert(now);
        if probe {
            b.probing = false;
            b.cooldown = (b.cooldown * 2)
                .max(policy.breaker_cooldown)
                .min(policy.breaker_max_cooldown);
            b.open_until = Some(Instant::now() + b.cooldown);
        } else if b.consecutive_failures >= policy.breaker_threshold && b.open_until.is_none() {
            b.cooldown = policy.breaker_cooldown;
            b.open_until = Some(Instant::now() + b.cooldown);
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
        for _ in 0..p.breaker_threshold - 1 {
            assert_eq!(r.failed(&p, false), AfterFailure::Continue);
        }
        assert!(r.admit(&p).await.is_ok(), "below the threshold");
        r.failed(&p, false);
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
            r.failed(&p, false);
        }
        let wait = r.admit(&p).await.unwrap_err().1;
        tokio::time::sleep(wait).await;
        let probe = r.admit(&p).await.unwrap();
        // An attempt admitted before the breaker opened fails meanwhile: the probe stays the
        // only one.
        r.failed(&p, false);
        assert_eq!(r.admit(&p).await.unwrap_err().0, Held::Breaker);
        r.failed(&p, probe.probe);
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
    fn failing_without_a_success_for_the_window_disables() {
        let p = RetryPolicy {
            disable_after: Duration::from_millis(30),
            ..policy()
        };
        let r = runtime(1, None);
        assert_eq!(r.failed(&p, false), AfterFailure::Continue);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(r.failed(&p, false), AfterFailure::Disable);
        // A success in between starts the window again.
        let recovering = runtime(1, None);
        recovering.failed(&p, false);
        std::thread::sleep(Duration::from_millis(40));
        recovering.succeeded();
        assert_eq!(recovering.failed(&p, false), AfterFailure::Continue);
    }

    #[tokio::test]
    async fn a_reload_during_a_probe_keeps_one_breaker() {
        let (old, p) = (runtime(4, None), policy());
        for _ in 0..p.breaker_threshold {
            old.failed(&p, false);
        }
        tokio::time::sleep(old.admit(&p).await.unwrap_err().1).await;
        let probe = old.admit(&p).await.unwrap();
        let reloaded = EndpointRuntime::rebuilt(&old, old.config.clone());
        // The probe's answer reaches the breaker the new runtime uses.
        old.succeeded();
        drop(probe);
        assert!(
            !reloaded.admit(&p).await.unwrap().probe,
            "closed for the new runtime too"
        );
    }
}
