//! Settings of `gluey ingest webhook`: the service settings (flags / env) and the carrier section
//! of the config file.

use std::net::SocketAddr;
use std::time::Duration;

use gluey_contract::TopicNames;
use gluey_ops::{Reloadable, Secret};
use serde::Deserialize;

use crate::subscriptions::config::{
    DhlSubscriptionConfig, SubscriptionCarriers, UpsSubscriptionConfig,
};

/// `[carriers.*]` in the config file: what ingest needs to authenticate pushes, and to keep the
/// carriers that need a subscription pushing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarrierPushSection {
    #[serde(default)]
    pub fedex: Option<FedexPushConfig>,
    #[serde(default)]
    pub ups: Option<UpsPushConfig>,
    #[serde(default)]
    pub dhl: Option<DhlPushConfig>,
}

/// `[carriers.ups]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsPushConfig {
    /// `[carriers.ups.subscriptions]`: Track Alert subscriptions (`ingest subscriptions`).
    #[serde(default)]
    pub subscriptions: Option<UpsSubscriptionConfig>,
}

/// `[carriers.dhl]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhlPushConfig {
    /// `[carriers.dhl.subscriptions]`: Unified Push subscriptions (`ingest subscriptions`).
    #[serde(default)]
    pub subscriptions: Option<DhlSubscriptionConfig>,
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
        let subscriptions = self.subscriptions();
        if let Some(ups) = &subscriptions.ups {
            ups.validate()?;
        }
        if let Some(dhl) = &subscriptions.dhl {
            dhl.validate()?;
        }
        Ok(())
    }

    /// The subscription sub-tables.
    pub fn subscriptions(&self) -> SubscriptionCarriers {
        SubscriptionCarriers {
            ups: self.ups.as_ref().and_then(|u| u.subscriptions.clone()),
            dhl: self.dhl.as_ref().and_then(|d| d.subscriptions.clone()),
        }
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
