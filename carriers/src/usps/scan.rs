//! One USPS response item turned into canonical records: each `trackingEvents[]` entry into a
//! tracking event (through the mapping table), and the item's expected delivery into an ETA
//! update. It owns the field-by-field translation and, above all, the event time:
//!
//! 1. `GMTTimestamp` (real seconds) is the instant when present. Its local offset is `GMTOffset`
//!    (`"-05:00"`, or `"-7:00"` as the spec example writes it); without one, the difference between
//!    `eventTimestamp` (local, seconds zeroed) and `GMTTimestamp`, rounded to the quarter hour.
//!    Both are the carrier's own GMT fields: `offset_source` `carrier_gmt_field`. Without either,
//!    the zone of the event's location gives the offset (`inferred_from_location`), else the
//!    default zone (`assumed_default`).
//! 2. Without `GMTTimestamp`, the offset-less `eventTimestamp` is resolved in the IANA zone of the
//!    event's state (`eventCountry` is null for domestic events, which means US), else in the
//!    default zone America/New_York, flagged `assumed_default`.
//!
//! The two paths agree to the minute (USPS zeroes the local seconds), which is all the identity
//! uses: minute truncation absorbs the local-vs-GMT seconds drift (CARRIERS.md 5.2).

use chrono::{DateTime, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use gluey_contract::{Location, OffsetSource};
use serde_json::{Map, Value};

use super::payload::Item;
use super::{shape, text, CARRIER, DEFAULT_ZONE};
use crate::event::{classify, Scan};
use crate::format::{ParseError, ParsedRecord, Skipped};
use crate::mapping::MappingTable;
use crate::time::{
    parse_local, parse_offset, parse_timestamp, resolve_local, zone_for, EventTime, TimeError,
    ZoneHint,
};

/// The events of one item, in array order (newest first, as USPS sends them), and the scans a
/// "no status change" row skips.
pub(crate) fn events(
    table: &MappingTable,
    tracking_number: &str,
    item: &Item<'_>,
) -> Result<(Vec<ParsedRecord>, Vec<Skipped>), ParseError> {
    let scans = match item.object.get("trackingEvents") {
        None | Some(Value::Null) => {
            if item
                .object
                .get("eventSummaries")
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty())
            {
                return Err(shape(format!(
                    "{} has eventSummaries but no trackingEvents: the poll must ask for \
                     expand=DETAIL",
                    item.path
                )));
            }
            return Ok((Vec::new(), Vec::new()));
        }
        Some(Value::Array(scans)) => scans,
        Some(_) => {
            return Err(shape(format!(
                "{}.trackingEvents is not an array",
                item.path
            )))
        }
    };
    let mut records = Vec::with_capacity(scans.len());
    let mut skipped = Vec::new();
    for (index, scan) in scans.iter().enumerate() {
        let path = format!("{}.trackingEvents[{index}]", item.path);
        let scan = scan
            .as_object()
            .ok_or_else(|| shape(format!("{path} is not an object")))?;
        let location = location(scan);
        let time = event_time(scan, location.as_ref(), &path)?;
        let scan = Scan {
            tracking_number: tracking_number.to_string(),
            carrier_code: code(scan, &path)?,
            kind: None,
            reason: text(scan, "reasonCode").map(str::to_string),
            description: text(scan, "eventType").map(str::to_string),
            time: Some(time),
            location,
            signed_by: text(scan, "name").map(str::to_string),
            ..Scan::default()
        };
        match classify(CARRIER, table, scan) {
            Ok(record) => records.push(record),
            Err(skip) => skipped.push(skip),
        }
    }
    Ok((records, skipped))
}

/// `eventCode` verbatim; an integer is taken as its digits (a float is no code), a missing code as empty (status
/// `unknown`, the description kept).
fn code(scan: &Map<String, Value>, path: &str) -> Result<String, ParseError> {
    match scan.get("eventCode") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        Some(_) => Err(shape(format!("{path}.eventCode is not a string"))),
    }
}

fn hint<'a>(location: Option<&'a Location>) -> ZoneHint<'a> {
    ZoneHint {
        country: location.and_then(|l| l.country_iso2.as_deref()),
        region: location.and_then(|l| l.region.as_deref()),
        carrier_default: Some(DEFAULT_ZONE),
    }
}

/// A string field as a timestamp: `None` when absent or blank, an error when not a string.
fn time_text<'a>(
    scan: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, ParseError> {
    match scan.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(_) => Err(shape(format!("{path}.{key} is not a string"))),
    }
}

/// The event time, by the rules in the module docs.
fn event_time(
    scan: &Map<String, Value>,
    location: Option<&Location>,
    path: &str,
) -> Result<EventTime, ParseError> {
    let hint = hint(location);
    let local = time_text(scan, "eventTimestamp", path)?;
    let Some(gmt) = time_text(scan, "GMTTimestamp", path)? else {
        let local = local.ok_or_else(|| {
            shape(format!(
                "{path} has neither eventTimestamp nor GMTTimestamp"
            ))
        })?;
        return timestamp(local, hint);
    };
    // GMT is GMT: an offset-less value is read as UTC.
    let utc = parse_timestamp(gmt, ZoneHint::default())?.utc;
    if let Some(offset) = time_text(scan, "GMTOffset", path)? {
        let seconds = parse_offset(offset)
            .ok_or_else(|| TimeError::new(offset, "GMTOffset is not ±hh:mm"))?;
        return from_utc(utc, seconds, OffsetSource::CarrierGmtField);
    }
    if let Some(local) = local {
        let local_time = timestamp(local, hint)?.local;
        if let Some(seconds) = offset_between(local_time, utc) {
            return from_utc(utc, seconds, OffsetSource::CarrierGmtField);
        }
    }
    let (zone, source) = match hint.country.and_then(|c| zone_for(c, hint.region)) {
        Some(zone) => (zone, OffsetSource::InferredFromLocation),
        None => (DEFAULT_ZONE, OffsetSource::AssumedDefault),
    };
    from_utc(utc, offset_at(zone, utc), source)
}

/// `EventTime::from_utc`, refusing instants whose local time chrono cannot represent (years near
/// ±262143): the shared helper would panic on them.
fn from_utc(
    utc: DateTime<Utc>,
    offset_seconds: i32,
    source: OffsetSource,
) -> Result<EventTime, ParseError> {
    let representable = utc
        .naive_utc()
        .checked_add_signed(chrono::TimeDelta::seconds(i64::from(offset_seconds)))
        .is_some();
    if !representable {
        return Err(TimeError::new(&utc.to_rfc3339(), "local time out of range").into());
    }
    Ok(EventTime::from_utc(utc, offset_seconds, source)?)
}

/// `parse_timestamp`, refusing local times within two days of the limits of chrono's calendar
/// (years near ±262143) before a zone is applied: resolving them in a zone would overflow inside
/// the shared helpers.
fn timestamp(text: &str, hint: ZoneHint<'_>) -> Result<EventTime, ParseError> {
    // Read in UTC first: no offset arithmetic, so it cannot overflow.
    let local = parse_timestamp(text, ZoneHint::default())?.local;
    if !representable(local) {
        return Err(TimeError::new(text, "date out of range").into());
    }
    Ok(parse_timestamp(text, hint)?)
}

fn representable(local: NaiveDateTime) -> bool {
    let margin = chrono::TimeDelta::days(2);
    local.checked_sub_signed(margin).is_some() && local.checked_add_signed(margin).is_some()
}

/// `local − utc` rounded to the nearest quarter hour (the local time has its seconds zeroed), if
/// that is a real offset (within ±18 h).
fn offset_between(local: NaiveDateTime, utc: DateTime<Utc>) -> Option<i32> {
    let seconds = (local - utc.naive_utc()).num_seconds();
    let quarter = 15 * 60;
    let rounded = (seconds + quarter / 2).div_euclid(quarter) * quarter;
    i32::try_from(rounded).ok().filter(|s| s.abs() <= 18 * 3600)
}

fn offset_at(zone: Tz, utc: DateTime<Utc>) -> i32 {
    zone.offset_from_utc_datetime(&utc.naive_utc())
        .fix()
        .local_minus_utc()
}

/// `eventCity` (verbatim, it can be a facility name), `eventState`, `eventZIP`, and the country:
/// `eventCountry` when it is an ISO code, `US` when it is null or blank (a domestic event).
fn location(scan: &Map<String, Value>) -> Option<Location> {
    let field = |key: &str| text(scan, key).map(str::to_string);
    let mut location = Location {
        city: field("eventCity"),
        region: field("eventState"),
        postal_code: field("eventZIP"),
        ..Location::default()
    };
    if location == Location::default() {
        return None;
    }
    location.country_iso2 = country(text(scan, "eventCountry"));
    Some(location)
}

/// An ISO 3166 alpha-2 code from a USPS country field; `US` for a domestic (null) one. Country
/// names (international events) are not codes and give `None`.
fn country(value: Option<&str>) -> Option<String> {
    match value {
        None => Some("US".to_string()),
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(c.to_ascii_uppercase())
        }
        Some(c) if c.eq_ignore_ascii_case("USA") || c.eq_ignore_ascii_case("UNITED STATES") => {
            Some("US".to_string())
        }
        Some(_) => None,
    }
}

/// The item's expected delivery as an instant: `expectedDeliveryTimeStamp`, else
/// `guaranteedDeliveryTimeStamp`, else `predictedDeliveryDate` with
/// `predictedDeliveryWindowEndTime`. These are local times at the destination (offset-less), so
/// they are resolved in the destination state's zone; a bare date means that day's 00:00, as
/// FedEx writes date-only ETAs. A value that is present but unparseable is an error, not a silent
/// drop.
pub(crate) fn expected_delivery(item: &Item<'_>) -> Result<Option<DateTime<Utc>>, ParseError> {
    let object = item.object;
    let destination = Location {
        region: text(object, "destinationState").map(str::to_string),
        country_iso2: country(text(object, "destinationCountryCode")),
        ..Location::default()
    };
    let hint = hint(Some(&destination));
    for key in ["expectedDeliveryTimeStamp", "guaranteedDeliveryTimeStamp"] {
        if let Some(value) = time_text(object, key, &item.path)? {
            return Ok(Some(timestamp(value, hint)?.utc));
        }
    }
    let Some(date) = time_text(object, "predictedDeliveryDate", &item.path)? else {
        return Ok(None);
    };
    let day = match parse_local(date) {
        Some(day) => day.date(),
        None => return Err(TimeError::new(date, "predictedDeliveryDate is not a date").into()),
    };
    let time = match time_text(object, "predictedDeliveryWindowEndTime", &item.path)? {
        Some(end) => clock_time(end).ok_or_else(|| {
            TimeError::new(end, "predictedDeliveryWindowEndTime is not a time of day")
        })?,
        None => NaiveTime::MIN,
    };
    let local = day.and_time(time);
    if !representable(local) {
        return Err(TimeError::new(date, "date out of range").into());
    }
    Ok(Some(resolve_local(local, hint).utc))
}

/// A time of day as USPS writes window times: `20:00`, `20:00:00`, `8:00 PM`, `8:00pm`, `8pm`.
fn clock_time(text: &str) -> Option<NaiveTime> {
    let mut compact: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.')
        .collect::<String>()
        .to_ascii_uppercase();
    // chrono needs minutes: `8PM` is read as `8:00PM`.
    if !compact.contains(':') && (compact.ends_with("AM") || compact.ends_with("PM")) {
        compact.insert_str(compact.len().saturating_sub(2), ":00");
    }
    ["%H:%M:%S", "%H:%M", "%I:%M%p"]
        .iter()
        .find_map(|f| NaiveTime::parse_from_str(&compact, f).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn offsets_from_local_and_gmt_are_rounded_to_the_quarter_hour() {
        let utc = Utc.with_ymd_and_hms(2024, 11, 22, 18, 58, 40).unwrap();
        let local = NaiveDate::from_ymd_opt(2024, 11, 22)
            .unwrap()
            .and_hms_opt(13, 58, 0)
            .unwrap();
        assert_eq!(offset_between(local, utc), Some(-5 * 3600));
        let india = NaiveDate::from_ymd_opt(2024, 11, 23)
            .unwrap()
            .and_hms_opt(0, 28, 0)
            .unwrap();
        assert_eq!(offset_between(india, utc), Some(5 * 3600 + 1800));
        let nonsense = NaiveDate::from_ymd_opt(2024, 12, 22)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        assert_eq!(offset_between(nonsense, utc), None);
    }

    #[test]
    fn window_times_in_usps_spellings() {
        let eight_pm = NaiveTime::from_hms_opt(20, 0, 0);
        for text in ["20:00", "20:00:00", "8:00 PM", "8:00pm", "8pm", "8:00 p.m."] {
            assert_eq!(clock_time(text), eight_pm, "{text}");
        }
        assert_eq!(clock_time("soon"), None);
    }
}
