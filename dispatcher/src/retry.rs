//! The retry ladder as pure functions: what one attempt's answer means, when the next attempt is
//! due, and which retry topic holds the delivery until then.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::RetryPolicy;

/// The answer to one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 2xx.
    Delivered,
    /// 410 Gone: the customer retired the endpoint.
    Gone,
    Failed(Failure),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Short, for logs, metrics (`outcome`) and the dead letter: `status_500`, `timeout`, …
    pub kind: String,
    pub detail: String,
    /// 429, a timeout, 502 or 504: the endpoint is overloaded; the next attempt waits at least
    /// the throttle floor.
    pub throttled: bool,
    /// The endpoint's `Retry-After`, already scaled.
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub fn new(kind: impl Into<String>, detail: impl Into<String>) -> Failure {
        Failure {
            kind: kind.into(),
            detail: detail.into(),
            throttled: false,
            retry_after: None,
        }
    }
}

/// What an HTTP status means for the delivery (`retry_after` already parsed and scaled).
pub fn classify(status: u16, retry_after: Option<Duration>) -> Answer {
    match status {
        200..=299 => Answer::Delivered,
        410 => Answer::Gone,
        300..=399 => Answer::Failed(Failure {
            retry_after,
            ..Failure::new(
                format!("status_{status}"),
                format!("answered {status}; redirects are not followed"),
            )
        }),
        _ => Answer::Failed(Failure {
            kind: format!("status_{status}"),
            detail: format!("answered {status}"),
            throttled: matches!(status, 429 | 502 | 504),
            retry_after,
        }),
    }
}

/// The longest `Retry-After` taken at its word; the clamp to twice the schedule applies anyway,
/// this only keeps absurd values from overflowing.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(7 * 24 * 3600);

/// `Retry-After` as seconds or an HTTP date, relative to `now`, times `scale` (in (0, 1]).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>, scale: f64) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds.min(RETRY_AFTER_CAP.as_secs())),
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&Utc) - now)
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(RETRY_AFTER_CAP)
        }
    };
    Duration::try_from_secs_f64(wait.as_secs_f64() * scale).ok()
}

/// The pause before the next attempt after `attempts_made` attempts, the last of which failed
/// with `failure`; `None` when the ladder is used up. `jitter` is a sample in [-1, 1].
pub fn next_delay(
    policy: &RetryPolicy,
    attempts_made: u32,
    failure: &Failure,
    jitter: f64,
) -> Option<Duration> {
    let step = policy
        .ladder
        .get(usize::try_from(attempts_made).ok()?.checked_sub(1)?)?;
    let mut scheduled = step.mul_f64(1.0 + policy.jitter * jitter.clamp(-1.0, 1.0));
    if failure.throttled {
        scheduled = scheduled.max(policy.throttle_floor);
    }
    if let Some(asked) = failure.retry_after {
        // Honoured, but never sooner than scheduled nor later than twice that.
        scheduled = asked.clamp(scheduled, scheduled * 2);
    }
    Some(scheduled)
}

/// The retry topic (ladder step, 0-based) for a pause of `delay`: the longest step not longer
/// than it, so each topic's records fall due in about the order they were written.
pub fn retry_step(policy: &RetryPolicy, delay: Duration) -> usize {
    policy
        .ladder
        .iter()
        .rposition(|step| *step <= delay)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(status: u16) -> Failure {
        match classify(status, None) {
            Answer::Failed(f) => f,
            other => panic!("{status} is not a failure: {other:?}"),
        }
    }

    #[test]
    fn the_ladder_is_about_three_days_with_ten_attempts() {
        let policy = RetryPolicy::standard();
        assert_eq!(policy.attempts(), 10);
        let total: Duration = policy.ladder.iter().sum();
        assert_eq!(
            total.as_secs(),
            5 + 300 + 1800 + (2 + 5 + 10 + 14 + 20 + 24) * 3600
        );
        assert!(total > Duration::from_secs(3 * 24 * 3600));
        assert!(total < Duration::from_secs(4 * 24 * 3600));
    }

    #[test]
    fn each_step_is_jittered_by_at_most_twenty_percent() {
        let policy = RetryPolicy::standard();
        let f = failure(500);
        for (n, step) in policy.ladder.iter().enumerate() {
            let attempts = n as u32 + 1;
            assert_eq!(next_delay(&policy, attempts, &f, 0.0), Some(*step));
            assert_eq!(
                next_delay(&policy, attempts, &f, -1.0),
                Some(step.mul_f64(0.8))
            );
            assert_eq!(
                next_delay(&policy, attempts, &f, 1.0),
                Some(step.mul_f64(1.2))
            );
        }
        assert_eq!(
            next_delay(&policy, 10, &f, 0.0),
            None,
            "ten attempts in all"
        );
        assert_eq!(next_delay(&policy, 0, &f, 0.0), None);
    }

    #[test]
    fn overload_answers_wait_at_least_a_minute() {
        let policy = RetryPolicy::standard();
        for status in [429, 502, 504] {
            assert_eq!(
                next_delay(&policy, 1, &failure(status), 0.0),
                Some(Duration::from_secs(60)),
                "{status}"
            );
        }
        let timeout = Failure {
            throttled: true,
            ..Failure::new("timeout", "")
        };
        assert_eq!(
            next_delay(&policy, 1, &timeout, 0.0),
            Some(Duration::from_secs(60))
        );
        // Later steps are longer than the floor already.
        assert_eq!(
            next_delay(&policy, 2, &failure(429), 0.0),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            next_delay(&policy, 1, &failure(500), 0.0),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            next_delay(&policy, 1, &failure(503), 0.0),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn retry_after_is_honoured_between_the_schedule_and_twice_it() {
        let policy = RetryPolicy::standard();
        let asking = |seconds: u64| Failure {
            retry_after: Some(Duration::from_secs(seconds)),
            ..failure(429)
        };
        // Scheduled: 60 s (the floor after a 429).
        assert_eq!(
            next_delay(&policy, 1, &asking(90), 0.0),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            next_delay(&policy, 1, &asking(1), 0.0),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            next_delay(&policy, 1, &asking(3600), 0.0),
            Some(Duration::from_secs(120))
        );
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify(200, None), Answer::Delivered);
        assert_eq!(classify(204, None), Answer::Delivered);
        assert_eq!(classify(410, None), Answer::Gone);
        for status in [301, 302, 307, 308] {
            assert!(!failure(status).throttled);
            assert!(failure(status).detail.contains("not followed"));
        }
        assert!(failure(429).throttled);
        assert!(!failure(500).throttled);
        assert!(!failure(404).throttled);
    }

    #[test]
    fn retry_after_parses_seconds_and_dates_and_scales() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("120", now, 1.0),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("120", now, 0.001),
            Some(Duration::from_millis(120))
        );
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 10:02:00 GMT", now, 1.0),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 09:00:00 GMT", now, 1.0),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now, 1.0), None);
        // An endpoint's absurd value neither panics nor waits for ever.
        assert_eq!(
            parse_retry_after("18446744073709551615", now, 1.0),
            Some(RETRY_AFTER_CAP)
        );
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now, 1.0),
            Some(RETRY_AFTER_CAP)
        );
    }

    #[test]
    fn each_delay_goes_to_the_longest_step_not_longer_than_it() {
        let policy = RetryPolicy::standard();
        assert_eq!(retry_step(&policy, Duration::from_secs(1)), 0);
        assert_eq!(retry_step(&policy, Duration::from_secs(5)), 0);
        assert_eq!(retry_step(&policy, Duration::from_secs(60)), 0);
        assert_eq!(retry_step(&policy, Duration::from_secs(300)), 1);
        assert_eq!(retry_step(&policy, Duration::from_secs(7200)), 3);
        assert_eq!(retry_step(&policy, Duration::from_secs(10 * 24 * 3600)), 8);
    }
}
