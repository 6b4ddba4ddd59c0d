//! HTTP serving shared by every service: a bound listener served until shutdown, and the
//! operations endpoints (`/metrics` in the Prometheus text format, `/healthz`, `/readyz`).

use std::net::SocketAddr;
use std::time::Duration;

use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warp::http::StatusCode;
use warp::{Filter, Reply};

use crate::health::Health;

/// How long a loop may go without a heartbeat before `/healthz` fails.
pub const STALL: Duration = Duration::from_secs(60);

/// Serves `filter` on an already-bound listener until `shutdown`, then finishes in-flight requests.
pub async fn serve<F>(listener: TcpListener, filter: F, shutdown: CancellationToken)
where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: Reply,
{
    warp::serve(filter)
        .incoming(listener)
        .graceful(async move { shutdown.cancelled().await })
        .run()
        .await;
}

/// The operations endpoints of one service.
#[derive(Debug)]
pub struct OpsServer {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

impl OpsServer {
    /// Binds `addr` and serves `/metrics`, `/healthz` and `/readyz` until `shutdown`.
    pub async fn start(
        addr: SocketAddr,
        registry: Registry,
        health: Health,
        shutdown: CancellationToken,
    ) -> std::io::Result<OpsServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let metrics = warp::path!("metrics").and(warp::get()).map(move || {
            let mut body = Vec::new();
            match TextEncoder::new().encode(&registry.gather(), &mut body) {
                Ok(()) => warp::reply::with_header(
                    warp::reply::with_status(body, StatusCode::OK),
                    "content-type",
                    "text/plain; version=0.0.4",
                )
                .into_response(),
                Err(e) => warp::reply::with_status(
                    format!("cannot encode metrics: {e}"),
                    StatusCode::INTERNAL_SERVER_ERROR,
                )
                .into_response(),
            }
        });
        let live = health.clone();
        let healthz = warp::path!("healthz").map(move || {
            if live.is_alive(STALL) {
                warp::reply::with_status("ok".to_string(), StatusCode::OK)
            } else {
                warp::reply::with_status(
                    "main loop stalled".to_string(),
                    StatusCode::SERVICE_UNAVAILABLE,
                )
            }
        });
        let readyz = warp::path!("readyz").map(move || {
            if health.is_ready() {
                let reason = health.reason();
                let body = if reason.is_empty() {
                    "ready".to_string()
                } else {
                    format!("ready: {reason}")
                };
                warp::reply::with_status(body, StatusCode::OK)
            } else {
                warp::reply::with_status(
                    format!("not ready: {}", health.reason()),
                    StatusCode::SERVICE_UNAVAILABLE,
                )
            }
        });
        let task = tokio::spawn(serve(listener, metrics.or(healthz).or(readyz), shutdown));
        Ok(OpsServer { addr, task })
    }
}
