//! One `trackResult` turned into canonical records: each `scanEvents[]` entry into a tracking
//! event (through the mapping table), and the snapshot's estimated delivery into an ETA update.
//! It owns the field-by-field translation; the invariant is that a record's content depends only
//! on the scan itself and on snapshot fields that describe that scan (the signature on `DL`), so
//! the same scan read from a later snapshot yields the same event.

use chrono::{DateTime, Utc};
use gluey_contract::{Location, Status, TrackingEvent};
use serde_json::{Map, Value};

use super::mapping::{Canonical, MappingTable, Outcome};
use super::payload::TrackResult;
use super::{shape, text, timestamp, CARRIER};
use crate::format::{ParseError, ParsedRecord};
use crate::identity;

/// FedEx's delivered event type: the only one that carries the signature.
const DELIVERED: &str = "DL";

/// A tracking event with the instant it is sorted by.
pub(crate) struct ScanRecord {
    pub occurred_at: DateTime<Utc>,
    pub record: ParsedRecord,
}

/// The events of one trackResult, in array order (newest first, as FedEx sends them); scans whose
/// row says "no status change" are left out.
pub(crate) fn events(
    table: &MappingTable,
    tracking_number: &str,
    result: &TrackResult<'_>,
) -> Result<Vec<ScanRecord>, ParseError> {
    let scans = match result.object.get("scanEvents") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(scans)) => scans,
        Some(_) => return Err(shape(format!("{}.scanEvents is not an array", result.path))),
    };
    let signed_by = signed_by(result.object);
    let mut records = Vec::with_capacity(scans.len());
    for (index, scan) in scans.iter().enumerate() {
        let path = || format!("{}.scanEvents[{index}]", result.path);
        let scan = scan
            .as_object()
            .ok_or_else(|| shape(format!("{} is not an object", path())))?;
        let raw_type = match scan.get("eventType") {
            Some(Value::String(s)) if !s.trim().is_empty() => s,
            _ => return Err(shape(format!("{} has no eventType", path()))),
        };
        let event_type = raw_type.trim();
        let date = match scan.get("date") {
            Some(Value::String(s)) => s,
            _ => return Err(shape(format!("{} has no date", path()))),
        };
        let time = timestamp::parse(date)?;
        let exception_code = text(scan, "exceptionCode");
        let canonical = match table.lookup(event_type, exception_code) {
            Some((_, Outcome::NoStatusChange)) => continue,
            Some((_, Outcome::Event(canonical))) => canonical.clone(),
            None => unmapped(),
        };
        let event = TrackingEvent {
            status: canonical.status,
            milestone: canonical.milestone,
            code: canonical.code,
            sub_code: canonical.sub_code,
            carrier_code: raw_type.clone(),
            carrier_sub_code: exception_code.map(str::to_string),
            carrier_description: text(scan, "eventDescription")
                .or_else(|| text(scan, "exceptionDescription"))
                .map(str::to_string),
            occurred_at: time.utc,
            occurred_at_local: time.local_iso(),
            utc_offset_seconds: time.offset_seconds,
            offset_source: time.offset_source,
            time_flags: Vec::new(),
            location: location(scan),
            eta: None,
            signed_by: (event_type == DELIVERED)
                .then(|| signed_by.map(str::to_string))
                .flatten(),
            proof_of_delivery_ref: None,
            flags: Vec::new(),
        };
        records.push(ScanRecord {
            occurred_at: time.utc,
            record: ParsedRecord::Event {
                tracking_number: tracking_number.to_string(),
                event_id: identity::event_id(CARRIER, tracking_number, event_type, time.utc, &[]),
                event,
            },
        });
    }
    Ok(records)
}

/// The snapshot's estimated delivery: `dateAndTimes[type=ESTIMATED_DELIVERY].dateTime`, else
/// `estimatedDeliveryTimeWindow.window.ends`. Offset-less values are taken as UTC (see
/// `timestamp::parse`); a value that is present but unparseable is an error, not a silent drop.
pub(crate) fn estimated_delivery(
    result: &TrackResult<'_>,
) -> Result<Option<DateTime<Utc>>, ParseError> {
    let from_dates = result
        .object
        .get("dateAndTimes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .find(|d| text(d, "type") == Some("ESTIMATED_DELIVERY"))
        .and_then(|d| text(d, "dateTime"));
    let from_window = || {
        result
            .object
            .get("estimatedDeliveryTimeWindow")
            .and_then(|w| w.get("window"))
            .and_then(Value::as_object)
            .and_then(|w| text(w, "ends"))
    };
    from_dates
        .or_else(from_window)
        .map(|value| timestamp::parse(value).map(|t| t.utc))
        .transpose()
}

/// `deliveryDetails.signedByName`, else `receivedByName`.
fn signed_by(result: &Map<String, Value>) -> Option<&str> {
    let details = result.get("deliveryDetails")?.as_object()?;
    text(details, "signedByName").or_else(|| text(details, "receivedByName"))
}

fn location(scan: &Map<String, Value>) -> Option<Location> {
    let address = scan.get("scanLocation").and_then(Value::as_object);
    let field = |key: &str| address.and_then(|a| text(a, key)).map(str::to_string);
    let location = Location {
        carrier_location_code: text(scan, "locationId").map(str::to_string),
        city: field("city"),
        region: field("stateOrProvinceCode"),
        postal_code: field("postalCode"),
        country_iso2: field("countryCode"),
        ..Location::default()
    };
    (location != Location::default()).then_some(location)
}

/// A code missing from the mapping file: kept with its carrier code, classified `unknown`.
fn unmapped() -> Canonical {
    Canonical {
        status: Status::Unknown,
        milestone: "unknown".to_string(),
        code: "unknown".to_string(),
        sub_code: None,
    }
}
