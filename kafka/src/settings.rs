//! Kafka client settings: the bootstrap servers plus any librdkafka property passed through
//! (`security.protocol`, `sasl.mechanism`, `sasl.username`, `ssl.ca.location`, …), so TLS and
//! SASL for MSK or Confluent Cloud need no code.

use std::time::Duration;

use rdkafka::ClientConfig;

#[derive(Clone, Default)]
pub struct KafkaSettings {
    pub bootstrap: String,
    /// `key=value` librdkafka properties, applied last, so they can override our defaults.
    pub properties: Vec<(String, String)>,
}

impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let props: Vec<String> = self
            .properties
            .iter()
            .map(|(k, v)| {
                if is_secret_property(k) {
                    format!("{k}=[REDACTED]")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        f.debug_struct("KafkaSettings")
            .field("bootstrap", &self.bootstrap)
            .field("properties", &props)
            .finish()
    }
}

fn is_secret_property(key: &str) -> bool {
    key.contains("password")
        || key.contains("secret")
        || key.contains("key.pem")
        || key.contains("jaas")
}

#[derive(Debug, thiserror::Error)]
#[error("--kafka-property {property}={value} breaks co-partitioning (raw, shipments and repartition must be assigned by partition number); use {property}={need}")]
pub struct AssignorError {
    pub property: &'static str,
    pub value: String,
    pub need: &'static str,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid --kafka-property {0:?}: expected key=value")]
pub struct PropertyError(String);

/// Parses one `key=value` pass-through property.
/// librdkafka's default `message.max.bytes`.
pub const LIBRDKAFKA_MESSAGE_MAX_BYTES: usize = 1_000_000;

pub fn parse_property(s: &str) -> Result<(String, String), PropertyError> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(PropertyError(s.to_string())),
    }
}

impl KafkaSettings {
    pub fn new(bootstrap: impl Into<String>) -> KafkaSettings {
        KafkaSettings {
            bootstrap: bootstrap.into(),
            properties: Vec::new(),
        }
    }

    fn base(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        config
    }

    fn finish(&self, mut config: ClientConfig) -> ClientConfig {
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
    }

    /// Producer: acks from all in-sync replicas, idempotent (no duplicates or reordering on
    /// retry), and a bound on how long a record may wait for its ack.
    pub fn producer_config(&self, delivery_timeout: Duration) -> ClientConfig {
        let mut config = self.base();
        config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set(
                "message.timeout.ms",
                delivery_timeout.as_millis().max(1).to_string(),
            );
        self.finish(config)
    }

    /// Consumer in `group`: offsets are stored by the service only once the record's outputs or
    /// side effects are done, and committed from that store (periodically and on shutdown).
    pub fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut config = self.base();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("session.timeout.ms", "10000");
        self.finish(config)
    }

    /// The pass-through property `key` as it takes effect (the last one given wins), trimmed.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
    }

    /// The producer's `message.max.bytes` as it takes effect (librdkafka's default 1,000,000
    /// unless set): the largest record it sends.
    pub fn message_max_bytes(&self) -> usize {
        self.property("message.max.bytes")
            .and_then(|v| v.parse().ok())
            .unwrap_or(LIBRDKAFKA_MESSAGE_MAX_BYTES)
    }

    /// Refuses an assignor that breaks co-partitioning, for a consumer that subscribes to several
    /// co-partitioned topics and relies on getting the same partition numbers of each: only the
    /// range assignor does that (`roundrobin` and `cooperative-sticky` spread them, and so does
    /// the broker-side `uniform` assignor of `group.protocol=consumer`).
    pub fn check_co_partitioning_assignor(&self) -> Result<(), AssignorError> {
        let get = |key: &str| self.property(key).map(str::to_string);
        if let Some(strategy) = get("partition.assignment.strategy") {
            if strategy != "range" {
                return Err(AssignorError {
                    property: "partition.assignment.strategy",
                    value: strategy,
                    need: "range",
                });
            }
        }
        if get("group.protocol").as_deref() == Some("consumer") {
            let assignor = get("group.remote.assignor")
                .unwrap_or_else(|| "uniform (the broker's default)".into());
            if assignor != "range" {
                return Err(AssignorError {
                    property: "group.remote.assignor",
                    value: assignor,
                    need: "range",
                });
            }
        }
        Ok(())
    }

    /// A plain client (admin, metadata, reading a topic without a group).
    pub fn client_config(&self) -> ClientConfig {
        let config = self.base();
        self.finish(config)
    }
}
