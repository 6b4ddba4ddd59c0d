//! `gluey ingest webhook`: the HTTP endpoint carriers push to. A push is answered 2xx only after
//! Kafka has acknowledged every raw record made from it, 503 with `Retry-After` when Kafka does
//! not acknowledge within the produce timeout, 401 when its credential does not verify, 413 when
//! it is larger than the limit, 415 when it is not the carrier's content type. Nothing a carrier
//! gave us is interpreted here beyond splitting it per shipment.

mod answer;
mod body;
mod raw_producer;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use gluey_carriers::CarrierFormat;
use gluey_contract::Codec;
use gluey_kafka::{KafkaSettings, RecordProducer};
use gluey_ops::Health;
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warp::http::{HeaderMap, StatusCode};
use warp::Filter;

use crate::config::WebhookIngestConfig;
use crate::fedex_signature::{self, UnverifiedPush};
use crate::metrics::IngestMetrics;
use answer::Answer;
use raw_producer::{ProduceFailure, RawProducer};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create kafka producer: {0}")]
    Producer(#[from] rdkafka::error::KafkaError),
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(
        "carriers.fedex is not configured in the config file; ingest webhook needs its AIV secrets"
    )]
    NoCarriers,
}

struct Shared {
    config: WebhookIngestConfig,
    producer: RawProducer,
    metrics: IngestMetrics,
}

/// A bound, running webhook ingest.
#[derive(Debug)]
pub struct WebhookIngest {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds, then serves until `shutdown`; in-flight requests finish, then the producer is flushed.
pub async fn run_webhook_ingest(
    config: WebhookIngestConfig,
    kafka: &KafkaSettings,
    codec: Arc<Codec>,
    registry: &Registry,
    health: Health,
    shutdown: CancellationToken,
) -> Result<WebhookIngest, IngestError> {
    if config.carriers.current().fedex.is_none() {
        return Err(IngestError::NoCarriers);
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| IngestError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| IngestError::Bind {
        addr: config.listen,
        source,
    })?;
    let producer = RecordProducer::new(kafka, config.produce_timeout)?;
    let metrics = IngestMetrics::register(registry)?;
    let shared = Arc::new(Shared {
        producer: RawProducer::new(producer.clone(), codec, config.topics.raw()),
        config,
        metrics,
    });
    let routes = routes(shared);
    health.set_ready(true, "listening");
    let task = tokio::spawn(async move {
        gluey_ops::serve(listener, routes, shutdown).await;
        tracing::info!("ingest webhook stopped accepting; flushing producer");
        if let Err(e) =
            tokio::task::spawn_blocking(move || producer.flush(std::time::Duration::from_secs(10)))
                .await
        {
            tracing::warn!(error = %e, "producer flush task failed");
        }
    });
    tracing::info!(%addr, "ingest webhook listening");
    Ok(WebhookIngest { addr, task })
}

fn routes(
    shared: Arc<Shared>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible> + Clone {
    let limit = shared.config.max_body_bytes;
    let fedex = warp::path!("carriers" / "fedex" / "aiv")
        .and(warp::post())
        .and(with_shared(shared.clone()))
        .and(warp::header::headers_cloned())
        .and(body::bounded(limit))
        .then(handle_fedex_aiv);
    fedex.recover(answer::recover).unify()
}

fn with_shared(
    shared: Arc<Shared>,
) -> impl Filter<Extract = (Arc<Shared>,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || shared.clone())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

async fn handle_fedex_aiv(
    shared: Arc<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, body::BodyError>,
) -> warp::reply::Response {
    let carrier = "fedex";
    let timer = shared
        .metrics
        .duration
        .with_label_values(&[carrier])
        .start_timer();
    let request_id = uuid::Uuid::new_v4().to_string();
    let answer = fedex_aiv(&shared, &headers, body, &request_id).await;
    timer.observe_duration();
    let outcome = answer.outcome();
    shared
        .metrics
        .requests
        .with_label_values(&[carrier, outcome])
        .inc();
    if let Some(reason) = answer.reason {
        shared
            .metrics
            .rejected
            .with_label_values(&[carrier, reason])
            .inc();
        tracing::warn!(
            carrier,
            request_id,
            status = answer.status.as_u16(),
            reason,
            "push rejected"
        );
    }
    answer.with_request_id(&request_id).into_response()
}

async fn fedex_aiv(
    shared: &Shared,
    headers: &HeaderMap,
    body: Result<Bytes, body::BodyError>,
    request_id: &str,
) -> Answer {
    let body = match body {
        Ok(body) => body,
        Err(body::BodyError::TooLarge) => {
            return Answer::rejected(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {} bytes", shared.config.max_body_bytes),
                "too_large",
            )
        }
        Err(body::BodyError::Broken(reason)) => {
            return Answer::rejected(
                StatusCode::BAD_REQUEST,
                format!("body could not be read: {reason}"),
                "body_broken",
            )
        }
    };
    let content_type = header(headers, "content-type");
    if !is_json(content_type) {
        return Answer::rejected(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type must be application/json".into(),
            "content_type",
        );
    }
    let carriers = shared.config.carriers.current();
    let secrets = match &carriers.fedex {
        Some(fedex) => &fedex.aiv_secrets,
        None => {
            return Answer::error(
                StatusCode::NOT_FOUND,
                "carrier not configured",
                Some("not_configured"),
            )
        }
    };
    let push = UnverifiedPush {
        body,
        signature: header(headers, fedex_signature::HEADER).map(str::to_string),
    };
    let verified = match push.verify(secrets) {
        Ok(v) => v,
        Err(e) => return Answer::rejected(StatusCode::UNAUTHORIZED, e.to_string(), e.reason()),
    };
    let format: &dyn CarrierFormat = &gluey_carriers::fedex::FedexAiv;
    let trace = gluey_ops::trace::continue_or_start(header(headers, "traceparent"));
    match shared
        .producer
        .produce_push(format, verified.body(), content_type, request_id, &trace)
        .await
    {
        Ok(records) => {
            shared
                .metrics
                .produced
                .with_label_values(&[format.carrier(), "webhook"])
                .inc_by(records as u64);
            tracing::info!(
                carrier = format.carrier(),
                request_id,
                records,
                trace_id = gluey_ops::trace::trace_id(&trace),
                "push accepted"
            );
            Answer::accepted(records)
        }
        Err(ProduceFailure::Unavailable(reason)) => {
            tracing::warn!(carrier = format.carrier(), request_id, %reason, "kafka unavailable; asking carrier to retry");
            Answer::unavailable(shared.config.retry_after)
        }
        Err(ProduceFailure::Rejected(reason)) => {
            tracing::error!(carrier = format.carrier(), request_id, %reason, "kafka rejected raw record");
            Answer::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "record could not be stored",
                Some("kafka_rejected"),
            )
        }
    }
}
