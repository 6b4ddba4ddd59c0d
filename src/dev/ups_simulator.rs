//! A simulated UPS: Track Alert v2 pushes, one event per POST (CARRIERS.md 1.7), sent with
//! `x-api-key` and the subscription's credential, on a US network. Times are given as UPS does:
//! local date and time, GMT date and time, and `gmtOffset` as `-04.00`.

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::json;

use super::carrier_simulator::{Place, SimulatedCarrier, SimulatedScan, Step};

const PLACES: [Place; 3] = [
    Place {
        city: "ATLANTA",
        region: "GA",
        postal_code: "30301",
        country: "US",
        country_name: "United States",
        offset_hours: -4,
    },
    Place {
        city: "HODGKINS",
        region: "IL",
        postal_code: "60525",
        country: "US",
        country_name: "United States",
        offset_hours: -5,
    },
    Place {
        city: "CHARLOTTE",
        region: "NC",
        postal_code: "28209",
        country: "US",
        country_name: "United States",
        offset_hours: -4,
    },
];

/// Activity type, two-letter code, description and status code of a step.
fn activity(step: Step) -> (&'static str, &'static str, &'static str, &'static str) {
    match step {
        Step::LabelCreated => ("M", "MP", "Shipment Ready for UPS", "003"),
        Step::PickedUp => ("P", "PU", "Picked up by UPS", "038"),
        Step::ArrivedAtHub | Step::ArrivedAtDeliveryDepot => {
            ("I", "AR", "Arrived at Facility", "005")
        }
        Step::DepartedHub => ("I", "DP", "Departed from Facility", "005"),
        Step::OutForDelivery => ("I", "OT", "Out for Delivery", "021"),
        Step::FailedAttempt => (
            "X",
            "NA",
            "The receiver was not available for delivery. We'll make a second attempt the next business day.",
            "013",
        ),
        Step::Delivered => ("D", "FS", "Delivered", "011"),
    }
}

/// `-04.00`: UPS's Track Alert offset.
fn gmt_offset(at: &DateTime<FixedOffset>) -> String {
    let seconds = at.offset().local_minus_utc();
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    format!("{sign}{:02}.{:02}", minutes / 60, minutes % 60)
}

/// The Track Alert body for one scan.
pub fn alert_payload(tracking_number: &str, scan: &SimulatedScan) -> Vec<u8> {
    let (kind, code, description, status_code) = activity(scan.step);
    let gmt = scan.at.with_timezone(&Utc);
    let delivered = scan.step == Step::Delivered;
    let local_date = scan.at.format("%Y%m%d").to_string();
    let local_time = scan.at.format("%H%M%S").to_string();
    let body = json!({
        "trackingNumber": tracking_number,
        "localActivityDate": local_date,
        "localActivityTime": local_time,
        "activityLocation": {
            "city": scan.place.city,
            "stateProvince": scan.place.region,
            // UPS leaves the postcode blank until delivery.
            "postalCode": if delivered { scan.place.postal_code } else { "" },
            "country": scan.place.country,
        },
        "activityStatus": {"type": kind, "code": code, "description": description, "descriptionCode": status_code},
        "scheduledDeliveryDate": "",
        "actualDeliveryDate": if delivered { local_date.as_str() } else { "" },
        "actualDeliveryTime": if delivered { local_time.as_str() } else { "" },
        "gmtActivityDate": gmt.format("%Y%m%d").to_string(),
        "gmtActivityTime": gmt.format("%H%M%S").to_string(),
        "gmtOffset": gmt_offset(&scan.at),
        "deliveryStartTime": "",
        "deliveryEndTime": "",
        "deliveryTimeDescription": "",
        "deliveryPhoto": "",
        "receivedBy": if delivered { "DOE" } else { "" },
    });
    // Serialising a serde_json::Value cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// UPS as `gluey dev` plays it.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpsSimulator;

impl SimulatedCarrier for UpsSimulator {
    fn carrier(&self) -> &str {
        "ups"
    }

    fn path(&self) -> String {
        "/carriers/ups/alert".into()
    }

    fn places(&self) -> &'static [Place; 3] {
        &PLACES
    }

    fn code(&self, step: Step) -> &'static str {
        activity(step).3
    }

    fn tracking_number(&self, i: usize) -> String {
        format!("1Z999AA1{:010}", 1_000_000 + i * 7919)
    }

    /// Track Alert carries no history: only the newest scan.
    fn payload(&self, tracking_number: &str, history: &[SimulatedScan]) -> Vec<u8> {
        history
            .last()
            .map(|scan| alert_payload(tracking_number, scan))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_written_as_ups_does() {
        let at = DateTime::parse_from_rfc3339("2024-04-23T09:15:19-04:00").unwrap();
        assert_eq!(gmt_offset(&at), "-04.00");
        let at = DateTime::parse_from_rfc3339("2024-04-23T09:15:19+05:30").unwrap();
        assert_eq!(gmt_offset(&at), "+05.30");
    }
}
