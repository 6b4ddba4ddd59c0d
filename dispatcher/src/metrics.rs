//! Webhook delivery metrics. Labels are bounded by the config file (customer and endpoint ids),
//! by the ladder (step), or by fixed sets (outcome, reason).

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct DispatchMetrics {
    pub attempts: IntCounterVec,
    pub delivered: IntCounterVec,
    pub skipped: IntCounterVec,
    pub duration: HistogramVec,
    /// Deliveries not attempted now (breaker, rate limit, concurrency), handed to the retry path
    /// without using an attempt.
    pub held: IntCounterVec,
    /// Deliveries written to a retry topic, by ladder step.
    pub scheduled: IntCounterVec,
    pub deadlettered: IntCounterVec,
    pub endpoint_disabled: IntGaugeVec,
    pub breaker_open: IntGaugeVec,
    /// Input records being delivered or handed over, per lane (`main`, `retry.<n>`).
    pub in_flight: IntGaugeVec,
    /// Input records whose decoding waits on a dependency (the schema registry), per attempt.
    pub input_retries: IntCounterVec,
}

impl std::fmt::Debug for DispatchMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DispatchMetrics")
    }
}

impl DispatchMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<DispatchMetrics> {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(g.clone()))?;
            Ok::<_, prometheus::Error>(g)
        };
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "dispatch_webhook_attempt_duration_seconds",
                "Time of one attempt",
            ),
            &["customer", "endpoint"],
        )?;
        registry.register(Box::new(duration.clone()))?;
        Ok(DispatchMetrics {
            attempts: counter(
                "dispatch_webhook_attempts_total",
                "Delivery attempts by outcome (delivered, gone, status_<code>, timeout, connection, blocked)",
                &["customer", "endpoint", "outcome"],
            )?,
            delivered: counter(
                "dispatch_webhook_delivered_total",
                "Deliveries answered 2xx",
                &["customer", "endpoint"],
            )?,
            skipped: counter(
                "dispatch_webhook_skipped_total",
                "Records not delivered by design, by reason",
                &["reason"],
            )?,
            duration,
            held: counter(
                "dispatch_webhook_held_total",
                "Deliveries handed to the retry path without an attempt, by reason",
                &["endpoint", "reason"],
            )?,
            scheduled: counter(
                "dispatch_webhook_retries_scheduled_total",
                "Deliveries written to a retry topic, by ladder step",
                &["endpoint", "step"],
            )?,
            deadlettered: counter(
                "dispatch_webhook_deadlettered_total",
                "Deliveries dead-lettered per endpoint, by reason",
                &["endpoint", "reason"],
            )?,
            endpoint_disabled: gauge(
                "dispatch_webhook_endpoint_disabled",
                "1 while an endpoint is disabled (410, or failing for days)",
                &["endpoint"],
            )?,
            breaker_open: gauge(
                "dispatch_webhook_breaker_open",
                "1 while an endpoint's circuit breaker is open",
                &["endpoint"],
            )?,
            in_flight: gauge(
                "dispatch_webhook_in_flight",
                "Input records being delivered or handed over, per lane",
                &["lane"],
            )?,
            input_retries: counter(
                "dispatch_webhook_input_retries_total",
                "Decodes of an input record retried because a dependency did not answer, by dependency",
                &["dependency"],
            )?,
        })
    }
}
