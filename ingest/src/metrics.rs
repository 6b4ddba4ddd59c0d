//! Ingest metrics. Labels come from bounded sets only: carrier (a configured route's, never a
//! path segment the sender chose), outcome, reason.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct IngestMetrics {
    pub received: IntCounterVec,
    pub requests: IntCounterVec,
    pub rejected: IntCounterVec,
    pub produced: IntCounterVec,
    pub duration: HistogramVec,
}

impl std::fmt::Debug for IngestMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IngestMetrics")
    }
}

impl IngestMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<IngestMetrics> {
        let received = IntCounterVec::new(
            Opts::new(
                "ingest_webhook_received_total",
                "Carrier push requests received on a known route, before any check",
            ),
            &["carrier"],
        )?;
        let requests = IntCounterVec::new(
            Opts::new(
                "ingest_webhook_requests_total",
                "Carrier push requests by answer (accepted, duplicate, rejected, throttled, unavailable, failed)",
            ),
            &["carrier", "outcome"],
        )?;
        let rejected = IntCounterVec::new(
            Opts::new(
                "ingest_webhook_rejected_total",
                "Carrier push requests not accepted, by reason",
            ),
            &["carrier", "reason"],
        )?;
        let produced = IntCounterVec::new(
            Opts::new(
                "ingest_records_produced_total",
                "Raw records acknowledged by Kafka",
            ),
            &["carrier", "route"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "ingest_webhook_request_duration_seconds",
                "Time to answer a carrier push",
            ),
            &["carrier"],
        )?;
        registry.register(Box::new(received.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        registry.register(Box::new(produced.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(IngestMetrics {
            received,
            requests,
            rejected,
            produced,
            duration,
        })
    }

    /// Counts one answered push.
    pub fn answered(&self, carrier: &str, outcome: &str, reason: Option<&str>, took: Duration) {
        self.requests.with_label_values(&[carrier, outcome]).inc();
        if let Some(reason) = reason {
            self.rejected.with_label_values(&[carrier, reason]).inc();
        }
        self.duration
            .with_label_values(&[carrier])
            .observe(took.as_secs_f64());
    }
}
