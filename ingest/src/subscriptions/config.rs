//! Settings of `gluey ingest subscriptions`: the service settings (flags / env) and the carrier
//! sub-tables of the config file, `[carriers.ups.subscriptions]` and
//! `[carriers.dhl.subscriptions]`, validated with errors that name the field.

use std::time::Duration;

use gluey_contract::TopicNames;
use gluey_ops::{Reloadable, Secret};
use serde::Deserialize;
use url::Url;

use crate::config::ConfigError;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// UPS refuses more than 100 tracking numbers in one subscribe call (VSS220).
pub const UPS_MAX_BATCH: usize = 100;

/// The event filter DHL's push subscription accepts.
pub const DHL_EVENTS: [&str; 5] = ["Pre-Transit", "Transit", "Delivered", "Failure", "Unknown"];

/// `[carriers.ups.subscriptions]`: UPS Track Alert, one subscription per tracking number.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsSubscriptionConfig {
    /// `https://onlinetools.ups.com`, or `https://wwwcie.ups.com` for UPS's test environment.
    pub base_url: Url,
    /// OAuth client credentials (client_secret_basic); the token is cached until it expires.
    pub client_id: String,
    pub client_secret: Secret,
    /// Path segments of `/api/track/{api_version}/subscription/{subscription_type}/package`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    #[serde(default = "default_subscription_type")]
    pub subscription_type: String,
    #[serde(default = "default_locale")]
    pub locale: String,
    #[serde(default = "default_country_code")]
    pub country_code: String,
    /// How long UPS keeps a subscription (14 days).
    #[serde(
        default = "default_ups_validity",
        deserialize_with = "gluey_ops::duration::deserialize"
    )]
    pub validity: Duration,
    /// Renew this long before the validity ends.
    #[serde(
        default = "default_renew_before",
        deserialize_with = "gluey_ops::duration::deserialize"
    )]
    pub renew_before: Duration,
    /// Tracking numbers per subscribe call, at most 100.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// Track Alert v1 only: where UPS pushes and the credential it sends (v2 manages this in the
    /// UPS portal instead).
    #[serde(default)]
    pub destination: Option<UpsDestination>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsDestination {
    pub url: Url,
    pub credential_type: String,
    pub credential: Secret,
}

/// `[carriers.dhl.subscriptions]`: DHL Unified Push, per tracking number or for one account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhlSubscriptionConfig {
    /// `https://api-eu.dhl.com`.
    pub base_url: Url,
    /// Sent as `DHL-API-Key`.
    pub api_key: Secret,
    /// Where DHL pushes (our ingest endpoint), and the static header and token it sends there.
    pub hook_url: Url,
    pub hook_header: String,
    pub hook_token: Secret,
    /// The DHL service the subscriptions are for, e.g. `parcel-de`, `express`.
    pub service: String,
    #[serde(default = "default_dhl_events")]
    pub events: Vec<String>,
    /// With an account, one subscription covers every shipment of it and registrations make no
    /// calls; without, each registered tracking number is subscribed.
    #[serde(default)]
    pub account_id: Option<String>,
    /// DHL documents no expiry; set one to renew on a schedule anyway.
    #[serde(default, deserialize_with = "gluey_ops::duration::deserialize_option")]
    pub validity: Option<Duration>,
    #[serde(
        default = "default_renew_before",
        deserialize_with = "gluey_ops::duration::deserialize"
    )]
    pub renew_before: Duration,
}

fn default_api_version() -> String {
    "v2".into()
}
fn default_subscription_type() -> String {
    "standard".into()
}
fn default_locale() -> String {
    "en_US".into()
}
fn default_country_code() -> String {
    "US".into()
}
fn default_ups_validity() -> Duration {
    14 * DAY
}
fn default_renew_before() -> Duration {
    2 * DAY
}
fn default_max_batch() -> usize {
    UPS_MAX_BATCH
}
fn default_dhl_events() -> Vec<String> {
    DHL_EVENTS.iter().map(|e| e.to_string()).collect()
}

fn field(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: field.to_string(),
        reason: reason.into(),
    }
}

fn check_url(name: &'static str, url: &Url) -> Result<(), ConfigError> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(field(name, format!("{url} is not an http(s) URL")));
    }
    Ok(())
}

fn check_renewal(
    validity_field: &'static str,
    validity: Duration,
    renew_before: Duration,
) -> Result<(), ConfigError> {
    if validity.is_zero() {
        return Err(field(validity_field, "must be longer than zero"));
    }
    if renew_before >= validity {
        return Err(field(
            validity_field,
            format!("{validity:?} must be longer than renew_before ({renew_before:?})"),
        ));
    }
    Ok(())
}

fn non_empty(name: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(field(name, "must not be empty"));
    }
    Ok(())
}

impl UpsSubscriptionConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_url("carriers.ups.subscriptions.base_url", &self.base_url)?;
        non_empty("carriers.ups.subscriptions.client_id", &self.client_id)?;
        non_empty(
            "carriers.ups.subscriptions.client_secret",
            self.client_secret.expose(),
        )?;
        for (name, value) in [
            ("carriers.ups.subscriptions.api_version", &self.api_version),
            (
                "carriers.ups.subscriptions.subscription_type",
                &self.subscription_type,
            ),
        ] {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(field(name, format!("{value:?} is not a path segment")));
            }
        }
        let locale = self.locale.as_bytes();
        if !(locale.len() == 5
            && locale[..2].iter().all(u8::is_ascii_lowercase)
            && locale[2] == b'_'
            && locale[3..].iter().all(u8::is_ascii_uppercase))
        {
            return Err(field(
                "carriers.ups.subscriptions.locale",
                format!("{:?} is not like en_US", self.locale),
            ));
        }
        if self.country_code.len() != 2
            || !self.country_code.bytes().all(|b| b.is_ascii_uppercase())
        {
            return Err(field(
                "carriers.ups.subscriptions.country_code",
                format!("{:?} is not a two-letter country code", self.country_code),
            ));
        }
        check_renewal(
            "carriers.ups.subscriptions.validity",
            self.validity,
            self.renew_before,
        )?;
        if self.max_batch == 0 || self.max_batch > UPS_MAX_BATCH {
            return Err(field(
                "carriers.ups.subscriptions.max_batch",
                format!("{} is not between 1 and {UPS_MAX_BATCH}", self.max_batch),
            ));
        }
        if let Some(destination) = &self.destination {
            check_url(
                "carriers.ups.subscriptions.destination.url",
                &destination.url,
            )?;
            non_empty(
                "carriers.ups.subscriptions.destination.credential_type",
                &destination.credential_type,
            )?;
            non_empty(
                "carriers.ups.subscriptions.destination.credential",
                destination.credential.expose(),
            )?;
        }
        Ok(())
    }
}

impl DhlSubscriptionConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_url("carriers.dhl.subscriptions.base_url", &self.base_url)?;
        non_empty("carriers.dhl.subscriptions.api_key", self.api_key.expose())?;
        check_url("carriers.dhl.subscriptions.hook_url", &self.hook_url)?;
        if self.hook_header.is_empty()
            || !self
                .hook_header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(field(
                "carriers.dhl.subscriptions.hook_header",
                format!("{:?} is not an HTTP header name", self.hook_header),
            ));
        }
        non_empty(
            "carriers.dhl.subscriptions.hook_token",
            self.hook_token.expose(),
        )?;
        non_empty("carriers.dhl.subscriptions.service", &self.service)?;
        if self.events.is_empty() {
            return Err(field(
                "carriers.dhl.subscriptions.events",
                "at least one event is required",
            ));
        }
        if let Some(unknown) = self
            .events
            .iter()
            .find(|e| !DHL_EVENTS.contains(&e.as_str()))
        {
            return Err(field(
                "carriers.dhl.subscriptions.events",
                format!("{unknown:?} is not one of {}", DHL_EVENTS.join(", ")),
            ));
        }
        if let Some(account) = &self.account_id {
            non_empty("carriers.dhl.subscriptions.account_id", account)?;
        }
        if let Some(validity) = self.validity {
            check_renewal(
                "carriers.dhl.subscriptions.validity",
                validity,
                self.renew_before,
            )?;
        }
        Ok(())
    }
}

/// The carriers this service subscribes with, as the config file has them now.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionCarriers {
    pub ups: Option<UpsSubscriptionConfig>,
    pub dhl: Option<DhlSubscriptionConfig>,
}

/// Everything `run_subscriptions` needs besides Kafka and the codec.
#[derive(Debug, Clone)]
pub struct SubscriptionsConfig {
    pub topics: TopicNames,
    /// Consumer group on `tracking.events.v1` (terminal statuses).
    pub group_id: String,
    /// How often due subscriptions, renewals and lapses are looked at.
    pub tick: Duration,
    /// Pauses before the 1st, 2nd, … retry of a failed subscription; the last one repeats for
    /// calls that failed on our or the carrier's side, and a number the carrier refused is given
    /// up on once the schedule is exhausted.
    pub retry_schedule: Vec<Duration>,
    /// Time limit of one carrier call.
    pub request_timeout: Duration,
    /// How long to wait for Kafka's ack of a state record.
    pub produce_timeout: Duration,
    /// How long the start-up read of the state and registry topics may take.
    pub restore_timeout: Duration,
    /// Reloaded on SIGHUP: credentials, URLs and timings; which carriers are subscribed is fixed
    /// at start.
    pub carriers: Reloadable<SubscriptionCarriers>,
}

#[cfg(test)]
mod tests {
    use crate::config::CarrierPushSection;

    // A carrier that pushes on subscription has its push credentials configured too.
    const UPS: &str = r#"
[carriers.ups]
api_keys = ["id"]
credentials = ["credential"]

[carriers.ups.subscriptions]
base_url = "https://wwwcie.ups.com"
client_id = "id"
client_secret = "${SECRET}"
"#;

    const DHL: &str = r#"
[carriers.dhl]
header = "x-gluey-dhl-token"
tokens = ["token"]

[carriers.dhl.subscriptions]
base_url = "https://api-eu.dhl.com"
api_key = "key"
hook_url = "https://ingest.example.com/carriers/dhl/push"
hook_header = "x-gluey-dhl-token"
hook_token = "token"
service = "parcel-de"
"#;

    #[derive(serde::Deserialize)]
    struct File {
        carriers: CarrierPushSection,
    }

    fn load(text: &str) -> Result<CarrierPushSection, String> {
        let file: File = gluey_ops::config_file::parse_config_text("gluey.toml", text, |_| {
            Some("s3cret".to_string())
        })
        .map_err(|e| e.to_string())?;
        file.carriers.validate().map_err(|e| e.to_string())?;
        Ok(file.carriers)
    }

    #[test]
    fn defaults_follow_the_carriers_documentation() {
        let carriers = load(&format!("{UPS}{DHL}")).unwrap().subscriptions();
        let ups = carriers.ups.unwrap();
        assert_eq!(ups.validity, std::time::Duration::from_secs(14 * 24 * 3600));
        assert_eq!((ups.max_batch, ups.api_version.as_str()), (100, "v2"));
        assert_eq!(ups.client_secret.expose(), "s3cret");
        assert!(
            !format!("{ups:?}").contains("s3cret"),
            "secrets never print"
        );
        let dhl = carriers.dhl.unwrap();
        assert_eq!(dhl.events.len(), 5);
        assert_eq!((dhl.validity, dhl.account_id), (None, None));
    }

    #[test]
    fn bad_values_are_refused_naming_the_field() {
        for (extra, field) in [
            ("max_batch = 101", "carriers.ups.subscriptions.max_batch"),
            ("max_batch = 0", "carriers.ups.subscriptions.max_batch"),
            (
                "validity = \"1d\"\nrenew_before = \"2d\"",
                "carriers.ups.subscriptions.validity",
            ),
            ("locale = \"english\"", "carriers.ups.subscriptions.locale"),
            (
                "country_code = \"usa\"",
                "carriers.ups.subscriptions.country_code",
            ),
            (
                "api_version = \"v2/../x\"",
                "carriers.ups.subscriptions.api_version",
            ),
        ] {
            let err = load(&format!("{UPS}{extra}\n")).unwrap_err();
            assert!(err.contains(field), "{extra}: {err}");
        }
        for (extra, field) in [
            (
                "events = [\"Teleported\"]",
                "carriers.dhl.subscriptions.events",
            ),
            (
                "account_id = \" \"",
                "carriers.dhl.subscriptions.account_id",
            ),
            ("validity = \"1h\"", "carriers.dhl.subscriptions.validity"),
        ] {
            let err = load(&format!("{DHL}{extra}\n")).unwrap_err();
            assert!(err.contains(field), "{extra}: {err}");
        }
        let err = load(&DHL.replace(
            "hook_header = \"x-gluey-dhl-token\"",
            "hook_header = \"x token\"",
        ))
        .unwrap_err();
        assert!(
            err.contains("carriers.dhl.subscriptions.hook_header"),
            "{err}"
        );
        // The hook must be one the push route accepts.
        for (from, to, field) in [
            (
                "hook_header = \"x-gluey-dhl-token\"",
                "hook_header = \"x-other\"",
                "carriers.dhl.subscriptions.hook_header",
            ),
            (
                "hook_token = \"token\"",
                "hook_token = \"other\"",
                "carriers.dhl.subscriptions.hook_token",
            ),
        ] {
            let err = load(&DHL.replace(from, to)).unwrap_err();
            assert!(err.contains(field), "{to}: {err}");
        }
        let err = load(&UPS.replace("https://wwwcie.ups.com", "ftp://ups.example")).unwrap_err();
        assert!(err.contains("carriers.ups.subscriptions.base_url"), "{err}");
        let err = load(&format!("{UPS}validity = \"soon\"\n")).unwrap_err();
        assert!(err.contains("validity"), "{err}");
    }
}
