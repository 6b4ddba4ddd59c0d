//! Settings of `gluey dispatch webhook`, and the `[[customers]]` section of the config file.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gluey_contract::{CanonicalRecord, Status, TopicNames};
use gluey_ops::{Reloadable, Secret};
use serde::Deserialize;
use url::Url;

use crate::payload::WEBHOOK_TYPES;
use crate::signing::{SigningSecret, WebhookSigner};
use crate::ssrf::{check_url, AddressPolicy};

/// `[[customers]]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerSection {
    pub id: String,
    #[serde(default)]
    pub webhooks: Vec<EndpointSection>,
}

/// `[[customers.webhooks]]`: one endpoint of a customer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSection {
    /// Stable name of the endpoint: retries, dead letters and its enabled state are kept under
    /// it. Defaults to `<customer>-<n>` (1-based position), which changes if the list is
    /// reordered, so set it.
    #[serde(default)]
    pub id: Option<String>,
    pub url: String,
    /// `whsec_…` secrets; two during rotation, the old one with `expires_at`.
    pub secrets: Vec<SecretEntry>,
    #[serde(default)]
    pub filter: FilterSection,
    /// Attempts in flight to this endpoint at once.
    #[serde(default)]
    pub max_concurrency: Option<usize>,
    /// Attempts per second to this endpoint.
    #[serde(default)]
    pub rate_limit: Option<f64>,
}

/// A secret, or a secret with the instant it stops being used.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretEntry {
    Plain(Secret),
    Expiring(ExpiringSecret),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiringSecret {
    pub secret: Secret,
    pub expires_at: DateTime<Utc>,
}

/// `[customers.webhooks.filter]`: which records the endpoint receives; an empty list lets
/// everything through.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSection {
    /// Webhook types, e.g. `tracking.event`, `shipment.eta_changed`.
    #[serde(default)]
    pub types: Vec<String>,
    /// The shipment's status after the record, e.g. `delivered`.
    #[serde(default)]
    pub statuses: Vec<Status>,
    /// Event milestones; records without an event (shipment updates) do not match a milestone
    /// filter.
    #[serde(default)]
    pub milestones: Vec<String>,
}

impl FilterSection {
    pub fn matches(&self, record: &CanonicalRecord) -> bool {
        let kind = crate::payload::webhook_type(record);
        (self.types.is_empty() || self.types.iter().any(|t| t == kind))
            && (self.statuses.is_empty() || self.statuses.contains(&record.shipment.status))
            && (self.milestones.is_empty()
                || record
                    .event
                    .as_ref()
                    .is_some_and(|e| self.milestones.contains(&e.milestone)))
    }
}

pub const DEFAULT_MAX_CONCURRENCY: usize = 8;
/// One attempt in about 17 minutes; anything slower is a misconfiguration.
pub const MIN_RATE_LIMIT: f64 = 0.001;

/// A validated endpoint.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub id: String,
    pub customer_id: String,
    pub url: Url,
    pub signer: WebhookSigner,
    pub filter: FilterSection,
    pub max_concurrency: usize,
    pub rate_limit: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
#[error("config field {field}: {reason}")]
pub struct EndpointConfigError {
    pub field: String,
    pub reason: String,
}

/// Validates the customer section into endpoints; errors name the field. `policy` decides
/// which destinations are allowed (literal addresses are checked here; names when resolved).
pub fn endpoints(
    customers: &[CustomerSection],
    policy: &AddressPolicy,
) -> Result<Vec<EndpointConfig>, EndpointConfigError> {
    let mut out = Vec::new();
    let mut ids = HashSet::new();
    let now = Utc::now();
    for (c, customer) in customers.iter().enumerate() {
        if customer.id.trim().is_empty() {
            return Err(EndpointConfigError {
                field: format!("customers[{c}].id"),
                reason: "must not be empty".into(),
            });
        }
        for (w, hook) in customer.webhooks.iter().enumerate() {
            let field = |name: &str| format!("customers[{c}].webhooks[{w}].{name}");
            let error = |name: &str, reason: String| EndpointConfigError {
                field: field(name),
                reason,
            };
            let id = hook
                .id
                .clone()
                .unwrap_or_else(|| format!("{}-{}", customer.id, w + 1));
            if id.trim().is_empty() || id.chars().any(|ch| ch.is_control()) {
                return Err(error("id", "must be a non-empty printable name".into()));
            }
            if !ids.insert(id.clone()) {
                return Err(error("id", format!("{id:?} is used by another endpoint")));
            }
            let url = Url::parse(&hook.url).map_err(|e| error("url", e.to_string()))?;
            check_url(&url, policy).map_err(|e| error("url", e.to_string()))?;
            if hook.secrets.is_empty() || hook.secrets.len() > 2 {
                return Err(error(
                    "secrets",
                    format!("expected one or two secrets, got {}", hook.secrets.len()),
                ));
            }
            let mut secrets = Vec::new();
            for entry in &hook.secrets {
                let (text, expires) = match entry {
                    SecretEntry::Plain(secret) => (secret, None),
                    SecretEntry::Expiring(e) => (&e.secret, Some(e.expires_at)),
                };
                let secret = SigningSecret::parse(text.expose())
                    .map_err(|e| error("secrets", e.to_string()))?;
                secrets.push((secret, expires.map(|at| at.timestamp())));
            }
            if secrets
                .iter()
                .all(|(_, expires)| expires.is_some_and(|at| at <= now.timestamp()))
            {
                return Err(error("secrets", "every secret has expired".into()));
            }
            if let Some(unknown) = hook
                .filter
                .types
                .iter()
                .find(|t| !WEBHOOK_TYPES.contains(&t.as_str()))
            {
                return Err(error(
                    "filter.types",
                    format!(
                        "unknown type {unknown:?}; known: {}",
                        WEBHOOK_TYPES.join(", ")
                    ),
                ));
            }
            let max_concurrency = hook.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY);
            if max_concurrency == 0 {
                return Err(error("max_concurrency", "must be at least 1".into()));
            }
            if let Some(rate) = hook.rate_limit {
                if !(rate.is_finite() && rate >= MIN_RATE_LIMIT) {
                    return Err(error(
                        "rate_limit",
                        format!("must be at least {MIN_RATE_LIMIT} requests per second"),
                    ));
                }
            }
            out.push(EndpointConfig {
                id,
                customer_id: customer.id.clone(),
                url,
                signer: WebhookSigner::with_expiry(secrets),
                filter: hook.filter.clone(),
                max_concurrency,
                rate_limit: hook.rate_limit,
            });
        }
    }
    Ok(out)
}

/// When attempts happen: the ladder after each failed attempt, and what bends it.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Pause after failed attempt n (n = 1…): attempts in all = ladder length + 1.
    pub ladder: Vec<Duration>,
    /// ± this fraction of jitter on each ladder step.
    pub jitter: f64,
    /// The least pause after a 429, a timeout, a 502 or a 504.
    pub throttle_floor: Duration,
    /// Consecutive failed attempts that open an endpoint's circuit breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker waits before letting a probe through; doubles on a failed probe.
    pub breaker_cooldown: Duration,
    pub breaker_max_cooldown: Duration,
    /// An endpoint failing without a single success for this long is disabled.
    pub disable_after: Duration,
    /// How long a delivery may wait for one of its endpoint's concurrency slots before it is
    /// handed to the retry path (without using an attempt).
    pub slot_wait: Duration,
}

impl RetryPolicy {
    /// Immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h: about three days.
    pub fn standard() -> RetryPolicy {
        let minute = 60;
        let hour = 3600;
        RetryPolicy {
            ladder: [
                5,
                5 * minute,
                30 * minute,
                2 * hour,
                5 * hour,
                10 * hour,
                14 * hour,
                20 * hour,
                24 * hour,
            ]
            .into_iter()
            .map(Duration::from_secs)
            .collect(),
            jitter: 0.2,
            throttle_floor: Duration::from_secs(60),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            breaker_max_cooldown: Duration::from_secs(30 * 60),
            disable_after: Duration::from_secs(5 * 24 * hour),
            slot_wait: Duration::from_secs(2),
        }
    }

    /// Every duration multiplied by `scale` (tests compress three days into seconds).
    pub fn scaled(mut self, scale: f64) -> RetryPolicy {
        let s = |d: Duration| d.mul_f64(scale);
        self.ladder = self.ladder.into_iter().map(s).collect();
        self.throttle_floor = s(self.throttle_floor);
        self.breaker_cooldown = s(self.breaker_cooldown);
        self.breaker_max_cooldown = s(self.breaker_max_cooldown);
        self.disable_after = s(self.disable_after);
        self.slot_wait = s(self.slot_wait).max(Duration::from_millis(50));
        self
    }

    pub fn attempts(&self) -> u32 {
        self.ladder.len() as u32 + 1
    }
}

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    pub topics: TopicNames,
    pub group_id: String,
    /// Reloaded on SIGHUP.
    pub endpoints: Reloadable<Vec<EndpointConfig>>,
    /// Time limit of one delivery attempt.
    pub attempt_timeout: Duration,
    pub retry: RetryPolicy,
    /// Multiplies `Retry-After` values like the ladder (1 in production).
    pub time_scale: f64,
    /// Which destinations may be connected to.
    pub address_policy: AddressPolicy,
    /// Retry records read ahead of their due time, per retry topic.
    pub read_ahead: usize,
    /// Input records in flight (delivering or being handed to the retry path) at once.
    pub max_in_flight: usize,
}
