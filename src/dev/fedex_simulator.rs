//! A simulated FedEx: builds Advanced Integrated Visibility pushes (a full `trackResult`
//! snapshot, scans newest first, as FedEx sends them) for shipments moving through their life
//! cycle, signs them with `fdx-signature`, and POSTs them to ingest. Used by `gluey dev` and by
//! the end-to-end tests.

use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, Utc};
use rand::Rng;
use serde_json::{json, Value};

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

struct Stop {
    event_type: &'static str,
    description: &'static str,
    exception: Option<(&'static str, &'static str)>,
    city: &'static str,
    state: &'static str,
    postal_code: &'static str,
    /// Hours after the previous scan, and the local UTC offset in hours.
    after_hours: i64,
    offset_hours: i32,
}

const fn stop(
    event_type: &'static str,
    description: &'static str,
    city: &'static str,
    state: &'static str,
    postal_code: &'static str,
    after_hours: i64,
    offset_hours: i32,
) -> Stop {
    Stop {
        event_type,
        description,
        exception: None,
        city,
        state,
        postal_code,
        after_hours,
        offset_hours,
    }
}

/// A realistic life cycle: label, pickup, two hubs, out for delivery, one failed attempt on some
/// shipments, delivery.
const LIFE_CYCLE: &[Stop] = &[
    stop(
        "OC",
        "Shipment information sent to FedEx",
        "CLOVIS",
        "CA",
        "93612",
        0,
        -8,
    ),
    stop("PU", "Picked up", "CLOVIS", "CA", "93612", 5, -8),
    stop(
        "AR",
        "Arrived at FedEx location",
        "MEMPHIS",
        "TN",
        "38118",
        9,
        -6,
    ),
    stop(
        "DP",
        "Departed FedEx location",
        "MEMPHIS",
        "TN",
        "38118",
        3,
        -6,
    ),
    stop(
        "AR",
        "At local FedEx facility",
        "FRESNO",
        "CA",
        "93727",
        8,
        -8,
    ),
    stop(
        "OD",
        "On FedEx vehicle for delivery",
        "FRESNO",
        "CA",
        "93727",
        6,
        -8,
    ),
];

const FAILED_ATTEMPT: Stop = Stop {
    event_type: "DE",
    description: "Delivery exception",
    exception: Some(("08", "Customer not available or business closed")),
    city: "FRESNO",
    state: "CA",
    postal_code: "93727",
    after_hours: 5,
    offset_hours: -8,
};

const DELIVERED: Stop = stop("DL", "Delivered", "FRESNO", "CA", "93727", 4, -8);

/// One simulated shipment moving through its life cycle.
#[derive(Debug)]
pub struct SimulatedShipment {
    pub tracking_number: String,
    scans: Vec<FedexScan>,
    plan: Vec<usize>,
    next: usize,
    clock: DateTime<Utc>,
}

/// Index into LIFE_CYCLE, or these markers.
const FAILED: usize = usize::MAX - 1;
const DONE: usize = usize::MAX;

impl SimulatedShipment {
    pub fn new(
        tracking_number: String,
        with_failed_attempt: bool,
        start: DateTime<Utc>,
    ) -> SimulatedShipment {
        let mut plan: Vec<usize> = (0..LIFE_CYCLE.len()).collect();
        if with_failed_attempt {
            plan.push(FAILED);
            plan.push(LIFE_CYCLE.len() - 1); // out for delivery again
        }
        plan.push(DONE);
        SimulatedShipment {
            tracking_number,
            scans: Vec::new(),
            plan,
            next: 0,
            clock: start,
        }
    }

    pub fn is_delivered(&self) -> bool {
        self.next >= self.plan.len()
    }

    /// Advances one scan and returns the push body, or `None` once delivered.
    pub fn advance(&mut self) -> Option<(Vec<u8>, &'static str)> {
        let step = *self.plan.get(self.next)?;
        self.next += 1;
        let stop = match step {
            FAILED => &FAILED_ATTEMPT,
            DONE => &DELIVERED,
            i => &LIFE_CYCLE[i],
        };
        self.clock += ChronoDuration::hours(stop.after_hours)
            + ChronoDuration::minutes(rand::rng().random_range(0..50));
        let offset = FixedOffset::east_opt(stop.offset_hours * 3600)?;
        self.scans.push(FedexScan {
            event_type: stop.event_type,
            description: stop.description,
            exception_code: stop.exception.map(|e| e.0),
            exception_description: stop.exception.map(|e| e.1),
            at: self.clock.with_timezone(&offset),
            city: stop.city,
            state: stop.state,
            postal_code: stop.postal_code,
            country: "US",
        });
        let eta = (self.clock + ChronoDuration::hours(24)).with_timezone(&offset);
        let signed_by = (step == DONE).then_some("J. DOE");
        Some((
            aiv_payload(
                &self.tracking_number,
                &self.scans,
                (step != DONE).then_some(eta),
                signed_by,
            ),
            stop.event_type,
        ))
    }
}

/// Tracking numbers the simulator uses, deterministic so the config can register them up front.
pub fn tracking_numbers(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("7946{:08}", 10_000_000 + i * 7919))
        .collect()
}
