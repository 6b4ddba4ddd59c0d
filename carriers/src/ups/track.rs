//! `ups.track`: a Track API response, `{"trackResponse": {"shipment": [{"inquiryNumber",
//! "warnings", "package": [{"trackingNumber", "activity": [...], ...}]}]}}`. Each activity (most
//! recent first, as UPS lists them) becomes a tracking event; each package's scheduled or
//! rescheduled delivery date an ETA update; each shipment warning (`TW0001 Tracking Information
//! Not Found`, sent with HTTP 200) a skipped item. A UPS error body (`response.errors`) is a
//! shape error naming its code.
//!
//! The ETA: the `RDD` (rescheduled) date, else the `SDD` (scheduled) one, none once a `DEL`
//! date exists; at `deliveryTime.endTime` when `deliveryTime.type` is a window or a commit time
//! (`EDW`, `CDW`, `IDW`, `CMT`), else at 23:59:59 (end of day); in the zone of the package's
//! `DESTINATION` address, else of its most recent activity's location (see `activity_time`).
//!
//! Split: one piece per package tracking number (a warning-only shipment is keyed by its
//! inquiry number). Each piece is the same response shape holding only that number's packages,
//! with their shipments' other fields (inquiry number, warnings) kept.

use chrono::{DateTime, NaiveTime, Utc};
use serde_json::{Map, Value};

use super::activity::{self, Activity};
use super::activity_time::{self, TimeFields};
use super::{array, error_code, object, parse_json, text, TRACK};
use crate::event::oldest_first;
use crate::format::{ParseError, Parsed, ParsedRecord, ShipmentSplit, SkipReason, Skipped};
use crate::mapping::MappingTable;
use crate::time::resolve_local;

/// Delivery-time types whose `endTime` is a time of day for the ETA.
const TIMED: [&str; 4] = ["EDW", "CDW", "IDW", "CMT"];

fn shape(reason: impl Into<String>) -> ParseError {
    super::shape(TRACK, reason)
}

/// One `trackResponse.shipment[]` entry.
struct Shipment<'a> {
    object: &'a Map<String, Value>,
    inquiry_number: Option<String>,
    packages: Vec<Package<'a>>,
    path: String,
}

struct Package<'a> {
    value: &'a Value,
    object: &'a Map<String, Value>,
    tracking_number: String,
    path: String,
}

fn shipments(root: &Value) -> Result<Vec<Shipment<'_>>, ParseError> {
    let Some(root) = root.as_object() else {
        return Err(shape("expected a json object"));
    };
    let Some(response) = root.get("trackResponse") else {
        return Err(shape(match error_code(root) {
            Some(code) => format!("payload is a ups error response ({code}), not tracking data"),
            None => "expected a track api response with trackResponse.shipment".to_string(),
        }));
    };
    let shipments = response
        .get("shipment")
        .and_then(Value::as_array)
        .ok_or_else(|| shape("trackResponse.shipment is missing or not an array"))?;
    shipments
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let path = format!("trackResponse.shipment[{index}]");
            let object = value
                .as_object()
                .ok_or_else(|| shape(format!("{path} is not an object")))?;
            let packages = array(TRACK, object, "package", &path)?
                .iter()
                .enumerate()
                .map(|(index, value)| package(value, format!("{path}.package[{index}]")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Shipment {
                object,
                inquiry_number: text(object, "inquiryNumber"),
                packages,
                path,
            })
        })
        .collect()
}

fn package(value: &Value, path: String) -> Result<Package<'_>, ParseError> {
    let object = value
        .as_object()
        .ok_or_else(|| shape(format!("{path} is not an object")))?;
    let tracking_number = text(object, "trackingNumber")
        .ok_or_else(|| shape(format!("{path} has no trackingNumber")))?;
    Ok(Package {
        value,
        object,
        tracking_number,
        path,
    })
}

pub(crate) fn parse(table: &MappingTable, payload: &[u8]) -> Result<Parsed, ParseError> {
    let root = parse_json(payload)?;
    let mut parsed = Parsed::default();
    let mut updates: Vec<ParsedRecord> = Vec::new();
    for shipment in shipments(&root)? {
        parsed.skipped.extend(warnings(&shipment)?);
        for package in &shipment.packages {
            let mut records = Vec::new();
            for (index, value) in array(TRACK, package.object, "activity", &package.path)?
                .iter()
                .enumerate()
            {
                let path = format!("{}.activity[{index}]", package.path);
                match activity::record(table, read_activity(package, value, path)?)? {
                    Ok(record) => records.push(record),
                    Err(skip) => parsed.skipped.push(skip),
                }
            }
            // Newest first from UPS: reversed, the stable sort below keeps ties in reversed
            // array order (CARRIERS.md 5.2).
            records.reverse();
            parsed.records.extend(records);
            if let Some(eta) = estimated_delivery(package)? {
                crate::event::push_eta(&mut updates, &package.tracking_number, eta);
            }
        }
    }
    oldest_first(&mut parsed.records);
    parsed.records.extend(updates);
    Ok(parsed)
}

/// `warnings[]` of a shipment (`TW0001` and the like): not events, reported as skipped.
fn warnings(shipment: &Shipment<'_>) -> Result<Vec<Skipped>, ParseError> {
    array(TRACK, shipment.object, "warnings", &shipment.path)?
        .iter()
        .enumerate()
        .map(|(index, warning)| {
            let warning = warning.as_object().ok_or_else(|| {
                shape(format!(
                    "{}.warnings[{index}] is not an object",
                    shipment.path
                ))
            })?;
            Ok(Skipped {
                tracking_number: shipment.inquiry_number.clone(),
                carrier_code: text(warning, "code").unwrap_or_default(),
                why: SkipReason::ItemError {
                    message: text(warning, "message").unwrap_or_default(),
                },
            })
        })
        .collect()
}

fn read_activity(
    package: &Package<'_>,
    value: &Value,
    path: String,
) -> Result<Activity, ParseError> {
    let item = value
        .as_object()
        .ok_or_else(|| shape(format!("{path} is not an object")))?;
    let status = object(item, "status").ok_or_else(|| shape(format!("{path} has no status")))?;
    let place = object(item, "location");
    let location = activity::location(
        place.and_then(|p| object(p, "address")),
        place.and_then(|p| text(p, "slic")),
    );
    let time = TimeFields::read(item, ["date", "time", "gmtDate", "gmtTime", "gmtOffset"]);
    Ok(Activity {
        format: TRACK,
        tracking_number: package.tracking_number.clone(),
        status_code: text(status, "statusCode"),
        activity_code: text(status, "code"),
        kind: text(status, "type"),
        description: text(status, "description")
            .or_else(|| text(status, "simplifiedTextDescription")),
        time,
        location,
        received_by: object(package.object, "deliveryInformation")
            .and_then(|d| text(d, "receivedBy")),
        path,
    })
}

/// The package's ETA (see the module docs); `None` once delivered or when UPS gives no date.
fn estimated_delivery(package: &Package<'_>) -> Result<Option<DateTime<Utc>>, ParseError> {
    let path = &package.path;
    let dates: Vec<(String, String)> = array(TRACK, package.object, "deliveryDate", path)?
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|d| Some((text(d, "type")?, text(d, "date")?)))
        .collect();
    let date_of = |kind: &str| dates.iter().find(|(k, _)| k == kind).map(|(_, d)| d);
    if date_of("DEL").is_some() {
        return Ok(None);
    }
    let Some(date) = date_of("RDD").or_else(|| date_of("SDD")) else {
        return Ok(None);
    };
    let day = activity_time::parse_date(date).ok_or_else(|| ParseError::Timestamp {
        value: date.chars().take(64).collect(),
        reason: format!("{path}.deliveryDate[].date is not YYYYMMDD"),
    })?;
    let window = object(package.object, "deliveryTime");
    let end = window
        .filter(|w| text(w, "type").is_some_and(|t| TIMED.contains(&t.as_str())))
        .and_then(|w| text(w, "endTime"));
    let clock = match end {
        Some(end) => activity_time::parse_time(&end).ok_or_else(|| ParseError::Timestamp {
            value: end.chars().take(64).collect(),
            reason: format!("{path}.deliveryTime.endTime is not HHMMSS"),
        })?,
        None => NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default(),
    };
    let destination = array(TRACK, package.object, "packageAddress", path)?
        .iter()
        .filter_map(Value::as_object)
        .find(|a| text(a, "type").is_some_and(|t| t.eq_ignore_ascii_case("DESTINATION")))
        .and_then(|a| activity::location(object(a, "address"), None));
    let newest = || {
        package
            .object
            .get("activity")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_object)
            .and_then(|a| object(a, "location"))
            .and_then(|l| activity::location(object(l, "address"), None))
    };
    let place = destination.or_else(newest);
    let time = resolve_local(
        day.and_time(clock),
        activity_time::zone_hint(place.as_ref()),
    );
    Ok(Some(time.utc))
}

/// One tracking number's part of a response: per shipment index, that number's packages (none
/// for a warning-only shipment).
type ShipmentParts<'a> = Vec<(usize, Vec<&'a Value>)>;

/// One split per tracking number, in order of first appearance (see the module docs).
pub(crate) fn split(payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
    let root = parse_json(payload)?;
    let shipments = shipments(&root)?;
    let mut groups: Vec<(String, ShipmentParts<'_>)> = Vec::new();
    for (index, shipment) in shipments.iter().enumerate() {
        let mut keys: Vec<(String, Option<&Value>)> = shipment
            .packages
            .iter()
            .map(|p| (p.tracking_number.clone(), Some(p.value)))
            .collect();
        if keys.is_empty() {
            keys.extend(shipment.inquiry_number.clone().map(|n| (n, None)));
        }
        for (number, package) in keys {
            let at = match groups.iter().position(|(n, _)| *n == number) {
                Some(at) => at,
                None => {
                    groups.push((number, Vec::new()));
                    groups.len() - 1
                }
            };
            let Some((_, group)) = groups.get_mut(at) else {
                continue;
            };
            match group.iter_mut().find(|(i, _)| *i == index) {
                Some((_, packages)) => packages.extend(package),
                None => group.push((index, package.into_iter().collect())),
            }
        }
    }
    match groups.as_slice() {
        [] => Err(shape("payload names no tracking number")),
        [(number, _)] => Ok(vec![ShipmentSplit {
            tracking_number: number.clone(),
            payload: payload.to_vec(),
        }]),
        _ => groups
            .into_iter()
            .map(|(number, parts)| {
                let shipment: Vec<Value> = parts
                    .into_iter()
                    .filter_map(|(index, packages)| {
                        let mut object = shipments.get(index)?.object.clone();
                        if !packages.is_empty() {
                            object.insert(
                                "package".into(),
                                Value::Array(packages.into_iter().cloned().collect()),
                            );
                        }
                        Some(Value::Object(object))
                    })
                    .collect();
                let piece = serde_json::json!({"trackResponse": {"shipment": shipment}});
                serde_json::to_vec(&piece)
                    .map(|payload| ShipmentSplit {
                        tracking_number: number.clone(),
                        payload,
                    })
                    .map_err(|e| shape(format!("cannot re-serialise shipment {number}: {e}")))
            })
            .collect(),
    }
}
