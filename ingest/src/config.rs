//! Settings of `gluey ingest webhook`: the service settings (flags / env) and the carrier section
//! of the config file.

use std::net::SocketAddr;
use std::time::Duration;

use gluey_contract::TopicNames;
use gluey_ops::{Reloadable, Secret};
use serde::Deserialize;

/// `[carriers.*]` in the config file: what ingest needs to authenticate pushes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarrierPushSection {
    #[serde(default)]
    pub fedex: Option<FedexPushConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FedexPushConfig {
    /// AIV project security tokens; two during rotation, either verifies.
    pub aiv_secrets: Vec<Secret>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config field {field}: {reason}")]
    Field { field: &'static str, reason: String },
}

impl CarrierPushSection {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(fedex) = &self.fedex {
            if fedex.aiv_secrets.is_empty() || fedex.aiv_secrets.len() > 2 {
                return Err(ConfigError::Field {
                    field: "carriers.fedex.aiv_secrets",
                    reason: format!(
                        "expected one or two secrets, got {}",
                        fedex.aiv_secrets.len()
                    ),
                });
            }
            if fedex.aiv_secrets.iter().any(|s| s.expose().is_empty()) {
                return Err(ConfigError::Field {
                    field: "carriers.fedex.aiv_secrets",
                    reason: "a secret is empty".into(),
                });
            }
        }
        Ok(())
    }
}

/// Everything `run_webhook_ingest` needs besides Kafka and the codec.
#[derive(Debug, Clone)]
pub struct WebhookIngestConfig {
    pub listen: SocketAddr,
    /// Larger bodies get 413 before they are read further.
    pub max_body_bytes: usize,
    /// How long to wait for Kafka's ack before answering 503.
    pub produce_timeout: Duration,
    /// `Retry-After` sent with 503 and 429.
    pub retry_after: Duration,
    pub topics: TopicNames,
    /// Reloaded on SIGHUP.
    pub carriers: Reloadable<CarrierPushSection>,
}
