//! What one subscribe call to a carrier comes back with, whichever carrier: per subject
//! accepted, refused or unconfirmed, or an error for the call as a whole that says whether and
//! when to try again. Bodies of carrier answers are never logged (they may echo credentials);
//! only status codes and the carrier's error codes are.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

/// The per-subject result of a call the carrier answered.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    /// Subscribed, with the carrier's subscription id when it gives one.
    pub accepted: Vec<(String, Option<String>)>,
    /// Refused by the carrier, with its reason (UPS `invalidTrackingNumbers`).
    pub refused: Vec<(String, String)>,
    /// Sent but named in neither list: not known to be subscribed.
    pub unconfirmed: Vec<String>,
}

impl CallOutcome {
    /// The `outcome` label of `ingest_subscription_calls_total`.
    pub fn label(&self) -> &'static str {
        match (
            self.accepted.is_empty(),
            self.refused.is_empty() && self.unconfirmed.is_empty(),
        ) {
            (false, true) => "ok",
            (false, false) => "partial",
            (true, _) => "refused",
        }
    }
}

/// A call that failed as a whole.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    /// 429: nothing more to this carrier until `retry_after` (or the first retry pause).
    #[error("throttled by the carrier (429)")]
    Throttled { retry_after: Option<Duration> },
    /// Transport error, timeout or 5xx: the carrier may answer later.
    #[error("carrier unavailable: {0}")]
    Unavailable(String),
    /// The carrier refused our credentials (after a fresh token, for OAuth).
    #[error("carrier refused the credentials: {0}")]
    Unauthorized(String),
    /// The carrier refused the request itself (4xx): usually our configuration; retried in case
    /// a reload fixes it.
    #[error("carrier rejected the request: {0}")]
    Rejected(String),
}

impl CallError {
    /// The `outcome` label of `ingest_subscription_calls_total`.
    pub fn label(&self) -> &'static str {
        match self {
            CallError::Throttled { .. } => "throttled",
            CallError::Unavailable(_) => "unavailable",
            CallError::Unauthorized(_) => "unauthorized",
            CallError::Rejected(_) => "rejected",
        }
    }

    pub(crate) fn from_transport(e: reqwest::Error) -> CallError {
        // Without the URL: it may carry credentials in a query one day.
        CallError::Unavailable(e.without_url().to_string())
    }

    /// The error for a status that is not a success, with `detail` (a carrier error code).
    pub(crate) fn from_status(status: StatusCode, headers: &HeaderMap, detail: &str) -> CallError {
        let what = if detail.is_empty() {
            format!("HTTP {}", status.as_u16())
        } else {
            format!("HTTP {} {detail}", status.as_u16())
        };
        match status {
            StatusCode::TOO_MANY_REQUESTS => CallError::Throttled {
                retry_after: retry_after(headers),
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => CallError::Unauthorized(what),
            s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
                CallError::Unavailable(what)
            }
            _ => CallError::Rejected(what),
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by these carriers).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_and_retry_after_read() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(
            CallError::from_status(StatusCode::TOO_MANY_REQUESTS, &headers, ""),
            CallError::Throttled {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        let none = HeaderMap::new();
        assert_eq!(
            CallError::from_status(StatusCode::BAD_GATEWAY, &none, "").label(),
            "unavailable"
        );
        assert_eq!(
            CallError::from_status(StatusCode::BAD_REQUEST, &none, "VSS300"),
            CallError::Rejected("HTTP 400 VSS300".into())
        );
        assert_eq!(
            CallError::from_status(StatusCode::UNAUTHORIZED, &none, "").label(),
            "unauthorized"
        );
    }

    #[test]
    fn outcome_labels() {
        let ok = CallOutcome {
            accepted: vec![("A".into(), None)],
            ..CallOutcome::default()
        };
        assert_eq!(ok.label(), "ok");
        let partial = CallOutcome {
            refused: vec![("B".into(), "invalid".into())],
            ..ok.clone()
        };
        assert_eq!(partial.label(), "partial");
        assert_eq!(
            CallOutcome {
                unconfirmed: vec!["C".into()],
                ..CallOutcome::default()
            }
            .label(),
            "refused"
        );
    }
}
