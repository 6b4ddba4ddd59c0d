//! Test harness: a real Kafka-protocol broker in its own process (`gluey dev-broker`, or any
//! broker named by `KAFKA_BOOTSTRAP`), the services as separate `gluey` processes, a customer
//! endpoint that records what it receives, and readers for the topics. Every wait is on a
//! condition with a generous deadline; nothing sleeps to hope.

pub mod broker;
pub mod carriers;
pub mod pipeline;
pub mod receiver;
pub mod registry;
pub mod service;
pub mod topics;
pub mod webhooks;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use broker::Broker;
pub use receiver::Receiver;
pub use service::Service;

/// Generous: these bound a wait, they do not measure speed.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub const FEDEX_SECRET: &str = "fedex-aiv-test-token";
pub const CUSTOMER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const CUSTOMER_SECRET_NEXT: &str = "whsec_dGhpcyBpcyBhIHNlY29uZCBzZWNyZXQga2V5IQ==";

/// Polls `check` until it returns `Some` or `deadline` passes.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A unique topic prefix and scratch directory per test.
pub fn unique(name: &str) -> (String, PathBuf) {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let id = format!("{name}-{}-{n}", std::process::id());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    (format!("{id}."), dir)
}

/// A free loopback port (bound then released; the service binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes the config file: FedEx secret from the environment (`${TEST_FEDEX_SECRET}`), one
/// customer whose endpoint is `endpoint`.
pub fn write_config(dir: &std::path::Path, endpoint: &str) -> PathBuf {
    write_config_with(dir, endpoint, &[CUSTOMER_SECRET, CUSTOMER_SECRET_NEXT])
}

pub fn write_config_with(dir: &std::path::Path, endpoint: &str, secrets: &[&str]) -> PathBuf {
    let secrets = secrets
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "[carriers.fedex]\naiv_secrets = [\"${{TEST_FEDEX_SECRET}}\"]\n\n[[customers]]\nid = \"acme\"\n\n[[customers.webhooks]]\nurl = \"{endpoint}\"\nsecrets = [{secrets}]\n\n"
    );
    let path = dir.join("gluey.toml");
    std::fs::write(&path, text).unwrap();
    path
}
