//! A simulated native integrator: `direct.v1` documents carrying the newest event (with the
//! integrator's event id), signed as Standard Webhooks, on a UK network.

use serde_json::json;

use super::carrier_simulator::{eta, Place, SimulatedCarrier, SimulatedScan, Step};

const PLACES: [Place; 3] = [
    Place {
        city: "Northampton",
        region: "",
        postal_code: "NN4 7YE",
        country: "GB",
        country_name: "United Kingdom",
        offset_hours: 1,
    },
    Place {
        city: "Coventry",
        region: "",
        postal_code: "CV6 4QL",
        country: "GB",
        country_name: "United Kingdom",
        offset_hours: 1,
    },
    Place {
        city: "Leicester",
        region: "",
        postal_code: "LE4 9HA",
        country: "GB",
        country_name: "United Kingdom",
        offset_hours: 1,
    },
];

fn code(step: Step) -> &'static str {
    match step {
        Step::LabelCreated => "INFO_RECEIVED",
        Step::PickedUp => "PICKED_UP",
        Step::ArrivedAtHub | Step::ArrivedAtDeliveryDepot => "ARRIVED_AT_FACILITY",
        Step::DepartedHub => "DEPARTED_FACILITY",
        Step::OutForDelivery => "OUT_FOR_DELIVERY",
        Step::FailedAttempt => "DELIVERY_ATTEMPTED",
        Step::Delivered => "DELIVERED",
    }
}

/// A `direct.v1` document with the newest of `history` for `tracking_number`.
pub fn direct_payload(tracking_number: &str, history: &[SimulatedScan]) -> Vec<u8> {
    let events: Vec<_> = history
        .iter()
        .enumerate()
        .next_back()
        .map(|(i, scan)| {
            json!({
                "id": format!("{tracking_number}-{i}"),
                "code": code(scan.step),
                "occurred_at": scan.at.to_rfc3339(),
                "location": {
                    "city": scan.place.city,
                    "postal_code": scan.place.postal_code,
                    "country": scan.place.country,
                },
                "signed_by": (scan.step == Step::Delivered).then_some("A. Smith"),
            })
        })
        .into_iter()
        .collect();
    let body = json!({
        "schema": "gluey.direct.v1",
        "shipments": [{
            "tracking_number": tracking_number,
            "eta": eta(history).map(|t| t.to_rfc3339()),
            "events": events,
        }],
    });
    // Serialising a serde_json::Value cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// A native integrator as `gluey dev` plays it, under its carrier slug.
#[derive(Debug, Clone)]
pub struct DirectSimulator {
    pub carrier: String,
}

impl SimulatedCarrier for DirectSimulator {
    fn carrier(&self) -> &str {
        &self.carrier
    }

    fn path(&self) -> String {
        format!("/carriers/{}/direct", self.carrier)
    }

    fn places(&self) -> &'static [Place; 3] {
        &PLACES
    }

    fn code(&self, step: Step) -> &'static str {
        code(step)
    }

    fn tracking_number(&self, i: usize) -> String {
        format!("SP{:010}", 1_000_000 + i * 7919)
    }

    fn payload(&self, tracking_number: &str, history: &[SimulatedScan]) -> Vec<u8> {
        direct_payload(tracking_number, history)
    }
}
