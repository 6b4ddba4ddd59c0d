//! Settings of `gluey normalize`.

use std::time::Duration;

use gluey_contract::TopicNames;

#[derive(Debug, Clone)]
pub struct NormalizerConfig {
    pub topics: TopicNames,
    pub group_id: String,
    /// How long a produced record may wait for Kafka's ack before the attempt is retried.
    pub produce_timeout: Duration,
    /// Pause between attempts while Kafka is unavailable.
    pub retry_backoff: Duration,
    /// How long a record may wait for its shipment to register before it is dead-lettered.
    pub park_window: Duration,
    /// How often parked records and quiet shipments are checked.
    pub park_sweep_interval: Duration,
    /// A shipment with no new scan for this long, and not delivered or returned, is published as
    /// expired.
    pub expire_after: Duration,
    /// A finished shipment (delivered, returned, expired) quiet for this long keeps only hashes
    /// of its record ids.
    pub compact_after: Duration,
    /// Records handled before waiting for their acknowledgements together.
    pub max_batch: usize,
}
