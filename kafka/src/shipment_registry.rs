//! The shipment registry, `tracking.shipments.v1` (compacted): which customer a shipment belongs
//! to, under which tracking numbers. A registration writes the shipment under its key (the first
//! tracking number) and an alias record for every further number, pointing at the owner's key; a
//! deregistration writes tombstones. `gluey shipments` calls this, and the customer API will.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use gluey_contract::{shipment_key, Codec, CodecError, Parcel, Shipment, TopicNames};
use rdkafka::error::KafkaError;
use rdkafka::Message;

use crate::headers::with_traceparent;
use crate::producer::{ProduceError, RecordProducer};
use crate::settings::KafkaSettings;
use crate::topic_reader::{read_to_end, ReadError};

/// What a customer registers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registration {
    pub customer_id: String,
    pub carrier: String,
    /// The first is the shipment's own number; the others become aliases.
    pub tracking_numbers: Vec<String>,
    pub shipment_id: Option<String>,
    pub references: BTreeMap<String, String>,
    pub parcels: Vec<Parcel>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registration field {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("encoding: {0}")]
    Codec(#[from] CodecError),
    #[error("kafka: {0}")]
    Produce(#[from] ProduceError),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("reading the registry: {0}")]
    Read(#[from] ReadError),
}

fn invalid(field: &'static str, reason: &str) -> RegistryError {
    RegistryError::Invalid {
        field,
        reason: reason.to_string(),
    }
}

fn slug_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Registration {
    pub fn validate(&self) -> Result<(), RegistryError> {
        if self.customer_id.trim().is_empty() {
            return Err(invalid("customer_id", "must not be empty"));
        }
        if !slug_ok(&self.carrier) {
            return Err(invalid(
                "carrier",
                "must be a lowercase carrier slug such as fedex",
            ));
        }
        if self.tracking_numbers.is_empty() {
            return Err(invalid("tracking_numbers", "at least one is required"));
        }
        for n in &self.tracking_numbers {
            if n.trim().is_empty() || n.trim() != n || n.contains(':') {
                return Err(invalid(
                    "tracking_numbers",
                    &format!("{n:?} is empty, padded or contains ':'"),
                ));
            }
        }
        Ok(())
    }

    /// The shipment key: the carrier and the first tracking number.
    pub fn key(&self) -> String {
        shipment_key(
            &self.carrier,
            self.tracking_numbers
                .first()
                .map(String::as_str)
                .unwrap_or_default(),
        )
    }
}

/// Writes registrations.
#[derive(Debug, Clone)]
pub struct ShipmentRegistry {
    producer: RecordProducer,
    codec: Arc<Codec>,
    topic: String,
}

impl ShipmentRegistry {
    pub fn new(
        kafka: &KafkaSettings,
        codec: Arc<Codec>,
        topics: &TopicNames,
    ) -> Result<ShipmentRegistry, KafkaError> {
        Ok(ShipmentRegistry {
            producer: RecordProducer::new(kafka, Duration::from_secs(30))?,
            codec,
            topic: topics.shipments(),
        })
    }

    /// Registers a shipment (and its aliases); returns the owner record as written.
    pub async fn register(&self, registration: &Registration) -> Result<Shipment, RegistryError> {
        registration.validate()?;
        let owner = registration.key();
        let shipment = Shipment {
            shipment_key: owner.clone(),
            alias_of: None,
            shipment_id: registration.shipment_id.clone(),
            customer_id: registration.customer_id.clone(),
            carrier: registration.carrier.clone(),
            tracking_numbers: registration.tracking_numbers.clone(),
            references: registration.references.clone(),
            parcels: registration.parcels.clone(),
            registered_at: Utc::now(),
        };
        let trace = gluey_ops::trace::new_traceparent();
        // Aliases first: once the owner is visible, every alias already points at it.
        for alias in registration.tracking_numbers.iter().skip(1) {
            let key = shipment_key(&registration.carrier, alias);
            let record = Shipment {
                shipment_key: key.clone(),
                alias_of: Some(owner.clone()),
                ..shipment.clone()
            };
            let bytes = self.codec.encode(&self.topic, &record).await?;
            self.producer
                .send(
                    &self.topic,
                    Some(key.as_bytes()),
                    &bytes,
                    with_traceparent(&trace),
                )
                .await?;
        }
        let bytes = self.codec.encode(&self.topic, &shipment).await?;
        self.producer
            .send(
                &self.topic,
                Some(owner.as_bytes()),
                &bytes,
                with_traceparent(&trace),
            )
            .await?;
        Ok(shipment)
    }

    /// Deregisters the shipment under `key` and its aliases (tombstones).
    pub async fn deregister(&self, shipment: &Shipment) -> Result<(), RegistryError> {
        let keys = shipment
            .tracking_numbers
            .iter()
            .map(|n| shipment_key(&shipment.carrier, n))
            .chain(std::iter::once(shipment.shipment_key.clone()));
        let mut seen = std::collections::BTreeSet::new();
        for key in keys {
            if seen.insert(key.clone()) {
                self.producer
                    .send_tombstone(&self.topic, key.as_bytes())
                    .await?;
            }
        }
        Ok(())
    }
}

/// Reads the current registration under `key` (blocking: for operators and tests).
pub fn show(
    kafka: &KafkaSettings,
    codec: &Codec,
    topics: &TopicNames,
    key: &str,
    timeout: Duration,
) -> Result<Option<Shipment>, RegistryError> {
    let mut latest: Option<Option<Vec<u8>>> = None;
    read_to_end(kafka, &topics.shipments(), timeout, |message| {
        if message.key() == Some(key.as_bytes()) {
            latest = Some(message.payload().map(<[u8]>::to_vec));
        }
    })?;
    let Some(Some(bytes)) = latest else {
        return Ok(None);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| invalid("runtime", &e.to_string()))?;
    Ok(Some(runtime.block_on(codec.decode::<Shipment>(&bytes))?))
}
