//! DHL Unified Push subscriptions (CARRIERS.md 1.1): `POST {base}/tracking/push/v1/subscription`
//! with header `DHL-API-Key` and `{hook{uri, authentication{type: ApiKeyAuthentication, header,
//! token}}, format, type, service, events}` plus `accountID` for an account subscription or
//! `trackingNumber` for one shipment, one subject per call. Errors are RFC 7807 problem JSON; a
//! 400/404/422 for a tracking number refuses that number.

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::call::{CallError, CallOutcome};
use super::config::DhlSubscriptionConfig;

/// Prefix of an account subject in the book.
pub const ACCOUNT_PREFIX: &str = "account:";

#[derive(Debug)]
pub struct DhlClient {
    http: reqwest::Client,
}

#[derive(Deserialize, Default)]
struct Problem {
    #[serde(default)]
    title: String,
    #[serde(default)]
    detail: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Created {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    subscription_id: Option<String>,
}

impl DhlClient {
    pub fn new(http: reqwest::Client) -> DhlClient {
        DhlClient { http }
    }

    /// Subscribes one subject: a tracking number, or `account:<id>`.
    pub async fn subscribe(
        &self,
        config: &DhlSubscriptionConfig,
        subject: &str,
    ) -> Result<CallOutcome, CallError> {
        let mut body = json!({
            "hook": {
                "uri": config.hook_url.as_str(),
                "authentication": {
                    "type": "ApiKeyAuthentication",
                    "header": config.hook_header,
                    "token": config.hook_token.expose(),
                },
            },
            "format": "Default",
            "service": config.service,
            "events": config.events,
        });
        let account = subject.strip_prefix(ACCOUNT_PREFIX);
        match account {
            Some(id) => {
                body["type"] = "Account".into();
                body["accountID"] = id.into();
            }
            None => {
                body["type"] = "TrackingNumber".into();
                body["trackingNumber"] = subject.into();
            }
        }
        let url = format!(
            "{}/tracking/push/v1/subscription",
            config.base_url.as_str().trim_end_matches('/')
        );
        let response = self
            .http
            .post(url)
            .header("DHL-API-Key", config.api_key.expose())
            .json(&body)
            .send()
            .await
            .map_err(CallError::from_transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(CallError::from_transport)?;
        if status.is_success() {
            let created: Created = serde_json::from_slice(&bytes).unwrap_or_default();
            return Ok(CallOutcome {
                accepted: vec![(subject.to_string(), created.id.or(created.subscription_id))],
                ..CallOutcome::default()
            });
        }
        let problem: Problem = serde_json::from_slice(&bytes).unwrap_or_default();
        let refuses_number = account.is_none()
            && matches!(
                status,
                StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY
            );
        if refuses_number {
            let reason = if problem.detail.is_empty() {
                format!("DHL answered {}", status.as_u16())
            } else {
                format!("DHL answered {}: {}", status.as_u16(), problem.detail)
            };
            return Ok(CallOutcome {
                refused: vec![(subject.to_string(), reason)],
                ..CallOutcome::default()
            });
        }
        Err(CallError::from_status(status, &headers, &problem.title))
    }
}
