//! The simulated DHL Unified Push: `POST /tracking/push/v1/subscription` checks `DHL-API-Key`
//! (401 problem JSON), the body (`hook.uri`, `hook.authentication` of type
//! `ApiKeyAuthentication` with a header and token, `format`, `service`, an `events` filter of
//! `Pre-Transit, Transit, Delivered, Failure, Unknown`, and `type` `Account` with `accountID` or
//! `TrackingNumber` with `trackingNumber`), answers 201 with the subscription's id, 404 for a
//! tracking number it does not know (told with `unknown_numbers`), and problem JSON for the rest
//! (RFC 7807, as DHL's APIs answer).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warp::http::{HeaderMap, Response, StatusCode};
use warp::Filter;

use super::{json_response, lock, too_many_requests, Granted, Ledger, Throttle};

const EVENTS: [&str; 5] = ["Pre-Transit", "Transit", "Delivered", "Failure", "Unknown"];

/// One subscribe call as DHL received it (the hook token is not kept).
#[derive(Debug, Clone)]
pub struct DhlCall {
    pub status: u16,
    /// `trackingNumber`, or `account:<accountID>`.
    pub subject: Option<String>,
    pub hook_uri: Option<String>,
    pub hook_header: Option<String>,
    /// Whether the hook token was the one the simulator was told to expect.
    pub hook_token_ok: bool,
    pub service: Option<String>,
    pub events: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    calls: Vec<DhlCall>,
    ledger: Ledger,
    throttle: Throttle,
    unknown: HashSet<String>,
}

/// A running simulated DHL push subscription API.
#[derive(Debug, Clone)]
pub struct DhlSubscriptionApi {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

fn problem(status: StatusCode, title: &str, detail: &str) -> Response<Bytes> {
    json_response(
        status,
        &json!({"type": "about:blank", "title": title, "status": status.as_u16(), "detail": detail, "instance": "/tracking/push/v1/subscription"}),
    )
}

impl DhlSubscriptionApi {
    /// `api_key` is what `DHL-API-Key` must carry; `hook_token` what the hook's token should be.
    pub async fn start(
        listen: SocketAddr,
        api_key: &str,
        hook_token: &str,
        shutdown: CancellationToken,
    ) -> std::io::Result<DhlSubscriptionApi> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let (api_key, hook_token) = (api_key.to_string(), hook_token.to_string());
        let route = warp::path!("tracking" / "push" / "v1" / "subscription")
            .and(warp::post())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .map({
                let state = state.clone();
                move |headers: HeaderMap, body: Bytes| {
                    subscribe(&state, &api_key, &hook_token, &headers, &body)
                }
            });
        tokio::spawn(gluey_ops::serve(listener, route, shutdown));
        Ok(DhlSubscriptionApi { addr, state })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn calls(&self) -> Vec<DhlCall> {
        lock(&self.state).calls.clone()
    }

    pub fn granted(&self, subject: &str) -> Option<Granted> {
        lock(&self.state).ledger.granted.get(subject).cloned()
    }

    /// Tracking numbers answered 404 "No shipment with given tracking number found."
    pub fn unknown_numbers(&self, numbers: &[&str]) {
        lock(&self.state)
            .unknown
            .extend(numbers.iter().map(|n| n.to_string()));
    }

    pub fn throttle_next(&self, retry_after: Duration) {
        lock(&self.state).throttle.armed = Some(retry_after);
    }

    pub fn early_retries(&self) -> usize {
        lock(&self.state).throttle.early_retries
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn subscribe(
    state: &Mutex<State>,
    api_key: &str,
    hook_token: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<Bytes> {
    let mut state = lock(state);
    let now = Instant::now();
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let hook = &request["hook"];
    let auth = &hook["authentication"];
    let kind = request["type"].as_str().unwrap_or_default();
    let subject = match kind {
        "Account" => text(&request["accountID"]).map(|id| format!("account:{id}")),
        _ => text(&request["trackingNumber"]),
    };
    let mut call = DhlCall {
        status: 0,
        subject: subject.clone(),
        hook_uri: text(&hook["uri"]),
        hook_header: text(&auth["header"]),
        hook_token_ok: auth["token"].as_str() == Some(hook_token),
        service: text(&request["service"]),
        events: request["events"]
            .as_array()
            .map(|e| e.iter().filter_map(text).collect())
            .unwrap_or_default(),
    };
    let response = if headers.get("DHL-API-Key").and_then(|v| v.to_str().ok()) != Some(api_key) {
        problem(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Invalid or missing API key.",
        )
    } else if let Some(retry_after) = state.throttle.check(now) {
        too_many_requests(
            retry_after,
            &json!({"status": 429, "title": "Too Many Requests", "detail": "Too many requests within defined time period, please try again later."}),
        )
    } else if request.is_null() {
        problem(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "The body is not JSON.",
        )
    } else if call.hook_uri.is_none()
        || auth["type"].as_str() != Some("ApiKeyAuthentication")
        || call.hook_header.is_none()
        || text(&auth["token"]).is_none()
    {
        problem(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "hook.uri and an ApiKeyAuthentication with header and token are required.",
        )
    } else if call.service.is_none() || request["format"].as_str().is_none() {
        problem(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "service and format are required.",
        )
    } else if call.events.is_empty() || call.events.iter().any(|e| !EVENTS.contains(&e.as_str())) {
        problem(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "events must be a non-empty subset of Pre-Transit, Transit, Delivered, Failure, Unknown.",
        )
    } else if !matches!(kind, "Account" | "TrackingNumber") || subject.is_none() {
        problem(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "type must be Account (with accountID) or TrackingNumber (with trackingNumber).",
        )
    } else if subject.as_ref().is_some_and(|s| state.unknown.contains(s)) {
        problem(
            StatusCode::NOT_FOUND,
            "No shipment found",
            "No shipment with given tracking number found.",
        )
    } else {
        let id = uuid::Uuid::new_v4().to_string();
        if let Some(subject) = &subject {
            state.ledger.grant(subject, now, None);
        }
        json_response(
            StatusCode::CREATED,
            &json!({"id": id, "type": kind, "service": call.service}),
        )
    };
    call.status = response.status().as_u16();
    state.calls.push(call);
    response
}
