//! One push, whatever the carrier: bound (content type, body size) → authenticate (the route's
//! scheme) → limit (the route's token bucket) → claim the delivery id (where the scheme names
//! deliveries) → split per shipment and produce → answer. Every push is counted by carrier and
//! outcome, every refusal by reason, and logged with the request id and reason, never with a
//! credential or the body.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Buf;
use warp::http::{HeaderMap, StatusCode};

use super::answer::Answer;
use super::body::{self, BodyError};
use super::delivery_ids::Claim;
use super::endpoint::{self, Endpoint, PushRoute};
use super::raw_producer::ProduceFailure;
use super::Shared;
use crate::auth::{header, UnverifiedPush};

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

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The request as warp hands it over.
pub(super) struct PushRequest<S> {
    pub carrier: String,
    pub kind: String,
    pub headers: HeaderMap,
    pub declared_length: Option<u64>,
    pub body: S,
}

pub(super) async fn handle<S, B>(
    shared: Arc<Shared>,
    request: PushRequest<S>,
) -> warp::reply::Response
where
    S: futures::Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf + Send,
{
    let Some(route) = PushRoute::from_path(&request.carrier, &request.kind) else {
        return Answer::error(StatusCode::NOT_FOUND, "no such endpoint", None).into_response();
    };
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let carriers = shared.config.carriers.current();
    let (carrier, answer) = match endpoint::resolve(&route, &carriers, unix_now()) {
        Err(not_configured) => {
            shared
                .metrics
                .received
                .with_label_values(&[not_configured.label])
                .inc();
            let answer = Answer::rejected(
                StatusCode::NOT_FOUND,
                not_configured.message,
                "not_configured",
            );
            (not_configured.label, answer)
        }
        Ok(endpoint) => {
            shared
                .metrics
                .received
                .with_label_values(&[endpoint.carrier])
                .inc();
            let answer = serve(&shared, &endpoint, request, &request_id).await;
            (endpoint.carrier, answer)
        }
    };
    shared
        .metrics
        .answered(carrier, answer.outcome, answer.reason, started.elapsed());
    if let Some(reason) = answer.reason {
        tracing::warn!(
            carrier,
            request_id,
            status = answer.status.as_u16(),
            reason,
            "push not accepted"
        );
    }
    answer.with_request_id(&request_id).into_response()
}

async fn serve<S, B>(
    shared: &Shared,
    endpoint: &Endpoint<'_>,
    request: PushRequest<S>,
    request_id: &str,
) -> Answer
where
    S: futures::Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf + Send,
{
    let headers = &request.headers;
    let content_type = header(headers, "content-type");
    if !is_json(content_type) {
        return Answer::rejected(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type must be application/json".into(),
            "content_type",
        );
    }
    let limit = endpoint
        .limits
        .max_body_bytes
        .unwrap_or(shared.config.max_body_bytes);
    let body = match body::collect(request.declared_length, request.body, limit).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return Answer::rejected(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {limit} bytes"),
                "too_large",
            )
        }
        Err(BodyError::Broken(reason)) => {
            return Answer::rejected(
                StatusCode::BAD_REQUEST,
                format!("body could not be read: {reason}"),
                "body_broken",
            )
        }
    };
    let verified = match endpoint
        .authenticator
        .verify(UnverifiedPush { headers, body })
    {
        Ok(verified) => verified,
        Err(e) => return Answer::rejected(StatusCode::UNAUTHORIZED, e.to_string(), e.reason()),
    };
    if let Err(wait) = shared
        .rate_limits
        .admit(endpoint.carrier, endpoint.limits, Instant::now())
    {
        return Answer::throttled(wait);
    }
    let claim = match (verified.delivery_id(), endpoint.delivery_ids) {
        (Some(id), Some((_, capacity))) => {
            match shared
                .delivery_ids
                .claim(endpoint.carrier, id, capacity)
                .await
            {
                Claim::Won(guard) => Some(guard),
                Claim::Duplicate => {
                    tracing::info!(
                        carrier = endpoint.carrier,
                        request_id,
                        delivery_id = id,
                        "delivery already accepted; nothing produced"
                    );
                    return Answer::duplicate();
                }
                Claim::Full => {
                    return Answer::unavailable(
                        "too many deliveries in flight; retry later",
                        "delivery_ids_full",
                        shared.config.retry_after,
                    )
                }
            }
        }
        _ => None,
    };
    let trace = gluey_ops::trace::continue_or_start(header(headers, "traceparent"));
    let produced = shared
        .producer
        .produce_push(
            endpoint.carrier,
            endpoint.format,
            verified.body(),
            content_type,
            request_id,
            &trace,
        )
        .await;
    match produced {
        Ok(records) => {
            if let (Some(guard), Some((retention, _))) = (claim, endpoint.delivery_ids) {
                guard.accepted(retention, Instant::now());
            }
            shared
                .metrics
                .produced
                .with_label_values(&[endpoint.carrier, "webhook"])
                .inc_by(records as u64);
            tracing::info!(
                carrier = endpoint.carrier,
                format = endpoint.format.name(),
                request_id,
                delivery_id = verified.delivery_id(),
                records,
                trace_id = gluey_ops::trace::trace_id(&trace),
                "push accepted"
            );
            Answer::accepted(records)
        }
        Err(ProduceFailure::Unavailable(reason)) => {
            tracing::warn!(carrier = endpoint.carrier, request_id, %reason, "kafka unavailable; asking the carrier to retry");
            Answer::unavailable(
                "storage temporarily unavailable; retry later",
                "kafka_unavailable",
                shared.config.retry_after,
            )
        }
        Err(ProduceFailure::Rejected(reason)) => {
            tracing::error!(carrier = endpoint.carrier, request_id, %reason, "kafka rejected raw record");
            Answer::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "record could not be stored",
                Some("kafka_rejected"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(is_json(Some("application/vnd.ups+json")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(Some("application/xml")));
        assert!(!is_json(None));
    }
}
