//! UPS Track Alert subscriptions (CARRIERS.md 1.7): `POST {base}/api/track/{version}/subscription/
//! {type}/package` with `{locale, countryCode, trackingNumberList[≤100]}`, answered with
//! `validTrackingNumbers` / `invalidTrackingNumbers`; a request where none is valid is a 400
//! (VSS210) that still lists the invalid ones. Authentication is an OAuth client-credentials
//! bearer token from `{base}/security/v1/oauth/token` (client_secret_basic), cached until shortly
//! before it expires: UPS names a token per call as a trigger for throttling.

use std::time::{Duration, Instant};

use gluey_ops::Secret;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::call::{CallError, CallOutcome};
use super::config::UpsSubscriptionConfig;

/// Refresh a token this long before UPS says it expires (at most; a tenth of its life if shorter).
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

struct CachedToken {
    token: Secret,
    refresh_at: Instant,
    /// The credentials it was issued for: a reload with new ones fetches a new token.
    issued_for: (String, String, Secret),
}

pub struct UpsClient {
    http: reqwest::Client,
    token: Option<CachedToken>,
}

impl std::fmt::Debug for UpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpsClient")
            .field("token_cached", &self.token.is_some())
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    /// UPS sends it as a string (`"14399"`); accept a number too.
    expires_in: serde_json::Value,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SubscribeResponse {
    #[serde(default)]
    valid_tracking_numbers: Vec<String>,
    #[serde(default)]
    invalid_tracking_numbers: Vec<String>,
    #[serde(default)]
    response: Option<ErrorList>,
    #[serde(default)]
    errors: Vec<UpsError>,
}

#[derive(Deserialize, Default)]
struct ErrorList {
    #[serde(default)]
    errors: Vec<UpsError>,
}

#[derive(Deserialize)]
struct UpsError {
    #[serde(default)]
    code: String,
}

impl SubscribeResponse {
    /// The UPS error codes of an error answer, e.g. `VSS220`.
    fn codes(&self) -> String {
        self.response
            .iter()
            .flat_map(|r| &r.errors)
            .chain(&self.errors)
            .map(|e| e.code.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn url(config: &UpsSubscriptionConfig, path: &str) -> String {
    format!("{}{path}", config.base_url.as_str().trim_end_matches('/'))
}

impl UpsClient {
    pub fn new(http: reqwest::Client) -> UpsClient {
        UpsClient { http, token: None }
    }

    /// Subscribes `numbers` (at most `max_batch`) in one call.
    pub async fn subscribe(
        &mut self,
        config: &UpsSubscriptionConfig,
        numbers: &[String],
    ) -> Result<CallOutcome, CallError> {
        let token = self.token(config).await?;
        let mut response = self.post(config, &token, numbers).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            // Revoked or expired early: one fresh token, one more try.
            self.token = None;
            let token = self.token(config).await?;
            response = self.post(config, &token, numbers).await?;
        }
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(CallError::from_transport)?;
        let parsed: Option<SubscribeResponse> = serde_json::from_slice(&body).ok();
        let listed = parsed.as_ref().is_some_and(|p| {
            !p.valid_tracking_numbers.is_empty() || !p.invalid_tracking_numbers.is_empty()
        });
        if status.is_success() || (status == StatusCode::BAD_REQUEST && listed) {
            let parsed = parsed.ok_or_else(|| {
                CallError::Unavailable(format!(
                    "HTTP {} with a body that is not a subscription response",
                    status.as_u16()
                ))
            })?;
            return Ok(outcome(numbers, parsed));
        }
        let codes = parsed.map(|p| p.codes()).unwrap_or_default();
        Err(CallError::from_status(status, &headers, &codes))
    }

    async fn post(
        &self,
        config: &UpsSubscriptionConfig,
        token: &Secret,
        numbers: &[String],
    ) -> Result<reqwest::Response, CallError> {
        let mut body = json!({
            "locale": config.locale,
            "countryCode": config.country_code,
            "trackingNumberList": numbers,
        });
        if let Some(destination) = &config.destination {
            body["destination"] = json!({
                "url": destination.url.as_str(),
                "credentialType": destination.credential_type,
                "credential": destination.credential.expose(),
            });
        }
        let path = format!(
            "/api/track/{}/subscription/{}/package",
            config.api_version, config.subscription_type
        );
        self.http
            .post(url(config, &path))
            .bearer_auth(token.expose())
            .header("transId", uuid::Uuid::new_v4().simple().to_string())
            .header("transactionSrc", "gluey")
            .json(&body)
            .send()
            .await
            .map_err(CallError::from_transport)
    }

    /// The cached token, or a new one.
    async fn token(&mut self, config: &UpsSubscriptionConfig) -> Result<Secret, CallError> {
        let credentials = (
            config.base_url.to_string(),
            config.client_id.clone(),
            config.client_secret.clone(),
        );
        if let Some(cached) = &self.token {
            if cached.issued_for == credentials && Instant::now() < cached.refresh_at {
                return Ok(cached.token.clone());
            }
        }
        let response = self
            .http
            .post(url(config, "/security/v1/oauth/token"))
            .basic_auth(&config.client_id, Some(config.client_secret.expose()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .map_err(CallError::from_transport)?;
        let status = response.status();
        if !status.is_success() {
            let headers = response.headers().clone();
            return Err(
                match CallError::from_status(status, &headers, "oauth token") {
                    CallError::Rejected(what) => CallError::Unauthorized(what),
                    other => other,
                },
            );
        }
        let parsed: TokenResponse = response.json().await.map_err(|e| {
            CallError::Unavailable(format!(
                "oauth token answer unreadable: {}",
                e.without_url()
            ))
        })?;
        let lifetime = match &parsed.expires_in {
            serde_json::Value::String(s) => s.trim().parse::<u64>().ok(),
            serde_json::Value::Number(n) => n.as_u64(),
            _ => None,
        }
        .map(Duration::from_secs)
        .ok_or_else(|| CallError::Unavailable("oauth token answer has no expires_in".into()))?;
        let margin = TOKEN_MARGIN.min(lifetime / 10);
        let token = Secret::new(parsed.access_token);
        self.token = Some(CachedToken {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(margin),
            issued_for: credentials,
        });
        tracing::info!(
            carrier = "ups",
            expires_in_s = lifetime.as_secs(),
            "oauth token obtained"
        );
        Ok(token)
    }
}

/// Sorts the numbers sent into accepted, refused and unconfirmed.
fn outcome(sent: &[String], response: SubscribeResponse) -> CallOutcome {
    let mut outcome = CallOutcome::default();
    for number in sent {
        if response.valid_tracking_numbers.contains(number) {
            outcome.accepted.push((number.clone(), None));
        } else if response.invalid_tracking_numbers.contains(number) {
            outcome.refused.push((
                number.clone(),
                "UPS listed it as an invalid tracking number".into(),
            ));
        } else {
            outcome.unconfirmed.push(number.clone());
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_sorted_by_the_lists_ups_returns() {
        let response: SubscribeResponse = serde_json::from_str(
            r#"{"validTrackingNumbers":["1ZA"],"invalidTrackingNumbers":["1Z$"]}"#,
        )
        .unwrap();
        let sent = ["1ZA", "1Z$", "1ZC"].map(String::from);
        let outcome = outcome(&sent, response);
        assert_eq!(outcome.accepted, vec![("1ZA".to_string(), None)]);
        assert_eq!(outcome.refused.len(), 1);
        assert_eq!(outcome.unconfirmed, vec!["1ZC".to_string()]);
    }

    #[test]
    fn error_codes_are_read_from_either_error_shape() {
        let nested: SubscribeResponse = serde_json::from_str(
            r#"{"response":{"errors":[{"code":"VSS220","message":"over 100"}]}}"#,
        )
        .unwrap();
        assert_eq!(nested.codes(), "VSS220");
        let flat: SubscribeResponse =
            serde_json::from_str(r#"{"errors":[{"code":"UJ0001","message":"bad token"}]}"#)
                .unwrap();
        assert_eq!(flat.codes(), "UJ0001");
    }
}
