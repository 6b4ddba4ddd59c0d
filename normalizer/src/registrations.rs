//! The registered shipments of one partition, as `tracking.shipments.v1` says: the last record
//! per key wins, a tombstone deregisters.

use std::collections::HashMap;

use gluey_contract::Shipment;

#[derive(Debug, Default)]
pub struct Registrations {
    by_key: HashMap<String, Shipment>,
}

impl Registrations {
    pub fn apply(&mut self, key: &str, value: Option<Shipment>) {
        match value {
            Some(shipment) => {
                self.by_key.insert(key.to_string(), shipment);
            }
            None => {
                self.by_key.remove(key);
            }
        }
    }

    /// The registration under `key` (an alias record carries its owner's customer and key).
    pub fn get(&self, key: &str) -> Option<&Shipment> {
        self.by_key.get(key)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}
