//! The simulated UPS: `POST /security/v1/oauth/token` (client credentials, HTTP Basic) issues
//! bearer tokens that expire; `POST /api/track/{v1|v2}/subscription/standard/package` checks the
//! token (401 `UJ0001`), the `transId` / `transactionSrc` headers (`VSS002`, `VSS004`), the body
//! (`VSS000`, `VSS200`, `VSS300`, `VSS310`, `VSS400`, v1's `destination` `VSS500`), refuses more than
//! 100 numbers whole (`VSS220`), sorts the numbers into `validTrackingNumbers` /
//! `invalidTrackingNumbers` (a 1Z number is `1Z` + 16 letters or digits), answers 400 `VSS210`
//! when none is valid, and grants each valid number a subscription of `validity`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warp::http::{HeaderMap, Response, StatusCode};
use warp::Filter;

use super::{json_response, lock, too_many_requests, Granted, Ledger, Throttle};

/// UPS's limit per subscribe call.
pub const MAX_NUMBERS: usize = 100;

#[derive(Debug, Clone)]
pub struct UpsSettings {
    pub client_id: String,
    pub client_secret: String,
    /// `expires_in` of the tokens it issues (UPS: about 4 hours).
    pub token_lifetime: Duration,
    /// How long a subscription lasts (UPS: 14 days).
    pub validity: Duration,
    /// Print one line per call (for `gluey dev`).
    pub print: bool,
}

impl UpsSettings {
    pub fn new(client_id: &str, client_secret: &str) -> UpsSettings {
        UpsSettings {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            token_lifetime: Duration::from_secs(14_399),
            validity: Duration::from_secs(14 * 24 * 3600),
            print: false,
        }
    }
}

/// One subscribe call as UPS received it.
#[derive(Debug, Clone)]
pub struct UpsCall {
    pub status: u16,
    /// The UPS error code of a refused call (`VSS220`, `UJ0001`, `10429`, …).
    pub error_code: Option<String>,
    pub numbers: Vec<String>,
    pub valid: Vec<String>,
    pub invalid: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    calls: Vec<UpsCall>,
    token_requests: usize,
    tokens: Vec<(String, Instant)>,
    ledger: Ledger,
    throttle: Throttle,
}

/// A running simulated UPS subscription API.
#[derive(Debug, Clone)]
pub struct UpsSubscriptionApi {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

fn ups_error(status: StatusCode, code: &str, message: &str) -> Response<Bytes> {
    json_response(
        status,
        &json!({"response": {"errors": [{"code": code, "message": message}]}}),
    )
}

fn is_1z(number: &str) -> bool {
    number.len() == 18
        && number.starts_with("1Z")
        && number[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl UpsSubscriptionApi {
    pub async fn start(
        listen: SocketAddr,
        settings: UpsSettings,
        shutdown: CancellationToken,
    ) -> std::io::Result<UpsSubscriptionApi> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let settings = Arc::new(settings);
        let token = warp::path!("security" / "v1" / "oauth" / "token")
            .and(warp::post())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .map({
                let (state, settings) = (state.clone(), settings.clone());
                move |headers: HeaderMap, body: Bytes| {
                    issue_token(&state, &settings, &headers, &body)
                }
            });
        let subscribe = warp::path!("api" / "track" / String / "subscription" / String / "package")
            .and(warp::post())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .map({
                let (state, settings) = (state.clone(), settings.clone());
                move |version: String, kind: String, headers: HeaderMap, body: Bytes| {
                    subscribe(&state, &settings, &version, &kind, &headers, &body)
                }
            });
        tokio::spawn(gluey_ops::serve(listener, token.or(subscribe), shutdown));
        Ok(UpsSubscriptionApi { addr, state })
    }

    /// What to configure as `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every subscribe call so far, in arrival order.
    pub fn calls(&self) -> Vec<UpsCall> {
        lock(&self.state).calls.clone()
    }

    pub fn token_requests(&self) -> usize {
        lock(&self.state).token_requests
    }

    /// What UPS granted `number` so far.
    pub fn granted(&self, number: &str) -> Option<Granted> {
        lock(&self.state).ledger.granted.get(number).cloned()
    }

    /// The next subscribe call is answered 429 with `Retry-After: retry_after`.
    pub fn throttle_next(&self, retry_after: Duration) {
        lock(&self.state).throttle.armed = Some(retry_after);
    }

    /// Calls that came back while a `Retry-After` was still running.
    pub fn early_retries(&self) -> usize {
        lock(&self.state).throttle.early_retries
    }
}

fn issue_token(
    state: &Mutex<State>,
    settings: &UpsSettings,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<Bytes> {
    let mut state = lock(state);
    state.token_requests += 1;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", settings.client_id, settings.client_secret))
    );
    if header(headers, "authorization") != Some(expected.as_str()) {
        return ups_error(
            StatusCode::UNAUTHORIZED,
            "250003",
            "Invalid Authentication Information.",
        );
    }
    let form = String::from_utf8_lossy(body);
    if !form
        .split('&')
        .any(|pair| pair == "grant_type=client_credentials")
    {
        return ups_error(
            StatusCode::BAD_REQUEST,
            "10400",
            "Invalid/Missing grant_type.",
        );
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    let now = Instant::now();
    state
        .tokens
        .push((token.clone(), now + settings.token_lifetime));
    json_response(
        StatusCode::OK,
        &json!({
            "token_type": "Bearer",
            "issued_at": chrono::Utc::now().timestamp_millis().to_string(),
            "client_id": settings.client_id,
            "access_token": token,
            "expires_in": settings.token_lifetime.as_secs().to_string(),
            "refresh_count": "0",
            "status": "approved",
        }),
    )
}

fn subscribe(
    state: &Mutex<State>,
    settings: &UpsSettings,
    version: &str,
    kind: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<Bytes> {
    let mut state = lock(state);
    let now = Instant::now();
    let request: Option<Value> = serde_json::from_slice(body).ok();
    let numbers: Vec<String> = request
        .as_ref()
        .and_then(|r| r["trackingNumberList"].as_array())
        .map(|list| {
            list.iter()
                .map(|n| n.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    let refuse = |state: &mut State, status: StatusCode, code: &str, message: &str| {
        state.calls.push(UpsCall {
            status: status.as_u16(),
            error_code: Some(code.to_string()),
            numbers: numbers.clone(),
            valid: Vec::new(),
            invalid: Vec::new(),
        });
        if settings.print {
            println!(
                "ups       ← subscribe {} numbers → {} {code}",
                numbers.len(),
                status.as_u16()
            );
        }
        ups_error(status, code, message)
    };

    let bearer = header(headers, "authorization").and_then(|v| v.strip_prefix("Bearer "));
    let token_ok = bearer.is_some_and(|t| {
        state
            .tokens
            .iter()
            .any(|(issued, expires)| issued == t && now < *expires)
    });
    if !token_ok {
        return refuse(
            &mut state,
            StatusCode::UNAUTHORIZED,
            "UJ0001",
            "Invalid token or token is not present.",
        );
    }
    if let Some(retry_after) = state.throttle.check(now) {
        state.calls.push(UpsCall {
            status: 429,
            error_code: Some("10429".into()),
            numbers: numbers.clone(),
            valid: Vec::new(),
            invalid: Vec::new(),
        });
        return too_many_requests(
            retry_after,
            &json!({"response": {"errors": [{"code": "10429", "message": "Too Many Requests"}]}}),
        );
    }
    if !matches!(version, "v1" | "v2") || kind != "standard" {
        return refuse(
            &mut state,
            StatusCode::BAD_REQUEST,
            "VSS930",
            "Type is missing or invalid, The Subscription request has been rejected.",
        );
    }
    match header(headers, "transId") {
        None => {
            return refuse(
                &mut state,
                StatusCode::BAD_REQUEST,
                "VSS002",
                "Missing transId.",
            )
        }
        Some(id) if id.is_empty() || id.len() > 32 => {
            return refuse(
                &mut state,
                StatusCode::BAD_REQUEST,
                "VSS003",
                "Please enter a valid Transaction ID, The Subscription request has been rejected.",
            )
        }
        Some(_) => {}
    }
    if header(headers, "transactionSrc").is_none_or(str::is_empty) {
        return refuse(
            &mut state,
            StatusCode::BAD_REQUEST,
            "VSS004",
            "Missing transactionSrc.",
        );
    }
    let Some(request) = request else {
        return refuse(
            &mut state,
            StatusCode::BAD_REQUEST,
            "VSS000",
            "Invalid request and The Subscription request has been rejected.",
        );
    };
    let locale = request["locale"].as_str().unwrap_or_default();
    if locale.is_empty() {
        return refuse(
            &mut state,
            StatusCode::BAD_REQUEST,
            "VSS300",
            "Locale is required. The Subscription request has been rejected.",
        );
    }
    let bytes = locale.as_bytes();
    let locale_ok = bytes.len() == 5
        && bytes[..2].iter().all(u8::is_ascii_lowercase)
        && bytes[2] == b'_'
        && bytes[3..].iter().all(u8::is_ascii_uppercase);
    if !locale_ok {
        return refuse(
            &mut state,
            StatusCode::BAD_REQUEST,
            "VSS310",
            "Please enter a valid locale. The Subscription request has been rejected.",
        );
    }
    let country = request["countryCode"].as_str().unwrap_or_default();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return refuse(
            &mut state,
            StatusCode::BAD_REQUEST,
            "VSS400",
            "Please enter a valid country code. The Subscription request has been rejected.",
        );
    }
    if version == "v1" && !request["destination"].is_object() {
        return refuse(
            &mut state,
            StatusCode::BAD_REQUEST,
            "VSS500",
            "Destination is required. The Subscription request has been rejected.",
        );
    }
    if numbers.is_empty() {
        return refuse(
            &mut state,
            StatusCode::BAD_REQUEST,
            "VSS200",
            "Tracking Number List is required. The Subscription request has been rejected.",
        );
    }
    if numbers.len() > MAX_NUMBERS {
        return refuse(
            &mut state,
            StatusCode::BAD_REQUEST,
            "VSS220",
            "You have submitted over 100 1Z numbers which is not allowed. The entire submission of 1Z numbers has been rejected. Please resubmit your request again using groups of no more than 100 1Z numbers.",
        );
    }
    let (valid, invalid): (Vec<String>, Vec<String>) =
        numbers.iter().cloned().partition(|n| is_1z(n));
    let status = if valid.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    for number in &valid {
        state.ledger.grant(number, now, Some(settings.validity));
    }
    state.calls.push(UpsCall {
        status: status.as_u16(),
        error_code: valid.is_empty().then(|| "VSS210".to_string()),
        numbers: numbers.clone(),
        valid: valid.clone(),
        invalid: invalid.clone(),
    });
    if settings.print {
        println!(
            "ups       ← subscribe {} numbers → {} ({} valid, {} invalid)",
            numbers.len(),
            status.as_u16(),
            valid.len(),
            invalid.len()
        );
    }
    if valid.is_empty() {
        return json_response(
            status,
            &json!({
                "response": {"errors": [{"code": "VSS210", "message": "The Subscription request should have at least one valid tracking number. The Subscription request has been rejected."}]},
                "invalidTrackingNumbers": invalid,
            }),
        );
    }
    json_response(
        status,
        &json!({"validTrackingNumbers": valid, "invalidTrackingNumbers": invalid}),
    )
}
