//! A customer's webhook endpoint: a real HTTP server that records every request and answers 200.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use warp::http::{HeaderMap, StatusCode};
use warp::Filter;

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

#[derive(Clone)]
pub struct CustomerEndpoint {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl CustomerEndpoint {
    pub async fn start() -> CustomerEndpoint {
        let received = Arc::new(Mutex::new(Vec::new()));
        let r = received.clone();
        let route = warp::post()
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .map(move |headers: HeaderMap, body: bytes::Bytes| {
                r.lock().unwrap().push(Received {
                    headers,
                    body: body.to_vec(),
                });
                StatusCode::OK
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        CustomerEndpoint { addr, received }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks/tracking", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        super::wait_for(&format!("{n} webhook deliveries"), super::DEADLINE, || {
            let got = self.received();
            async move { (got.len() >= n).then_some(got) }
        })
        .await
    }
}
