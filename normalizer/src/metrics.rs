//! Normalizer metrics: every raw record ends as published output, a counted duplicate, or a dead
//! letter; the three counts per carrier account for all of them.

use prometheus::{IntCounterVec, Opts, Registry};

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
        for c in [
            &records,
            &published,
            &deadletters,
            &unmapped,
            &skipped,
            &retries,
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
        })
    }
}
