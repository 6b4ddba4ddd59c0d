//! Frames a verified push as raw records (one per shipment, via the carrier module's split) and
//! produces them, returning only once Kafka acknowledged all of them.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use futures::future::join_all;
use gluey_carriers::CarrierFormat;
use gluey_contract::{shipment_key, Codec, RawEnvelope, Route, SourceReference};
use gluey_kafka::headers::with_traceparent;
use gluey_kafka::RecordProducer;

#[derive(Debug)]
pub enum ProduceFailure {
    Unavailable(String),
    Rejected(String),
}

pub struct RawProducer {
    producer: RecordProducer,
    codec: Arc<Codec>,
    topic: String,
}

impl RawProducer {
    pub fn new(producer: RecordProducer, codec: Arc<Codec>, topic: String) -> RawProducer {
        RawProducer {
            producer,
            codec,
            topic,
        }
    }

    /// Produces the push under `carrier` (the route's: for a native integrator, its slug, since
    /// `direct.v1` is everyone's format); a payload that cannot be split (malformed JSON, say) is
    /// still kept, whole, keyed by its source, for the normalizer to dead-letter with a reason.
    pub async fn produce_push(
        &self,
        carrier: &str,
        format: &dyn CarrierFormat,
        body: &[u8],
        content_type: Option<&str>,
        request_id: &str,
        traceparent: &str,
    ) -> Result<usize, ProduceFailure> {
        let parts: Vec<(String, Vec<u8>, Option<String>)> = match format.split(body) {
            Ok(splits) if !splits.is_empty() => splits
                .into_iter()
                .map(|s| {
                    let key = shipment_key(carrier, &s.tracking_number);
                    (key.clone(), s.payload, Some(key))
                })
                .collect(),
            _ => vec![(
                format!("source:{carrier}:{}", format.name()),
                body.to_vec(),
                None,
            )],
        };
        let received_at = Utc::now();
        let mut encoded = Vec::with_capacity(parts.len());
        for (key, payload, shipment_key) in parts {
            let envelope = RawEnvelope {
                envelope_id: uuid::Uuid::new_v4().to_string(),
                carrier: carrier.to_string(),
                format: format.name().to_string(),
                route: Route::Webhook,
                received_at,
                content_type: content_type.map(str::to_string),
                payload,
                source: SourceReference {
                    request_id: Some(request_id.to_string()),
                    ..SourceReference::default()
                },
                context: BTreeMap::new(),
                shipment_key,
                trace_id: traceparent.to_string(),
            };
            let bytes = self
                .codec
                .encode(&self.topic, &envelope)
                .await
                .map_err(|e| {
                    if e.is_retryable() {
                        ProduceFailure::Unavailable(e.to_string())
                    } else {
                        ProduceFailure::Rejected(e.to_string())
                    }
                })?;
            encoded.push((key, bytes));
        }
        let sends = encoded.iter().map(|(key, bytes)| {
            self.producer.send(
                &self.topic,
                Some(key.as_bytes()),
                bytes,
                with_traceparent(traceparent),
            )
        });
        let mut count = 0;
        for result in join_all(sends).await {
            match result {
                Ok(_) => count += 1,
                Err(e) if e.is_retryable() => {
                    return Err(ProduceFailure::Unavailable(e.to_string()))
                }
                Err(e) => return Err(ProduceFailure::Rejected(e.to_string())),
            }
        }
        Ok(count)
    }
}
