//! Settings of `gluey normalize`.

use std::collections::HashMap;
use std::time::Duration;

use gluey_contract::{shipment_key, TopicNames};
use gluey_ops::Reloadable;
use serde::Deserialize;

/// `[[shipments]]` in the config file: the static tracking-number → customer mapping that stands
/// in for the shipment registry until `tracking.shipments.v1` replaces it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticShipment {
    pub carrier: String,
    pub tracking_number: String,
    pub customer: String,
    #[serde(default)]
    pub shipment_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("config field shipments[{index}].{field}: {reason}")]
pub struct ShipmentConfigError {
    pub index: usize,
    pub field: &'static str,
    pub reason: String,
}

/// Registered shipments by shipment key.
#[derive(Debug, Clone, Default)]
pub struct ShipmentDirectory {
    by_key: HashMap<String, StaticShipment>,
}

impl ShipmentDirectory {
    pub fn new(shipments: &[StaticShipment]) -> Result<ShipmentDirectory, ShipmentConfigError> {
        let mut by_key = HashMap::new();
        for (index, s) in shipments.iter().enumerate() {
            for (field, value) in [
                ("carrier", &s.carrier),
                ("tracking_number", &s.tracking_number),
                ("customer", &s.customer),
            ] {
                if value.trim().is_empty() {
                    return Err(ShipmentConfigError {
                        index,
                        field,
                        reason: "must not be empty".into(),
                    });
                }
            }
            let key = shipment_key(&s.carrier, &s.tracking_number);
            if by_key.insert(key.clone(), s.clone()).is_some() {
                return Err(ShipmentConfigError {
                    index,
                    field: "tracking_number",
                    reason: format!("{key} is listed twice"),
                });
            }
        }
        Ok(ShipmentDirectory { by_key })
    }

    pub fn get(&self, key: &str) -> Option<&StaticShipment> {
        self.by_key.get(key)
    }
}

#[derive(Debug, Clone)]
pub struct NormalizerConfig {
    pub topics: TopicNames,
    pub group_id: String,
    /// How long a produced record may wait for Kafka's ack before the attempt is retried.
    pub produce_timeout: Duration,
    /// Pause between attempts while Kafka is unavailable.
    pub retry_backoff: Duration,
    /// Reloaded on SIGHUP.
    pub shipments: Reloadable<ShipmentDirectory>,
}
