//! `gluey ingest webhook`: the HTTP endpoints carriers push to, one per push format, each with its
//! own authentication (see `endpoint` for the routes, `pipeline` for the steps every push takes).
//! A push is answered 2xx only after Kafka has acknowledged every raw record made from it, 503
//! with `Retry-After` when Kafka does not acknowledge within the produce timeout, 401 when its
//! credential does not verify, 413 when it is larger than the limit, 415 when it is not the
//! carrier's content type, 429 with `Retry-After` over the route's rate, 404 when its route is
//! not configured. Nothing a carrier gave us is interpreted here beyond splitting it per shipment.

mod answer;
mod body;
mod delivery_ids;
mod endpoint;
mod pipeline;
mod rate_limit;
mod raw_producer;

use std::net::SocketAddr;
use std::sync::Arc;

use gluey_contract::Codec;
use gluey_kafka::{KafkaSettings, RecordProducer};
use gluey_ops::Health;
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warp::Filter;

use crate::config::{CarrierPushSection, WebhookIngestConfig};
use crate::metrics::IngestMetrics;
use delivery_ids::DeliveryIds;
use pipeline::PushRequest;
use rate_limit::RateLimits;
use raw_producer::RawProducer;

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
        "no carrier is configured in the config file; ingest webhook needs at least one of \
         carriers.fedex, carriers.ups, carriers.dhl or carriers.direct.integrators"
    )]
    NoCarriers,
    #[error(
        "{setting} = {value} bytes leaves no room for the raw record around the body under the \
         Kafka producer's message.max.bytes = {message_max}: a push that size would be accepted \
         and then fail on every retry. Use at most {room}, or raise message.max.bytes \
         (--kafka-property) together with the raw topic's max.message.bytes"
    )]
    BodyLimit {
        setting: String,
        value: usize,
        message_max: usize,
        room: usize,
    },
}

/// What a raw record adds around the body it carries (envelope fields, headers, the record and
/// batch framing), with a wide margin.
pub const RAW_RECORD_OVERHEAD: usize = 16 * 1024;

/// Refuses body limits that a raw record carrying such a body could not fit under the
/// producer's `message.max.bytes`: `--max-body-bytes` and every route's `limits.max_body_bytes`.
/// Checked at start-up and again for each reloaded config file.
pub fn check_body_limits(
    carriers: &CarrierPushSection,
    max_body_bytes: usize,
    kafka: &KafkaSettings,
) -> Result<(), IngestError> {
    let message_max = kafka.message_max_bytes();
    let room = message_max.saturating_sub(RAW_RECORD_OVERHEAD);
    let mut limits = vec![("--max-body-bytes".to_string(), max_body_bytes)];
    for (field, route) in carriers.route_limits() {
        if let Some(value) = route.max_body_bytes {
            limits.push((format!("{field}.max_body_bytes"), value));
        }
    }
    match limits.into_iter().find(|(_, value)| *value > room) {
        Some((setting, value)) => Err(IngestError::BodyLimit {
            setting,
            value,
            message_max,
            room,
        }),
        None => Ok(()),
    }
}

struct Shared {
    config: WebhookIngestConfig,
    producer: RawProducer,
    metrics: IngestMetrics,
    rate_limits: RateLimits,
    delivery_ids: Arc<DeliveryIds>,
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
    if config.carriers.current().is_empty() {
        return Err(IngestError::NoCarriers);
    }
    check_body_limits(&config.carriers.current(), config.max_body_bytes, kafka)?;
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
        rate_limits: RateLimits::default(),
        delivery_ids: Arc::new(DeliveryIds::default()),
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
    warp::path!("carriers" / String / String)
        .and(warp::post())
        .and(warp::header::headers_cloned())
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .then(move |carrier, kind, headers, declared_length, body| {
            let request = PushRequest {
                carrier,
                kind,
                headers,
                declared_length,
                body,
            };
            pipeline::handle(shared.clone(), request)
        })
        .recover(answer::recover)
        .unify()
}
