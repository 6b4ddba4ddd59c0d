//! Normalizer metrics: every raw record ends as published output, a counted duplicate, or a dead
//! letter; the three counts per carrier account for all of them.

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct NormalizerMetrics {
    /// Raw records by outcome (`published`, `duplicate`, `deadletter`).
    pub records: IntCounterVec,
    /// Canonical records published, by carrier and record type.
    pub published: IntCounterVec,
    /// Dead letters by stage.
    pub deadletters: IntCounterVec,
    /// Events whose carrier code has no mapping.
    pub unmapped: IntCounterVec,
    /// Items a parser deliberately skipped (no-status-change codes, per-item errors).
    pub skipped: IntCounterVec,
    /// Pauses before handling a partition again because a dependency (Kafka, the schema
    /// registry) did not answer.
    pub retries: IntCounterVec,
    /// Records read by restores, by kind (`snapshot`, `event`, `registration`, `parked`).
    pub restored: IntCounterVec,
    /// Time to restore one partition.
    pub restore_seconds: Histogram,
    /// Shipments in memory, by form (`live`, `compacted`).
    pub state_shipments: IntGaugeVec,
    /// Their approximate heap bytes, by form.
    pub state_bytes: IntGaugeVec,
}

impl std::fmt::Debug for NormalizerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NormalizerMetrics")
    }
}

impl NormalizerMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<NormalizerMetrics> {
        let records = IntCounterVec::new(
            Opts::new(
                "normalizer_raw_records_total",
                "Raw records processed, by outcome",
            ),
            &["carrier", "outcome"],
        )?;
        let published = IntCounterVec::new(
            Opts::new(
                "normalizer_records_published_total",
                "Canonical records published",
            ),
            &["carrier", "record_type"],
        )?;
        let deadletters = IntCounterVec::new(
            Opts::new(
                "normalizer_deadletters_total",
                "Raw records dead-lettered, by stage",
            ),
            &["carrier", "stage"],
        )?;
        let unmapped = IntCounterVec::new(
            Opts::new(
                "normalizer_unmapped_codes_total",
                "Events whose carrier code is not in the mapping",
            ),
            &["carrier"],
        )?;
        let skipped = IntCounterVec::new(
            Opts::new(
                "normalizer_parser_skipped_total",
                "Payload items that are not canonical records by design",
            ),
            &["carrier"],
        )?;
        let retries = IntCounterVec::new(
            Opts::new(
                "normalizer_retries_total",
                "Back-offs before trying a partition again, by the dependency that did not answer",
            ),
            &["dependency"],
        )?;
        let restored = IntCounterVec::new(
            Opts::new(
                "normalizer_restore_records_total",
                "Records read while restoring partitions, by kind",
            ),
            &["kind"],
        )?;
        let restore_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "normalizer_restore_seconds",
                "Time to restore one partition's state",
            )
            .buckets(vec![
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
            ]),
        )?;
        registry.register(Box::new(restore_seconds.clone()))?;
        let state_shipments = IntGaugeVec::new(
            Opts::new(
                "normalizer_state_shipments",
                "Shipments held in memory, live or compacted",
            ),
            &["form"],
        )?;
        let state_bytes = IntGaugeVec::new(
            Opts::new(
                "normalizer_state_bytes",
                "Approximate heap bytes of the shipments held in memory, live or compacted",
            ),
            &["form"],
        )?;
        registry.register(Box::new(state_shipments.clone()))?;
        registry.register(Box::new(state_bytes.clone()))?;
        for c in [
            &records,
            &published,
            &deadletters,
            &unmapped,
            &skipped,
            &retries,
            &restored,
        ] {
            registry.register(Box::new(c.clone()))?;
        }
        Ok(NormalizerMetrics {
            records,
            published,
            deadletters,
            unmapped,
            skipped,
            retries,
            restored,
            restore_seconds,
            state_shipments,
            state_bytes,
        })
    }
}
