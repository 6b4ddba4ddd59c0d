//! Per-route token buckets: a route admits `burst` requests at once and `requests_per_second`
//! sustained; beyond that a push is answered 429 with the time until its next token as
//! `Retry-After`. Buckets are keyed by the route's carrier (a bounded set: configured routes
//! only) and follow config reloads: a changed rate or burst applies from the next request, with
//! the tokens left clamped to the new burst.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::PushLimits;

/// The longest `Retry-After` a throttled push is given.
const MAX_WAIT: Duration = Duration::from_secs(3600);

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    rate: f64,
    burst: f64,
}

#[derive(Debug, Default)]
pub(crate) struct RateLimits {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimits {
    /// Takes a token from `carrier`'s bucket, or says how long until there is one.
    pub(crate) fn admit(
        &self,
        carrier: &str,
        limits: &PushLimits,
        now: Instant,
    ) -> Result<(), Duration> {
        let (rate, burst) = (limits.requests_per_second, f64::from(limits.burst));
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets
            .entry(carrier.to_string())
            .or_insert_with(|| Bucket {
                tokens: burst,
                updated: now,
                rate,
                burst,
            });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * bucket.rate).min(bucket.burst);
        bucket.updated = now.max(bucket.updated);
        if bucket.rate != rate || bucket.burst != burst {
            bucket.rate = rate;
            bucket.burst = burst;
            bucket.tokens = bucket.tokens.min(burst);
        }
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / bucket.rate;
            Err(Duration::try_from_secs_f64(wait)
                .unwrap_or(MAX_WAIT)
                .min(MAX_WAIT))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(requests_per_second: f64, burst: u32) -> PushLimits {
        PushLimits {
            requests_per_second,
            burst,
            ..PushLimits::default()
        }
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let limiter = RateLimits::default();
        let t0 = Instant::now();
        let l = limits(2.0, 3);
        for _ in 0..3 {
            assert_eq!(limiter.admit("ups", &l, t0), Ok(()));
        }
        assert_eq!(
            limiter.admit("ups", &l, t0),
            Err(Duration::from_millis(500))
        );
        // Other routes have their own bucket.
        assert_eq!(limiter.admit("dhl", &l, t0), Ok(()));
        // Half a second later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(limiter.admit("ups", &l, t1), Ok(()));
        assert!(limiter.admit("ups", &l, t1).is_err());
        // A long pause refills to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.admit("ups", &l, t2), Ok(()));
        }
        assert!(limiter.admit("ups", &l, t2).is_err());
    }

    #[test]
    fn a_reload_applies_the_new_limits() {
        let limiter = RateLimits::default();
        let t0 = Instant::now();
        assert_eq!(limiter.admit("fedex", &limits(1.0, 5), t0), Ok(()));
        // Burst cut to 1: the 4 tokens left are clamped to 1.
        assert_eq!(limiter.admit("fedex", &limits(1.0, 1), t0), Ok(()));
        assert!(limiter.admit("fedex", &limits(1.0, 1), t0).is_err());
        // A very slow rate gives a long but bounded wait.
        assert_eq!(limiter.admit("fedex", &limits(1e-12, 1), t0), Err(MAX_WAIT));
    }
}
