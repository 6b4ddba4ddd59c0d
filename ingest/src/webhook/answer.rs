//! What ingest answers a carrier: a status, a short JSON body `{"status"|"error", ...}`, and
//! `Retry-After` when the carrier should come back later.

use std::time::Duration;

use warp::http::StatusCode;
use warp::Reply;

#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub message: String,
    /// The `outcome` metric label.
    pub outcome: &'static str,
    /// Set on rejections: the metric label and log reason.
    pub reason: Option<&'static str>,
    pub retry_after: Option<Duration>,
    pub records: Option<usize>,
    pub request_id: Option<String>,
}

impl Answer {
    fn new(status: StatusCode, message: String, outcome: &'static str) -> Answer {
        Answer {
            status,
            message,
            outcome,
            reason: None,
            retry_after: None,
            records: None,
            request_id: None,
        }
    }

    pub fn accepted(records: usize) -> Answer {
        Answer {
            records: Some(records),
            ..Answer::new(StatusCode::OK, "accepted".into(), "accepted")
        }
    }

    /// A delivery id we already stored: the sender's retry gets 2xx and nothing is produced.
    pub fn duplicate() -> Answer {
        Answer {
            records: Some(0),
            ..Answer::new(StatusCode::OK, "already accepted".into(), "duplicate")
        }
    }

    pub fn rejected(status: StatusCode, message: String, reason: &'static str) -> Answer {
        Answer {
            reason: Some(reason),
            ..Answer::new(status, message, "rejected")
        }
    }

    pub fn throttled(retry_after: Duration) -> Answer {
        Answer {
            reason: Some("rate_limited"),
            retry_after: Some(retry_after),
            ..Answer::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many pushes; retry later".into(),
                "throttled",
            )
        }
    }

    pub fn error(status: StatusCode, message: &str, reason: Option<&'static str>) -> Answer {
        Answer {
            reason,
            ..Answer::new(status, message.into(), "failed")
        }
    }

    pub fn unavailable(message: &str, reason: &'static str, retry_after: Duration) -> Answer {
        Answer {
            reason: Some(reason),
            retry_after: Some(retry_after),
            ..Answer::new(
                StatusCode::SERVICE_UNAVAILABLE,
                message.into(),
                "unavailable",
            )
        }
    }

    pub fn with_request_id(mut self, request_id: &str) -> Answer {
        self.request_id = Some(request_id.to_string());
        self
    }

    pub fn into_response(self) -> warp::reply::Response {
        let mut body = serde_json::Map::new();
        if self.status.is_success() {
            body.insert("status".into(), self.message.into());
        } else {
            body.insert("error".into(), self.message.into());
        }
        if let Some(records) = self.records {
            body.insert("records".into(), records.into());
        }
        if let Some(id) = self.request_id {
            body.insert("request_id".into(), id.into());
        }
        let mut response =
            warp::reply::with_status(warp::reply::json(&body), self.status).into_response();
        if let Some(after) = self.retry_after {
            // Whole seconds, rounded up: coming back early would only be refused again.
            let seconds = after.as_millis().div_ceil(1000).max(1);
            if let Ok(v) = seconds.to_string().parse() {
                response.headers_mut().insert("retry-after", v);
            }
        }
        response
    }
}

/// Turns warp's own rejections (wrong method, bad header) into the same JSON answers.
pub async fn recover(
    rejection: warp::Rejection,
) -> Result<warp::reply::Response, std::convert::Infallible> {
    let answer = if rejection.is_not_found() {
        Answer::error(StatusCode::NOT_FOUND, "no such endpoint", None)
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        Answer::error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed", None)
    } else if rejection.find::<warp::reject::InvalidHeader>().is_some() {
        Answer::error(StatusCode::BAD_REQUEST, "invalid header", None)
    } else {
        Answer::error(StatusCode::BAD_REQUEST, "bad request", None)
    };
    Ok(answer.into_response())
}
