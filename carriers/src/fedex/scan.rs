//! One `trackResult` turned into canonical records: each `scanEvents[]` entry into a tracking
//! event (through the mapping table), and the snapshot's estimated delivery into an ETA update.
//! It owns the field-by-field translation; the invariant is that a record's content depends only
//! on the scan itself and on snapshot fields that describe that scan (the signature on `DL`), so
//! the same scan read from a later snapshot yields the same event.

use chrono::{DateTime, Utc};
use gluey_contract::Location;
use serde_json::{Map, Value};

use super::payload::TrackResult;
use super::{shape, text, CARRIER};
use crate::event::{classify, Scan};
use crate::format::{ParseError, ParsedRecord, Skipped};
use crate::mapping::MappingTable;
use crate::time::{parse_timestamp, ZoneHint};

/// FedEx's delivered event type: the only one that carries the signature.
const DELIVERED: &str = "DL";

/// The events of one trackResult, in array order (newest first, as FedEx sends them), and the
/// scans a "no status change" row skips.
pub(crate) fn events(
    table: &MappingTable,
    tracking_number: &str,
    result: &TrackResult<'_>,
) -> Result<(Vec<ParsedRecord>, Vec<Skipped>), ParseError> {
    let scans = match result.object.get("scanEvents") {
        None | Some(Value::Null) => return Ok((Vec::new(), Vec::new())),
        Some(Value::Array(scans)) => scans,
        Some(_) => return Err(shape(format!("{}.scanEvents is not an array", result.path))),
    };
    let signed_by = signed_by(result.object);
    let mut records = Vec::with_capacity(scans.len());
    let mut skipped = Vec::new();
    for (index, scan) in scans.iter().enumerate() {
        let path = || format!("{}.scanEvents[{index}]", result.path);
        let scan = scan
            .as_object()
            .ok_or_else(|| shape(format!("{} is not an object", path())))?;
        let raw_type = match scan.get("eventType") {
            Some(Value::String(s)) if !s.trim().is_empty() => s,
            _ => return Err(shape(format!("{} has no eventType", path()))),
        };
        let date = match scan.get("date") {
            Some(Value::String(s)) => s,
            _ => return Err(shape(format!("{} has no date", path()))),
        };
        let location = location(scan);
        let hint = ZoneHint {
            country: location.as_ref().and_then(|l| l.country_iso2.as_deref()),
            region: location.as_ref().and_then(|l| l.region.as_deref()),
            carrier_default: None,
        };
        let time = parse_timestamp(date, hint)?;
        let scan = Scan {
            tracking_number: tracking_number.to_string(),
            carrier_code: raw_type.clone(),
            kind: None,
            reason: text(scan, "exceptionCode").map(str::to_string),
            description: text(scan, "eventDescription")
                .or_else(|| text(scan, "exceptionDescription"))
                .map(str::to_string),
            time: Some(time),
            location,
            signed_by: (raw_type.trim() == DELIVERED)
                .then(|| signed_by.map(str::to_string))
                .flatten(),
            ..Scan::default()
        };
        match classify(CARRIER, table, scan) {
            Ok(record) => records.push(record),
            Err(skip) => skipped.push(skip),
        }
    }
    Ok((records, skipped))
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
        .map(|value| {
            parse_timestamp(value, ZoneHint::default())
                .map(|t| t.utc)
                .map_err(ParseError::from)
        })
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
