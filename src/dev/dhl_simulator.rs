//! A simulated DHL: Unified Push bodies, the Unified shipment object with its whole event history
//! newest first (CARRIERS.md 1.1; the only push shape documented), sent with the static header
//! token of the subscription, on a Germany → UK parcel network.

use serde_json::{json, Value};

use super::carrier_simulator::{eta, Place, SimulatedCarrier, SimulatedScan, Step};

const PLACES: [Place; 3] = [
    Place {
        city: "Bonn",
        region: "",
        postal_code: "53113",
        country: "DE",
        country_name: "Germany",
        offset_hours: 2,
    },
    Place {
        city: "Köln",
        region: "",
        postal_code: "50667",
        country: "DE",
        country_name: "Germany",
        offset_hours: 2,
    },
    Place {
        city: "Leeds",
        region: "",
        postal_code: "LS1 4AP",
        country: "GB",
        country_name: "United Kingdom",
        offset_hours: 1,
    },
];

/// Status code and description of a step.
fn status(step: Step) -> (&'static str, &'static str) {
    match step {
        Step::LabelCreated => (
            "pre-transit",
            "The instruction data for this shipment have been provided by the sender to DHL electronically",
        ),
        Step::PickedUp => ("transit", "The shipment has been picked up"),
        Step::ArrivedAtHub => (
            "transit",
            "The shipment has been processed in the parcel center of origin",
        ),
        Step::DepartedHub => ("transit", "The shipment has left the parcel center"),
        Step::ArrivedAtDeliveryDepot => (
            "transit",
            "The shipment has arrived at the delivery depot",
        ),
        Step::OutForDelivery => (
            "transit",
            "The shipment has been loaded onto the delivery vehicle",
        ),
        Step::FailedAttempt => (
            "failure",
            "The recipient was not at home. A second delivery attempt will be made.",
        ),
        Step::Delivered => ("delivered", "The shipment has been delivered"),
    }
}

fn event(scan: &SimulatedScan) -> Value {
    let (code, description) = status(scan.step);
    json!({
        "timestamp": scan.at.to_rfc3339(),
        "statusCode": code,
        "description": description,
        "location": {"address": {
            "countryCode": scan.place.country,
            "postalCode": scan.place.postal_code,
            "addressLocality": format!("{}, {}", scan.place.city, scan.place.country_name),
        }},
    })
}

/// The push body for shipment `id` after `history` (oldest first).
pub fn push_payload(id: &str, history: &[SimulatedScan]) -> Vec<u8> {
    let destination = &PLACES[2];
    let mut shipment = json!({
        "id": id,
        "service": "parcel-de",
        "destination": {"address": {
            "countryCode": destination.country,
            "postalCode": destination.postal_code,
            "addressLocality": destination.city,
        }},
        "status": history.last().map(event),
        "events": history.iter().rev().map(event).collect::<Vec<_>>(),
    });
    if let Some(eta) = eta(history) {
        shipment["estimatedTimeOfDelivery"] = eta.to_rfc3339().into();
    }
    if history.last().is_some_and(|s| s.step == Step::Delivered) {
        shipment["details"] = json!({"proofOfDelivery": {"signed": {"name": "A. Smith"}}});
    }
    // Serialising a serde_json::Value cannot fail.
    serde_json::to_vec(&shipment).unwrap_or_default()
}

/// DHL as `gluey dev` plays it.
#[derive(Debug, Clone, Copy, Default)]
pub struct DhlSimulator;

impl SimulatedCarrier for DhlSimulator {
    fn carrier(&self) -> &str {
        "dhl"
    }

    fn path(&self) -> String {
        "/carriers/dhl/push".into()
    }

    fn places(&self) -> &'static [Place; 3] {
        &PLACES
    }

    fn code(&self, step: Step) -> &'static str {
        status(step).0
    }

    fn tracking_number(&self, i: usize) -> String {
        format!("0034043416{:010}", 1_000_000 + i * 7919)
    }

    fn payload(&self, tracking_number: &str, history: &[SimulatedScan]) -> Vec<u8> {
        push_payload(tracking_number, history)
    }
}
