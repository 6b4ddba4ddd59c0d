//! A customer's webhook endpoint that answers as it is told: a list of answers in order, then a
//! default (a status, a status with `Retry-After`, a redirect, or hanging: accept, read the
//! request, never answer, and note when the client closes the connection), optionally failing a
//! share of requests at random. A plain HTTP/1.1 server on a loopback TCP listener, so that what
//! the client does with the connection (keep-alive, closing a hung request) is seen as is.
//!
//! Every request is recorded with its arrival `Instant`, headers and body, and its Standard
//! Webhooks signature is verified on arrival twice: by the `standardwebhooks` crate and by the
//! check written out from the specification below, once per secret that must verify on its own,
//! and both must fail for each secret that must not.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use warp::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// How the endpoint answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(u16),
    /// The status with `Retry-After: <seconds>`.
    RetryAfter(u16, u64),
    /// 302 with this `Location`.
    Redirect(String),
    /// Never answers; the connection stays open until the client closes it.
    Hang,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        matches!(self, Reply::Status(s) if (200..300).contains(s))
    }
}

/// Which secrets every request must verify with (each alone), and which it must not.
#[derive(Debug, Clone, Default)]
pub struct Signing {
    pub valid: Vec<String>,
    pub invalid: Vec<String>,
}

impl Signing {
    pub fn by(valid: &[&str]) -> Signing {
        Signing {
            valid: valid.iter().map(|s| s.to_string()).collect(),
            invalid: Vec::new(),
        }
    }

    pub fn not_by(mut self, invalid: &[&str]) -> Signing {
        self.invalid = invalid.iter().map(|s| s.to_string()).collect();
        self
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub reply: Reply,
    /// For a hung request: when the client closed the connection.
    pub closed_at: Option<Instant>,
    /// Signature problems found on arrival (empty: verified).
    pub signature_problems: Vec<String>,
}

impl Request {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn webhook_id(&self) -> &str {
        self.header("webhook-id")
    }

    /// `gluey-attempt`, 0 when missing or not a number.
    pub fn attempt(&self) -> u32 {
        self.header("gluey-attempt").parse().unwrap_or(0)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn delivered(&self) -> bool {
        self.reply.is_success()
    }
}

struct State {
    script: VecDeque<Reply>,
    default: Reply,
    random_failures: Option<(f64, u16, StdRng)>,
    signing: Signing,
    requests: Vec<Request>,
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    /// The customer endpoint of the pipeline tests: answers 200 to everything and checks that
    /// every request is signed with each of the two secrets `write_config` gives the customer.
    pub async fn customer() -> Receiver {
        Receiver::start(
            Reply::Status(200),
            Signing::by(&[super::CUSTOMER_SECRET, super::CUSTOMER_SECRET_NEXT]),
        )
        .await
    }

    /// Waits until at least `n` requests arrived, and returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Request> {
        super::wait_for(&format!("{n} webhook requests"), super::DEADLINE, || {
            let got = self.requests();
            async move { (got.len() >= n).then_some(got) }
        })
        .await
    }

    /// A receiver answering `default` to every request, checking signatures per `signing`.
    pub async fn start(default: Reply, signing: Signing) -> Receiver {
        let state = Arc::new(Mutex::new(State {
            script: VecDeque::new(),
            default,
            random_failures: None,
            signing,
            requests: Vec::new(),
        }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        Receiver { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The next requests get these answers, in order, before the default.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) -> &Self {
        self.state.lock().unwrap().script.extend(replies);
        self
    }

    pub fn set_default(&self, reply: Reply) -> &Self {
        self.state.lock().unwrap().default = reply;
        self
    }

    /// Answers `status` instead of the default to a share `p` of requests (seeded, so a run is
    /// reproducible up to the order requests arrive in).
    pub fn fail_randomly(&self, p: f64, status: u16, seed: u64) -> &Self {
        self.state.lock().unwrap().random_failures = Some((p, status, StdRng::seed_from_u64(seed)));
        self
    }

    /// Distinct (tracking number, carrier code) pairs received: the scans that reached the
    /// customer, however often each was delivered.
    pub fn distinct_scans(&self) -> usize {
        self.requests()
            .iter()
            .map(|r| {
                let json = r.json();
                (
                    json["data"]["shipment"]["tracking_number"].to_string(),
                    json["data"]["event"]["carrier_code"].to_string(),
                )
            })
            .collect::<std::collections::HashSet<_>>()
            .len()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The requests carrying `webhook_id`, in arrival order.
    pub fn requests_for(&self, webhook_id: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.webhook_id() == webhook_id)
            .collect()
    }

    /// Webhook ids answered 2xx at least once, with the arrival of their first such answer.
    pub fn delivered(&self) -> HashMap<String, Instant> {
        let mut out = HashMap::new();
        for r in self.requests().into_iter().filter(Request::delivered) {
            out.entry(r.webhook_id().to_string()).or_insert(r.at);
        }
        out
    }

    /// Waits until every id in `ids` has been answered 2xx.
    pub async fn wait_delivered(&self, what: &str, ids: &[String], deadline: Duration) {
        super::wait_for(
            &format!("{what}: {} webhook ids answered 2xx", ids.len()),
            deadline,
            || {
                let delivered = self.delivered();
                let done = ids.iter().all(|id| delivered.contains_key(id));
                async move { done.then_some(()) }
            },
        )
        .await;
    }

    /// Every request arrived correctly signed (checked on arrival, see the module doc).
    pub fn assert_all_signed(&self, name: &str) {
        for r in self.requests() {
            assert!(
                r.signature_problems.is_empty(),
                "{name}: request {} (attempt {}) signature: {:?}",
                r.webhook_id(),
                r.attempt(),
                r.signature_problems
            );
        }
    }
}

/// The Standard Webhooks check, from the specification: the key is the base64 after `whsec_`,
/// the signed content `{webhook-id}.{webhook-timestamp}.{body}`, the MAC HMAC-SHA256, and the
/// header a space-separated list of `v1,<base64 MAC>` of which one must match.
pub fn verify_per_specification(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("no {name} header"))
    };
    let (id, timestamp, signatures) = (
        get("webhook-id")?,
        get("webhook-timestamp")?,
        get("webhook-signature")?,
    );
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| format!("webhook-timestamp {timestamp:?} is not an integer"))?;
    let now = chrono::Utc::now().timestamp();
    if (now - seconds).abs() > 60 {
        return Err(format!(
            "webhook-timestamp {seconds} is not this attempt's (now {now})"
        ));
    }
    let key = b64
        .decode(
            secret
                .strip_prefix("whsec_")
                .ok_or("secret without whsec_")?,
        )
        .map_err(|e| e.to_string())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    let matches = signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|sig| b64.decode(sig).ok())
        .any(|sig| sig.as_slice() == expected.as_slice());
    if matches {
        Ok(())
    } else {
        Err(format!("no v1 signature matches among {signatures:?}"))
    }
}

fn signature_problems(signing: &Signing, headers: &HeaderMap, body: &[u8]) -> Vec<String> {
    let mut problems = Vec::new();
    for (n, secret) in signing.valid.iter().enumerate() {
        if let Err(e) = verify_per_specification(secret, headers, body) {
            problems.push(format!("valid secret #{n}, specification check: {e}"));
        }
        if let Err(e) = standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(body, headers)
        {
            problems.push(format!("valid secret #{n}, standardwebhooks: {e:?}"));
        }
    }
    for (n, secret) in signing.invalid.iter().enumerate() {
        if verify_per_specification(secret, headers, body).is_ok() {
            problems.push(format!(
                "excluded secret #{n} verifies (specification check)"
            ));
        }
        if standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(body, headers)
            .is_ok()
        {
            problems.push(format!("excluded secret #{n} verifies (standardwebhooks)"));
        }
    }
    problems
}

/// Serves one connection: requests in turn (keep-alive) until the client closes it.
async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    loop {
        let Some((method, path, headers, body)) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        let at = Instant::now();
        let (reply, index) = {
            let mut state = state.lock().unwrap();
            let mut reply = state
                .script
                .pop_front()
                .unwrap_or_else(|| state.default.clone());
            if let Some((p, status, rng)) = state.random_failures.as_mut() {
                if rng.random_bool(*p) {
                    reply = Reply::Status(*status);
                }
            }
            let signature_problems = signature_problems(&state.signing, &headers, &body);
            state.requests.push(Request {
                at,
                method,
                path,
                headers,
                body,
                reply: reply.clone(),
                closed_at: None,
                signature_problems,
            });
            (reply, state.requests.len() - 1)
        };
        let (status, extra) = match &reply {
            Reply::Status(s) => (*s, String::new()),
            Reply::RetryAfter(s, seconds) => (*s, format!("retry-after: {seconds}\r\n")),
            Reply::Redirect(location) => (302, format!("location: {location}\r\n")),
            Reply::Hang => {
                // Read until the client gives up on us.
                let mut sink = [0u8; 1024];
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                state.lock().unwrap().requests[index].closed_at = Some(Instant::now());
                return;
            }
        };
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Whatever");
        let length = if status == 204 {
            ""
        } else {
            "content-length: 0\r\n"
        };
        let response = format!("HTTP/1.1 {status} {reason}\r\n{length}{extra}\r\n");
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads one HTTP/1.1 request (content-length or chunked body); `None` once the client closed.
async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Option<(String, String, HeaderMap, Vec<u8>)> {
    let head_end = loop {
        if let Some(pos) = find(buf, b"\r\n\r\n") {
            break pos;
        }
        fill(stream, buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    buf.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, path) = (
        request_line.next()?.to_string(),
        request_line.next()?.to_string(),
    );
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).ok()?,
            HeaderValue::from_str(value.trim()).ok()?,
        );
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let body = if let Some(length) = header("content-length") {
        let length: usize = length.parse().ok()?;
        while buf.len() < length {
            fill(stream, buf).await?;
        }
        buf.drain(..length).collect()
    } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(pos) = find(buf, b"\r\n") {
                    break pos;
                }
                fill(stream, buf).await?;
            };
            let size_text = String::from_utf8_lossy(&buf[..line_end]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                fill(stream, buf).await?;
            }
            body.extend(buf.drain(..size));
            buf.drain(..2);
            if size == 0 {
                break body;
            }
        }
    } else {
        Vec::new()
    };
    Some((method, path, headers, body))
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 16 * 1024];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
