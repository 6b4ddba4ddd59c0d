//! One DHL shipment object turned into canonical records: each `events[]` entry (or, when a body
//! carries no events, its `status`) into a tracking event through the mapping table, and the
//! estimated delivery into an ETA update. It owns the field-by-field translation; the invariant is
//! that a record's content depends only on the event itself and on shipment fields that describe
//! that event (the signature on `delivered`), so the same event read from a later poll or a push
//! yields the same record.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use gluey_contract::Location;
use serde_json::{Map, Value};

use super::payload::Shipment;
use super::{locality, shape, text, CARRIER};
use crate::event::{classify, Scan};
use crate::format::{ParseError, ParsedRecord, Skipped};
use crate::mapping::MappingTable;
use crate::time::{parse_timestamp, ZoneHint};

/// DHL documents no zone for offset-less times (CARRIERS.md 1.1); events without a usable
/// location are read in DHL's home zone and flagged `assumed_default`.
pub(crate) const DEFAULT_ZONE: Tz = chrono_tz::Europe::Berlin;

/// The normalised `statusCode` of a delivery, the only event that carries the signature.
const DELIVERED: &str = "DELIVERED";

/// The events of one shipment, in array order (newest first, as DHL sends them), and the events
/// a "no status change" row skips.
pub(crate) fn events(
    format: &'static str,
    table: &MappingTable,
    shipment: &Shipment<'_>,
) -> Result<(Vec<ParsedRecord>, Vec<Skipped>), ParseError> {
    let listed = match shipment.object.get("events") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(events)) => events.as_slice(),
        Some(_) => {
            return Err(shape(
                format,
                format!("{}.events is not an array", shipment.path),
            ))
        }
    };
    // A body without events (a push carrying only the new status) is read from `status`; when
    // events are listed, `status` repeats the newest one and is not read again.
    let entries: Vec<(&Value, String)> = if listed.is_empty() {
        match shipment.object.get("status") {
            None | Some(Value::Null) => Vec::new(),
            Some(status) => vec![(status, format!("{}.status", shipment.path))],
        }
    } else {
        listed
            .iter()
            .enumerate()
            .map(|(index, e)| (e, format!("{}.events[{index}]", shipment.path)))
            .collect()
    };
    let proof = proof_of_delivery(shipment.object);
    let mut records = Vec::with_capacity(entries.len());
    let mut skipped = Vec::new();
    for (value, path) in entries {
        let event = value
            .as_object()
            .ok_or_else(|| shape(format, format!("{path} is not an object")))?;
        let code = match event.get("statusCode") {
            Some(Value::String(s)) if !s.trim().is_empty() => s,
            _ => return Err(shape(format, format!("{path} has no statusCode"))),
        };
        let timestamp = match event.get("timestamp") {
            Some(Value::String(s)) => s,
            _ => return Err(shape(format, format!("{path} has no timestamp"))),
        };
        let location = event_location(event);
        let hint = ZoneHint {
            country: location.as_ref().and_then(|l| l.country_iso2.as_deref()),
            region: None,
            carrier_default: Some(DEFAULT_ZONE),
        };
        let time = parse_timestamp(timestamp, hint)?;
        let description = text(event, "description").or_else(|| text(event, "status"));
        let delivered = table.normalise_code(code) == DELIVERED;
        let scan = Scan {
            tracking_number: shipment.id.to_string(),
            carrier_code: code.clone(),
            description: description.map(str::to_string),
            time: Some(time),
            location,
            signed_by: proof.signed_by.clone().filter(|_| delivered),
            proof_of_delivery_ref: proof.document.clone().filter(|_| delivered),
            identity_extra: vec![identity_text(description.unwrap_or_default())],
            ..Scan::default()
        };
        match classify(CARRIER, table, scan) {
            Ok(record) => records.push(record),
            Err(skip) => skipped.push(skip),
        }
    }
    Ok((records, skipped))
}

/// The description as identity: whitespace collapsed and lower-cased, so that re-wrapped or
/// re-cased text from another route is the same event.
pub(crate) fn identity_text(description: &str) -> String {
    description
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// `estimatedTimeOfDelivery`, else `estimatedDeliveryTimeFrame.estimatedThrough`. An offset-less
/// value is read in the destination's zone, else DHL's default; a value that is present but
/// unparseable is an error, not a silent drop.
pub(crate) fn estimated_delivery(
    shipment: &Shipment<'_>,
) -> Result<Option<DateTime<Utc>>, ParseError> {
    let object = shipment.object;
    let value = text(object, "estimatedTimeOfDelivery").or_else(|| {
        object
            .get("estimatedDeliveryTimeFrame")
            .and_then(Value::as_object)
            .and_then(|frame| text(frame, "estimatedThrough"))
    });
    let Some(value) = value else {
        return Ok(None);
    };
    let destination = object
        .get("destination")
        .and_then(|d| d.get("address"))
        .and_then(Value::as_object)
        .and_then(address_location);
    let hint = ZoneHint {
        country: destination.as_ref().and_then(|l| l.country_iso2.as_deref()),
        region: None,
        carrier_default: Some(DEFAULT_ZONE),
    };
    Ok(Some(parse_timestamp(value, hint)?.utc))
}

#[derive(Default)]
struct Proof {
    signed_by: Option<String>,
    document: Option<String>,
}

/// `details.proofOfDelivery`: who signed (`signed.name`, else given and family name) and the
/// proof-of-delivery document (`documentUrl`, else `signatureUrl`).
fn proof_of_delivery(shipment: &Map<String, Value>) -> Proof {
    let Some(proof) = shipment
        .get("details")
        .and_then(|d| d.get("proofOfDelivery"))
        .and_then(Value::as_object)
    else {
        return Proof::default();
    };
    let signed_by = match proof.get("signed") {
        Some(Value::String(name)) => Some(name.trim())
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        Some(Value::Object(signed)) => text(signed, "name").map(str::to_string).or_else(|| {
            let parts: Vec<&str> = ["givenName", "familyName"]
                .iter()
                .filter_map(|k| text(signed, k))
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        }),
        _ => None,
    };
    Proof {
        signed_by,
        document: text(proof, "documentUrl")
            .or_else(|| text(proof, "signatureUrl"))
            .map(str::to_string),
    }
}

fn event_location(event: &Map<String, Value>) -> Option<Location> {
    event
        .get("location")
        .and_then(|l| l.get("address"))
        .and_then(Value::as_object)
        .and_then(address_location)
}

/// `{countryCode, postalCode, addressLocality}`; the country comes from `countryCode`, else from
/// a country name ending `addressLocality` (see `locality`).
fn address_location(address: &Map<String, Value>) -> Option<Location> {
    let locality = text(address, "addressLocality").map(locality::parse);
    let country = text(address, "countryCode")
        .and_then(locality::iso2)
        .or_else(|| {
            locality
                .as_ref()
                .and_then(|l| l.country)
                .map(str::to_string)
        });
    let location = Location {
        city: locality.and_then(|l| l.city),
        postal_code: text(address, "postalCode").map(str::to_string),
        country_iso2: country,
        ..Location::default()
    };
    (location != Location::default()).then_some(location)
}
