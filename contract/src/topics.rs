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
    pub key: &'static str,
    pub value: &'static str,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

pub const RAW: TopicSpec = TopicSpec {
    name: "tracking.raw.v1",
    co_partitioned: true,
    cleanup: CleanupPolicy::Delete,
    retention: Some(Duration::from_secs(30 * 24 * 3600)),
    key: "shipment key when the route can tell, else the source",
    value: "RawEnvelope (schemas/raw_envelope.avsc)",
};

pub const EVENTS: TopicSpec = TopicSpec {
    name: "tracking.events.v1",
    co_partitioned: true,
    cleanup: CleanupPolicy::Delete,
    retention: Some(Duration::from_secs(365 * 24 * 3600)),
    key: "shipment key",
    value: "CanonicalRecord (schemas/canonical_record.avsc)",
};

pub const SHIPMENTS: TopicSpec = TopicSpec {
    name: "tracking.shipments.v1",
    co_partitioned: true,
    cleanup: CleanupPolicy::Compact,
    retention: None,
    key: "shipment key (or carrier:alias for alias records)",
    value: "Shipment (schemas/shipment.avsc); tombstone = deregistered",
};

pub const STATE: TopicSpec = TopicSpec {
    name: "tracking.state.v1",
    co_partitioned: true,
    cleanup: CleanupPolicy::Compact,
    retention: None,
    key: "shipment key",
    value: "ShipmentState (schemas/shipment_state.avsc)",
};

pub const DEADLETTER: TopicSpec = TopicSpec {
    name: "tracking.deadletter.v1",
    co_partitioned: false,
    cleanup: CleanupPolicy::Delete,
    retention: Some(Duration::from_secs(90 * 24 * 3600)),
    key: "the input record's key",
    value: "DeadLetter (schemas/dead_letter.avsc)",
};

pub const PARKED: TopicSpec = TopicSpec {
    name: "normalizer.parked.v1",
    co_partitioned: true,
    cleanup: CleanupPolicy::Delete,
    retention: Some(Duration::from_secs(30 * 24 * 3600)),
    key: "shipment key",
    value: "the raw record's value, byte for byte (headers: gluey-parked-from, gluey-parked-at); markers: empty value with gluey-resolves / gluey-resolution",
};

pub const REPARTITION: TopicSpec = TopicSpec {
    name: "normalizer.repartition.v1",
    co_partitioned: true,
    cleanup: CleanupPolicy::Delete,
    retention: Some(Duration::from_secs(7 * 24 * 3600)),
    key: "the owner's shipment key",
    value: "the raw record's value, byte for byte (headers: gluey-forwarded-from, gluey-owner)",
};

pub const PUSH_SUBSCRIPTIONS: TopicSpec = TopicSpec {
    name: "ingest.webhook.subscriptions.v1",
    co_partitioned: true,
    cleanup: CleanupPolicy::Compact,
    retention: None,
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

    pub fn repartition(&self) -> String {
        self.name(&REPARTITION)
    }

    pub fn push_subscriptions(&self) -> String {
        self.name(&PUSH_SUBSCRIPTIONS)
    }
}
