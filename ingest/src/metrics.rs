//! Ingest metrics. Labels come from bounded sets only: carrier, outcome, reason.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct IngestMetrics {
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
        let requests = IntCounterVec::new(
            Opts::new(
                "ingest_webhook_requests_total",
                "Carrier push requests by answer",
            ),
            &["carrier", "outcome"],
        )?;
        let rejected = IntCounterVec::new(
            Opts::new(
                "ingest_webhook_rejected_total",
                "Carrier push requests rejected, by reason",
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
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        registry.register(Box::new(produced.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(IngestMetrics {
            requests,
            rejected,
            produced,
            duration,
        })
    }
}
