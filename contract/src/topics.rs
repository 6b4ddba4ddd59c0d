//! Every topic of the pipeline, declared once. `gluey topics create`, the test broker and the
//! topic catalogue (`docs/topics.md`) all read this table.
//!
//! Raw, events, shipments and state are co-partitioned: same key (the shipment key), same
//! partition count, so the owner of a partition holds everything it needs for its shipments.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupPolicy {
    Delete,
    Compact,
}

impl CleanupPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
        }
    }
}

/// One topic's declaration.
#[derive(Debug, Clone, Copy)]
pub struct TopicSpec {
    /// Name without the deployment prefix, e.g. `tracking.raw.v1`.
    pub name: &'static str,
    /// Whether it shares the shipment-key partitioning (and so the partition count).
    pub co_partitioned: bool,
    pub cleanup: CleanupPolicy,
    /// `retention.ms`; `None` keeps records forever (compacted topics).
    pub retention: Option<Duration>,
    /// `segment.ms` where the broker's default (7 days) would leave too much uncompacted: the
    /// cleaner never touches the active segment.
    pub segment: Option<Duration>,
    pub key: &'static str,
    pub value: &'static str,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

pub const RAW: TopicSpec = TopicSpec {
    name: "tracking.raw.v1",
    co_partitioned: true,
    cleanup: CleanupPolicy::Delete,
    retention: Some(Duration::from_secs(30 * 24 * 3600)),
    segment: None,
    key: "shipment key when the route can tell, else the source",
    value: "RawEnvelope (schemas/raw_envelope.avsc)",
};

pub const EVENTS: TopicSpec = TopicSpec {
    name: "tracking.events.v1",
    co_partitioned: true,
    cleanup: CleanupPolicy::Delete,
    retention: Some(Duration::from_secs(365 * 24 * 3600)),
    segment: None,
    key: "shipment key",
    value: "CanonicalRecord (schemas/canonical_record.avsc)",
};

pub const SHIPMENTS: TopicSpec = TopicSpec {
    name: "tracking.shipments.v1",
    co_partitioned: true,
    cleanup: CleanupPolicy::Compact,
    retention: None,
    segment: None,
    key: "shipment key (or carrier:alias for alias records)",
    value: "Shipment (schemas/shipment.avsc); tombstone = deregistered",
};

pub const STATE: TopicSpec = TopicSpec {
    name: "tracking.state.v1",
    co_partitioned: true,
    cleanup: CleanupPolicy::Compact,
    retention: None,
    // A restore reads every snapshot not yet compacted away: roll hourly so the cleaner
    // keeps that to about an hour of changes.
    segment: Some(Duration::from_secs(3600)),
    key: "shipment key",
    value: "ShipmentState (schemas/shipment_state.avsc)",
};

pub const DEADLETTER: TopicSpec = TopicSpec {
    name: "tracking.deadletter.v1",
    co_partitioned: false,
    cleanup: CleanupPolicy::Delete,
    retention: Some(Duration::from_secs(90 * 24 * 3600)),
    segment: None,
    key: "the input record's key",
    value: "DeadLetter (schemas/dead_letter.avsc)",
};

pub const PARKED: TopicSpec = TopicSpec {
    name: "normalizer.parked.v1",
    co_partitioned: true,
    cleanup: CleanupPolicy::Delete,
    retention: Some(Duration::from_secs(30 * 24 * 3600)),
    segment: None,
    key: "shipment key",
    value: "the raw record's value, byte for byte (headers: gluey-parked-from, gluey-parked-at); markers: empty value with gluey-resolves / gluey-resolution",
};

pub const REPARTITION: TopicSpec = TopicSpec {
    name: "normalizer.repartition.v1",
    co_partitioned: true,
    cleanup: CleanupPolicy::Delete,
    retention: Some(Duration::from_secs(7 * 24 * 3600)),
    segment: None,
    key: "the owner's shipment key",
    value: "the raw record's value, byte for byte (headers: gluey-forwarded-from, gluey-owner)",
};

macro_rules! webhook_retry_topic {
    ($step:literal, $delay:literal) => {
        TopicSpec {
            name: concat!("delivery.webhook.retry.", $step, ".v1"),
            co_partitioned: false,
            cleanup: CleanupPolicy::Delete,
            retention: Some(Duration::from_secs(7 * 24 * 3600)),
            segment: None,
            key: "endpoint id",
            value: concat!(
                "webhook deliveries waiting ",
                $delay,
                " (nominal) for their next attempt: the canonical record's bytes as on tracking.events.v1 (headers: gluey-endpoint, gluey-attempt, gluey-due-at, gluey-first-attempt-at, gluey-last-error)"
            ),
        }
    };
}

/// The webhook dispatcher's retry path: one topic per step of the ladder, so the records of a
/// topic fall due in about the order they were written.
pub const WEBHOOK_RETRIES: [TopicSpec; 9] = [
    webhook_retry_topic!("1", "5 s"),
    webhook_retry_topic!("2", "5 min"),
    webhook_retry_topic!("3", "30 min"),
    webhook_retry_topic!("4", "2 h"),
    webhook_retry_topic!("5", "5 h"),
    webhook_retry_topic!("6", "10 h"),
    webhook_retry_topic!("7", "14 h"),
    webhook_retry_topic!("8", "20 h"),
    webhook_retry_topic!("9", "24 h"),
];

pub const WEBHOOK_DEADLETTER: TopicSpec = TopicSpec {
    name: "delivery.webhook.deadletter.v1",
    co_partitioned: false,
    cleanup: CleanupPolicy::Delete,
    retention: Some(Duration::from_secs(90 * 24 * 3600)),
    segment: None,
    key: "endpoint id",
    value: "webhook deliveries that used every attempt or whose endpoint is disabled: the canonical record's bytes (headers: gluey-endpoint, gluey-attempt, gluey-reason, gluey-last-error)",
};

pub const WEBHOOK_ENDPOINTS: TopicSpec = TopicSpec {
    name: "delivery.webhook.endpoints.v1",
    co_partitioned: false,
    cleanup: CleanupPolicy::Compact,
    retention: None,
    segment: None,
    key: "endpoint id",
    value: "JSON {state: enabled|disabled, reason, at}: endpoints disabled by a 410 or by days of failures, and re-enabled by an operator",
};

pub const PUSH_SUBSCRIPTIONS: TopicSpec = TopicSpec {
    name: "ingest.webhook.subscriptions.v1",
    co_partitioned: true,
    cleanup: CleanupPolicy::Compact,
    retention: None,
    segment: None,
    key: "carrier:tracking_number subscribed (carrier:account:<id> for an account)",
    value: "PushSubscription (schemas/push_subscription.avsc)",
};

/// Every topic, in the order the catalogue lists them.
pub const TOPICS: &[TopicSpec] = &[
    RAW,
    EVENTS,
    SHIPMENTS,
    STATE,
    DEADLETTER,
    PARKED,
    REPARTITION,
    WEBHOOK_RETRIES[0],
    WEBHOOK_RETRIES[1],
    WEBHOOK_RETRIES[2],
    WEBHOOK_RETRIES[3],
    WEBHOOK_RETRIES[4],
    WEBHOOK_RETRIES[5],
    WEBHOOK_RETRIES[6],
    WEBHOOK_RETRIES[7],
    WEBHOOK_RETRIES[8],
    WEBHOOK_DEADLETTER,
    WEBHOOK_ENDPOINTS,
    PUSH_SUBSCRIPTIONS,
];

/// Partitions of the topics that are not co-partitioned.
pub const SIDE_TOPIC_PARTITIONS: i32 = 3;

impl TopicSpec {
    pub fn partitions(&self, shipment_partitions: i32) -> i32 {
        if self.co_partitioned {
            shipment_partitions
        } else {
            SIDE_TOPIC_PARTITIONS.min(shipment_partitions)
        }
    }

    pub fn retention_days(&self) -> Option<u64> {
        self.retention.map(|r| r.as_secs() / DAY.as_secs())
    }
}

/// Topic names as one deployment (or one test) sees them: every name carries the same prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicNames {
    prefix: String,
}

impl TopicNames {
    pub fn new(prefix: impl Into<String>) -> TopicNames {
        TopicNames {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn name(&self, spec: &TopicSpec) -> String {
        format!("{}{}", self.prefix, spec.name)
    }

    pub fn raw(&self) -> String {
        self.name(&RAW)
    }

    pub fn events(&self) -> String {
        self.name(&EVENTS)
    }

    pub fn shipments(&self) -> String {
        self.name(&SHIPMENTS)
    }

    pub fn state(&self) -> String {
        self.name(&STATE)
    }

    pub fn deadletter(&self) -> String {
        self.name(&DEADLETTER)
    }

    pub fn parked(&self) -> String {
        self.name(&PARKED)
    }

    /// The retry topic of ladder step `step` (0-based).
    pub fn webhook_retry(&self, step: usize) -> String {
        self.name(&WEBHOOK_RETRIES[step.min(WEBHOOK_RETRIES.len() - 1)])
    }
    pub fn webhook_deadletter(&self) -> String {
        self.name(&WEBHOOK_DEADLETTER)
    }
    pub fn webhook_endpoints(&self) -> String {
        self.name(&WEBHOOK_ENDPOINTS)
    }
    pub fn repartition(&self) -> String {
        self.name(&REPARTITION)
    }

    pub fn push_subscriptions(&self) -> String {
        self.name(&PUSH_SUBSCRIPTIONS)
    }
}
