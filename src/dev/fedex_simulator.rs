//! A simulated FedEx: Advanced Integrated Visibility pushes (a full `trackResult` snapshot, scans
//! newest first, as FedEx sends them), signed with `fdx-signature`, on a US network.

use chrono::{DateTime, FixedOffset};
use serde_json::{json, Value};

use super::carrier_simulator::{eta, Place, SimulatedCarrier, SimulatedScan, Step};

/// One scan as FedEx reports it.
#[derive(Debug, Clone)]
pub struct FedexScan {
    pub event_type: &'static str,
    pub description: &'static str,
    pub exception_code: Option<&'static str>,
    pub exception_description: Option<&'static str>,
    /// Local time with its offset, as FedEx sends `date`.
    pub at: DateTime<FixedOffset>,
    pub city: &'static str,
    pub state: &'static str,
    pub postal_code: &'static str,
    pub country: &'static str,
}

impl FedexScan {
    fn to_json(&self) -> Value {
        json!({
            "date": self.at.to_rfc3339(),
            "eventType": self.event_type,
            "eventDescription": self.description,
            "exceptionCode": self.exception_code.unwrap_or(""),
            "exceptionDescription": self.exception_description.unwrap_or(""),
            "derivedStatusCode": self.event_type,
            "scanLocation": {
                "city": self.city,
                "stateOrProvinceCode": self.state,
                "postalCode": self.postal_code,
                "countryCode": self.country,
            },
        })
    }
}

/// The AIV push body for `tracking_number` after `scans` (oldest first).
pub fn aiv_payload(
    tracking_number: &str,
    scans: &[FedexScan],
    eta: Option<DateTime<FixedOffset>>,
    signed_by: Option<&str>,
) -> Vec<u8> {
    let newest_first: Vec<Value> = scans.iter().rev().map(FedexScan::to_json).collect();
    let latest = scans.last();
    let mut result = json!({
        "trackingNumberInfo": {
            "trackingNumber": tracking_number,
            "carrierCode": "FDXE",
            "trackingNumberUniqueId": format!("12029~{tracking_number}~FDEG"),
        },
        "latestStatusDetail": latest.map(|s| json!({
            "code": s.event_type,
            "derivedCode": s.event_type,
            "description": s.description,
            "scanLocation": {"city": s.city, "stateOrProvinceCode": s.state, "countryCode": s.country},
        })),
        "dateAndTimes": eta.map(|t| vec![json!({"type": "ESTIMATED_DELIVERY", "dateTime": t.to_rfc3339()})]).unwrap_or_default(),
        "scanEvents": newest_first,
    });
    if let Some(name) = signed_by {
        result["deliveryDetails"] = json!({"signedByName": name, "deliveryAttempts": "0"});
    }
    // Serialising a serde_json::Value cannot fail.
    serde_json::to_vec(&result).unwrap_or_default()
}

/// `fdx-signature` of a body.
pub fn sign(secret: &str, body: &[u8]) -> String {
    gluey_ingest::auth::fedex::sign(secret, body)
}

const PLACES: [Place; 3] = [
    Place {
        city: "CLOVIS",
        region: "CA",
        postal_code: "93612",
        country: "US",
        country_name: "United States",
        offset_hours: -8,
    },
    Place {
        city: "MEMPHIS",
        region: "TN",
        postal_code: "38118",
        country: "US",
        country_name: "United States",
        offset_hours: -6,
    },
    Place {
        city: "FRESNO",
        region: "CA",
        postal_code: "93727",
        country: "US",
        country_name: "United States",
        offset_hours: -8,
    },
];

/// FedEx as `gluey dev` plays it.
#[derive(Debug, Clone, Copy, Default)]
pub struct FedexSimulator;

impl FedexSimulator {
    /// Event type, description and exception (code, description) of a step.
    fn scan_type(
        step: Step,
    ) -> (
        &'static str,
        &'static str,
        Option<(&'static str, &'static str)>,
    ) {
        match step {
            Step::LabelCreated => ("OC", "Shipment information sent to FedEx", None),
            Step::PickedUp => ("PU", "Picked up", None),
            Step::ArrivedAtHub => ("AR", "Arrived at FedEx location", None),
            Step::DepartedHub => ("DP", "Departed FedEx location", None),
            Step::ArrivedAtDeliveryDepot => ("AR", "At local FedEx facility", None),
            Step::OutForDelivery => ("OD", "On FedEx vehicle for delivery", None),
            Step::FailedAttempt => (
                "DE",
                "Delivery exception",
                Some(("08", "Customer not available or business closed")),
            ),
            Step::Delivered => ("DL", "Delivered", None),
        }
    }
}

impl SimulatedCarrier for FedexSimulator {
    fn carrier(&self) -> &str {
        "fedex"
    }

    fn path(&self) -> String {
        "/carriers/fedex/aiv".into()
    }

    fn places(&self) -> &'static [Place; 3] {
        &PLACES
    }

    fn code(&self, step: Step) -> &'static str {
        Self::scan_type(step).0
    }

    fn tracking_number(&self, i: usize) -> String {
        format!("7946{:08}", 10_000_000 + i * 7919)
    }

    fn payload(&self, tracking_number: &str, history: &[SimulatedScan]) -> Vec<u8> {
        let scans: Vec<FedexScan> = history
            .iter()
            .map(|scan| {
                let (event_type, description, exception) = Self::scan_type(scan.step);
                FedexScan {
                    event_type,
                    description,
                    exception_code: exception.map(|e| e.0),
                    exception_description: exception.map(|e| e.1),
                    at: scan.at,
                    city: scan.place.city,
                    state: scan.place.region,
                    postal_code: scan.place.postal_code,
                    country: scan.place.country,
                }
            })
            .collect();
        let delivered = history.last().is_some_and(|s| s.step == Step::Delivered);
        aiv_payload(
            tracking_number,
            &scans,
            eta(history),
            delivered.then_some("J. DOE"),
        )
    }
}
