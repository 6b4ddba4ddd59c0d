//! Webhook delivery metrics (labels: customer ids are bounded by the config file; outcome).

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct DispatchMetrics {
    pub attempts: IntCounterVec,
    pub delivered: IntCounterVec,
    pub skipped: IntCounterVec,
    pub duration: HistogramVec,
}

impl std::fmt::Debug for DispatchMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DispatchMetrics")
    }
}

impl DispatchMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<DispatchMetrics> {
        let attempts = IntCounterVec::new(
            Opts::new(
                "dispatch_webhook_attempts_total",
                "Delivery attempts by outcome",
            ),
            &["customer", "outcome"],
        )?;
        let delivered = IntCounterVec::new(
            Opts::new(
                "dispatch_webhook_delivered_total",
                "Records delivered (2xx)",
            ),
            &["customer"],
        )?;
        let skipped = IntCounterVec::new(
            Opts::new(
                "dispatch_webhook_skipped_total",
                "Records not delivered by design, by reason",
            ),
            &["reason"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "dispatch_webhook_attempt_duration_seconds",
                "Time of one attempt",
            ),
            &["customer"],
        )?;
        registry.register(Box::new(attempts.clone()))?;
        registry.register(Box::new(delivered.clone()))?;
        registry.register(Box::new(skipped.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(DispatchMetrics {
            attempts,
            delivered,
            skipped,
            duration,
        })
    }
}
