//! Settings of `gluey dispatch webhook`, and the `[[customers]]` section of the config file.

use std::time::Duration;

use gluey_contract::TopicNames;
use gluey_ops::{Reloadable, Secret};
use serde::Deserialize;
use url::Url;

use crate::signing::{SigningSecret, WebhookSigner};

/// `[[customers]]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerSection {
    pub id: String,
    #[serde(default)]
    pub webhooks: Vec<EndpointSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSection {
    pub url: String,
    /// `whsec_…` secrets; two during rotation.
    pub secrets: Vec<Secret>,
}

/// A validated endpoint.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub customer_id: String,
    pub url: Url,
    pub signer: WebhookSigner,
}

#[derive(Debug, thiserror::Error)]
#[error("config field {field}: {reason}")]
pub struct EndpointConfigError {
    pub field: String,
    pub reason: String,
}

/// Validates the customer section into endpoints; errors name the field.
pub fn endpoints(
    customers: &[CustomerSection],
) -> Result<Vec<EndpointConfig>, EndpointConfigError> {
    let mut out = Vec::new();
    for (c, customer) in customers.iter().enumerate() {
        if customer.id.trim().is_empty() {
            return Err(EndpointConfigError {
                field: format!("customers[{c}].id"),
                reason: "must not be empty".into(),
            });
        }
        for (w, hook) in customer.webhooks.iter().enumerate() {
            let field = |name: &str| format!("customers[{c}].webhooks[{w}].{name}");
            let url = Url::parse(&hook.url).map_err(|e| EndpointConfigError {
                field: field("url"),
                reason: e.to_string(),
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(EndpointConfigError {
                    field: field("url"),
                    reason: format!("scheme must be http or https, got {}", url.scheme()),
                });
            }
            if hook.secrets.is_empty() || hook.secrets.len() > 2 {
                return Err(EndpointConfigError {
                    field: field("secrets"),
                    reason: format!("expected one or two secrets, got {}", hook.secrets.len()),
                });
            }
            let secrets = hook
                .secrets
                .iter()
                .map(|s| SigningSecret::parse(s.expose()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| EndpointConfigError {
                    field: field("secrets"),
                    reason: e.to_string(),
                })?;
            out.push(EndpointConfig {
                customer_id: customer.id.clone(),
                url,
                signer: WebhookSigner::new(secrets),
            });
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    pub topics: TopicNames,
    pub group_id: String,
    /// Reloaded on SIGHUP.
    pub endpoints: Reloadable<Vec<EndpointConfig>>,
    /// Time limit of one delivery attempt.
    pub attempt_timeout: Duration,
    /// First pause after a failed attempt; doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}
