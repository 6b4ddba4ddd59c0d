//! Settings of `gluey ingest webhook`: the service settings (flags / env) and the `[carriers.*]`
//! sections of the config file, one per push route. A section left out means its route answers
//! 404; `validate` refuses a section that could not authenticate anything, naming the field.

use std::net::SocketAddr;
use std::time::Duration;

use gluey_contract::TopicNames;
use gluey_ops::standard_webhooks::SigningSecret;
use gluey_ops::{Reloadable, Secret};
use serde::Deserialize;

use crate::subscriptions::config::{
    DhlSubscriptionConfig, SubscriptionCarriers, UpsSubscriptionConfig,
};

/// `[carriers.*]` in the config file: what ingest needs to authenticate and bound pushes, and to
/// keep the carriers that need a subscription pushing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarrierPushSection {
    /// `POST /carriers/fedex/aiv`.
    #[serde(default)]
    pub fedex: Option<FedexPushConfig>,
    /// `POST /carriers/ups/alert`.
    #[serde(default)]
    pub ups: Option<UpsPushConfig>,
    /// `POST /carriers/dhl/push`.
    #[serde(default)]
    pub dhl: Option<DhlPushConfig>,
    /// `POST /carriers/<integrator>/direct`.
    #[serde(default)]
    pub direct: Option<DirectPushConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FedexPushConfig {
    /// AIV project security tokens; two during rotation, either verifies.
    pub aiv_secrets: Vec<Secret>,
    #[serde(default)]
    pub limits: PushLimits,
}

/// UPS Track Alert v2: UPS sends `x-api-key: <our OAuth client id>` and the credential we
/// registered for the subscription in a header (CARRIERS.md 1.7: `credential` in community code).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsPushConfig {
    /// Accepted `x-api-key` values: the client id of our UPS app; two during a rotation.
    pub api_keys: Vec<Secret>,
    /// The shared credential registered with UPS; two during a rotation.
    pub credentials: Vec<Secret>,
    /// The header UPS puts the credential in.
    #[serde(default = "default_ups_credential_header")]
    pub credential_header: String,
    #[serde(default)]
    pub limits: PushLimits,
    /// `[carriers.ups.subscriptions]`: Track Alert subscriptions (`ingest subscriptions`).
    #[serde(default)]
    pub subscriptions: Option<UpsSubscriptionConfig>,
}

/// DHL Unified Push: a static header and token that we choose and give DHL in the subscription's
/// `hook.authentication` (`ApiKeyAuthentication`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhlPushConfig {
    /// The header name registered as `hook.authentication.header`.
    pub header: String,
    /// The token(s) registered as `hook.authentication.token`; two during a rotation.
    pub tokens: Vec<Secret>,
    #[serde(default)]
    pub limits: PushLimits,
    /// `[carriers.dhl.subscriptions]`: Unified Push subscriptions (`ingest subscriptions`).
    #[serde(default)]
    pub subscriptions: Option<DhlSubscriptionConfig>,
}

/// Native integrators pushing `direct.v1`, signed as Standard Webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectPushConfig {
    /// How far `webhook-timestamp` may be from our clock, either way.
    #[serde(
        default = "default_timestamp_tolerance",
        deserialize_with = "gluey_ops::duration::deserialize"
    )]
    pub timestamp_tolerance: Duration,
    /// At most this many accepted `webhook-id`s are remembered (oldest forgotten first).
    #[serde(default = "default_webhook_id_cache_size")]
    pub webhook_id_cache_size: usize,
    pub integrators: Vec<DirectIntegrator>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectIntegrator {
    /// The integrator's carrier slug: its path (`/carriers/<carrier>/direct`), the raw
    /// envelope's carrier and the namespace of its shipment keys.
    pub carrier: String,
    /// `whsec_` secrets; two during a rotation, either verifies.
    pub secrets: Vec<Secret>,
    #[serde(default)]
    pub limits: PushLimits,
}

/// Bounds of one push route.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushLimits {
    /// Overrides `--max-body-bytes` for this route.
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// Token bucket: sustained rate…
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: f64,
    /// …and how many requests may come at once above it.
    #[serde(default = "default_burst")]
    pub burst: u32,
}

impl Default for PushLimits {
    fn default() -> PushLimits {
        PushLimits {
            max_body_bytes: None,
            requests_per_second: default_requests_per_second(),
            burst: default_burst(),
        }
    }
}

fn default_ups_credential_header() -> String {
    "credential".into()
}

fn default_timestamp_tolerance() -> Duration {
    Duration::from_secs(5 * 60)
}

fn default_webhook_id_cache_size() -> usize {
    100_000
}

fn default_requests_per_second() -> f64 {
    500.0
}

fn default_burst() -> u32 {
    1000
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config field {field}: {reason}")]
    Field { field: String, reason: String },
}

fn field_error(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: field.into(),
        reason: reason.into(),
    }
}

/// One or two non-empty secrets: two only while rotating.
fn one_or_two(field: &str, secrets: &[Secret]) -> Result<(), ConfigError> {
    if secrets.is_empty() || secrets.len() > 2 {
        return Err(field_error(
            field,
            format!("expected one or two secrets, got {}", secrets.len()),
        ));
    }
    if secrets.iter().any(|s| s.expose().trim().is_empty()) {
        return Err(field_error(field, "a secret is empty"));
    }
    Ok(())
}

/// Headers ingest reads for itself; a credential may not hide in one of them.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "transfer-encoding",
    "host",
    "traceparent",
    "x-api-key",
    "fdx-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

fn credential_header(field: &str, name: &str) -> Result<(), ConfigError> {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(field_error(
            field,
            format!("{name:?} is not a valid HTTP header name"),
        ));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(field_error(
            field,
            format!("{name:?} is a header ingest reads for another purpose"),
        ));
    }
    Ok(())
}

fn valid_slug(slug: &str) -> bool {
    let bytes = slug.as_bytes();
    (1..=32).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_')
}

impl PushLimits {
    fn validate(&self, section: &str) -> Result<(), ConfigError> {
        if self.max_body_bytes == Some(0) {
            return Err(field_error(
                format!("{section}.limits.max_body_bytes"),
                "must be at least 1",
            ));
        }
        if !(self.requests_per_second.is_finite() && self.requests_per_second > 0.0) {
            return Err(field_error(
                format!("{section}.limits.requests_per_second"),
                format!(
                    "must be a positive number, got {}",
                    self.requests_per_second
                ),
            ));
        }
        if self.burst == 0 {
            return Err(field_error(
                format!("{section}.limits.burst"),
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

impl CarrierPushSection {
    /// Every configured route's limits, by the config field that sets them.
    pub fn route_limits(&self) -> Vec<(String, &PushLimits)> {
        let mut out = Vec::new();
        if let Some(fedex) = &self.fedex {
            out.push(("carriers.fedex.limits".to_string(), &fedex.limits));
        }
        if let Some(ups) = &self.ups {
            out.push(("carriers.ups.limits".to_string(), &ups.limits));
        }
        if let Some(dhl) = &self.dhl {
            out.push(("carriers.dhl.limits".to_string(), &dhl.limits));
        }
        if let Some(direct) = &self.direct {
            for (i, integrator) in direct.integrators.iter().enumerate() {
                out.push((
                    format!("carriers.direct.integrators[{i}].limits"),
                    &integrator.limits,
                ));
            }
        }
        out
    }

    /// Whether no push route is configured at all.
    pub fn is_empty(&self) -> bool {
        self.fedex.is_none()
            && self.ups.is_none()
            && self.dhl.is_none()
            && self
                .direct
                .as_ref()
                .is_none_or(|d| d.integrators.is_empty())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(fedex) = &self.fedex {
            one_or_two("carriers.fedex.aiv_secrets", &fedex.aiv_secrets)?;
            fedex.limits.validate("carriers.fedex")?;
        }
        if let Some(ups) = &self.ups {
            one_or_two("carriers.ups.api_keys", &ups.api_keys)?;
            one_or_two("carriers.ups.credentials", &ups.credentials)?;
            credential_header("carriers.ups.credential_header", &ups.credential_header)?;
            ups.limits.validate("carriers.ups")?;
        }
        if let Some(dhl) = &self.dhl {
            credential_header("carriers.dhl.header", &dhl.header)?;
            one_or_two("carriers.dhl.tokens", &dhl.tokens)?;
            dhl.limits.validate("carriers.dhl")?;
        }
        if let Some(direct) = &self.direct {
            direct.validate()?;
        }
        let subscriptions = self.subscriptions();
        if let Some(ups) = &subscriptions.ups {
            ups.validate()?;
        }
        if let Some(dhl) = &subscriptions.dhl {
            dhl.validate()?;
        }
        // DHL pushes with the header and token its subscription registered: they must be ones
        // the push route accepts, or every push would be refused.
        if let (Some(push), Some(sub)) = (&self.dhl, &subscriptions.dhl) {
            if !sub.hook_header.eq_ignore_ascii_case(&push.header) {
                return Err(field_error(
                    "carriers.dhl.subscriptions.hook_header",
                    format!(
                        "{:?} differs from carriers.dhl.header {:?}, which pushes are checked against",
                        sub.hook_header, push.header
                    ),
                ));
            }
            if !push
                .tokens
                .iter()
                .any(|t| t.expose() == sub.hook_token.expose())
            {
                return Err(field_error(
                    "carriers.dhl.subscriptions.hook_token",
                    "is none of carriers.dhl.tokens, which pushes are checked against",
                ));
            }
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

impl DirectPushConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.timestamp_tolerance.is_zero() {
            return Err(field_error(
                "carriers.direct.timestamp_tolerance",
                "must be longer than zero",
            ));
        }
        if self.webhook_id_cache_size == 0 {
            return Err(field_error(
                "carriers.direct.webhook_id_cache_size",
                "must be at least 1",
            ));
        }
        for (i, integrator) in self.integrators.iter().enumerate() {
            let section = format!("carriers.direct.integrators[{i}]");
            if !valid_slug(&integrator.carrier) {
                return Err(field_error(
                    format!("{section}.carrier"),
                    format!(
                        "{:?} is not a carrier slug (1 to 32 of a-z, 0-9, - and _)",
                        integrator.carrier
                    ),
                ));
            }
            if self.integrators[..i]
                .iter()
                .any(|other| other.carrier == integrator.carrier)
            {
                return Err(field_error(
                    format!("{section}.carrier"),
                    format!("{:?} is configured twice", integrator.carrier),
                ));
            }
            let field = format!("{section}.secrets");
            one_or_two(&field, &integrator.secrets)?;
            for secret in &integrator.secrets {
                SigningSecret::parse(secret.expose())
                    .map_err(|e| field_error(field.clone(), e.to_string()))?;
            }
            integrator.limits.validate(&section)?;
        }
        Ok(())
    }

    /// The integrator whose path segment is `carrier`.
    pub fn integrator(&self, carrier: &str) -> Option<&DirectIntegrator> {
        self.integrators.iter().find(|i| i.carrier == carrier)
    }
}

/// Everything `run_webhook_ingest` needs besides Kafka and the codec.
#[derive(Debug, Clone)]
pub struct WebhookIngestConfig {
    pub listen: SocketAddr,
    /// Larger bodies get 413 before they are read further (a route's `limits.max_body_bytes`
    /// overrides it).
    pub max_body_bytes: usize,
    /// How long to wait for Kafka's ack before answering 503.
    pub produce_timeout: Duration,
    /// `Retry-After` sent with 503.
    pub retry_after: Duration,
    pub topics: TopicNames,
    /// Reloaded on SIGHUP.
    pub carriers: Reloadable<CarrierPushSection>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn parse(text: &str) -> CarrierPushSection {
        toml::from_str(text).unwrap()
    }

    fn refused(text: &str) -> String {
        parse(text).validate().unwrap_err().to_string()
    }

    #[test]
    fn every_section_with_defaults() {
        let section = parse(&format!(
            r#"
            [fedex]
            aiv_secrets = ["a"]
            [ups]
            api_keys = ["client"]
            credentials = ["one", "two"]
            [dhl]
            header = "X-Gluey-Push-Token"
            tokens = ["t"]
            limits = {{ requests_per_second = 2.5, burst = 3, max_body_bytes = 100 }}
            [direct]
            timestamp_tolerance = "90s"
            [[direct.integrators]]
            carrier = "swiftparcel"
            secrets = ["{WHSEC}"]
            "#
        ));
        section.validate().unwrap();
        assert!(!section.is_empty());
        let ups = section.ups.as_ref().unwrap();
        assert_eq!(ups.credential_header, "credential");
        assert_eq!(ups.limits, PushLimits::default());
        let dhl = section.dhl.as_ref().unwrap();
        assert_eq!(dhl.limits.burst, 3);
        assert_eq!(dhl.limits.max_body_bytes, Some(100));
        let direct = section.direct.as_ref().unwrap();
        assert_eq!(direct.timestamp_tolerance, Duration::from_secs(90));
        assert_eq!(direct.webhook_id_cache_size, 100_000);
        assert!(direct.integrator("swiftparcel").is_some());
        assert!(direct.integrator("other").is_none());
        assert!(parse("").is_empty());
        assert!(parse("[direct]\nintegrators = []\n").is_empty());
    }

    #[test]
    fn bad_fields_are_named() {
        assert!(refused("[fedex]\naiv_secrets = []\n").contains("carriers.fedex.aiv_secrets"));
        assert!(refused("[fedex]\naiv_secrets = [\"a\", \"b\", \"c\"]\n")
            .contains("expected one or two secrets, got 3"));
        assert!(
            refused("[ups]\napi_keys = [\"k\"]\ncredentials = [\" \"]\n")
                .contains("carriers.ups.credentials: a secret is empty")
        );
        assert!(refused(
            "[ups]\napi_keys = [\"k\"]\ncredentials = [\"c\"]\ncredential_header = \"x-api-key\"\n"
        )
        .contains("carriers.ups.credential_header"));
        assert!(
            refused("[dhl]\nheader = \"bad header\"\ntokens = [\"t\"]\n")
                .contains("carriers.dhl.header: \"bad header\" is not a valid HTTP header name")
        );
        assert!(refused(
            "[dhl]\nheader = \"x-token\"\ntokens = [\"t\"]\nlimits = { requests_per_second = 0.0 }\n"
        )
        .contains("carriers.dhl.limits.requests_per_second"));
        assert!(
            refused("[dhl]\nheader = \"x-token\"\ntokens = [\"t\"]\nlimits = { burst = 0 }\n")
                .contains("carriers.dhl.limits.burst")
        );
        assert!(refused(
            "[[direct.integrators]]\ncarrier = \"swiftparcel\"\nsecrets = [\"not-whsec\"]\n"
        )
        .contains("carriers.direct.integrators[0].secrets: must start with whsec_"));
        assert!(refused(&format!(
            "[[direct.integrators]]\ncarrier = \"Swift Parcel\"\nsecrets = [\"{WHSEC}\"]\n"
        ))
        .contains("carriers.direct.integrators[0].carrier"));
        assert!(refused(&format!(
            "[[direct.integrators]]\ncarrier = \"a\"\nsecrets = [\"{WHSEC}\"]\n[[direct.integrators]]\ncarrier = \"a\"\nsecrets = [\"{WHSEC}\"]\n"
        ))
        .contains("carriers.direct.integrators[1].carrier: \"a\" is configured twice"));
        assert!(
            refused("[direct]\ntimestamp_tolerance = \"0s\"\nintegrators = []\n")
                .contains("carriers.direct.timestamp_tolerance")
        );
        let unparsable: Result<CarrierPushSection, _> =
            toml::from_str("[direct]\ntimestamp_tolerance = \"5 parsecs\"\nintegrators = []\n");
        assert!(unparsable.unwrap_err().to_string().contains("unknown unit"));
    }
}
