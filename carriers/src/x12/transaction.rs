//! One 214 transaction read into scans: B10 gives the tracking number, each AT7 (in any LX loop)
//! one status with the MS1 that follows it, and N4 segments give the places that offset-less
//! (`LT`) times are resolved in.
//!
//! Places for an AT7's time zone, first found wins: its own MS1; an N4 inside its LX loop; the
//! header's consignee (N1 `CN`) or ship-to (`ST`) N4; the first header N4 of any party. Only the
//! first two describe where the event happened, so only they become the event's `location`.
//! A US or Canadian MS1 often has no country (MS1-03): a state or province code alone is read as
//! US, else Canada, for the zone.

use chrono::{NaiveDateTime, NaiveTime};
use chrono_tz::Tz;
use gluey_contract::{Location, OffsetSource};

use super::segments::{Segment, Transaction};
use super::shape;
use crate::format::ParseError;
use crate::time::{
    edi_time_code, parse_compact_date, parse_compact_time, resolve_local, zone_for, EdiTimeCode,
    EventTime, TimeError, ZoneHint,
};

/// AT7-03 codes are appointment statuses, told apart from AT7-01 statuses by this mapping type.
pub(crate) const APPOINTMENT: &str = "appointment";

/// A place from MS1 or N4.
#[derive(Debug, Clone, Default, PartialEq)]
struct Place {
    city: Option<String>,
    region: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

impl Place {
    fn from_ms1(segment: &Segment<'_>) -> Place {
        Place {
            city: some(segment.element(1)),
            region: some(segment.element(2)),
            postal_code: None,
            country: some(segment.element(3)).map(|c| iso2(&c)),
        }
    }

    fn from_n4(segment: &Segment<'_>) -> Place {
        Place {
            city: some(segment.element(1)),
            region: some(segment.element(2)),
            postal_code: some(segment.element(3)),
            country: some(segment.element(4)).map(|c| iso2(&c)),
        }
    }

    fn location(&self) -> Option<Location> {
        let location = Location {
            city: self.city.clone(),
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country_iso2: self.country.clone(),
            ..Location::default()
        };
        (location != Location::default()).then_some(location)
    }

    /// The country for zone lookup: the given one, else US or Canada when the region is one of
    /// theirs.
    fn zone_country(&self) -> Option<&str> {
        if let Some(country) = self.country.as_deref() {
            return Some(country);
        }
        let region = self.region.as_deref()?;
        ["US", "CA"]
            .into_iter()
            .find(|c| zone_for(c, Some(region)).is_some())
    }
}

fn some(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

/// Country codes as sent (X12 allows 3-letter codes for the common ones) → ISO alpha-2.
fn iso2(code: &str) -> String {
    match code.to_ascii_uppercase().as_str() {
        "USA" => "US".to_string(),
        "CAN" => "CA".to_string(),
        "MEX" => "MX".to_string(),
        "GBR" | "UK" => "GB".to_string(),
        other => other.to_string(),
    }
}

/// One AT7 as read.
#[derive(Debug, Clone)]
pub(crate) struct Status {
    /// AT7-01, or AT7-03 for an appointment.
    pub code: String,
    /// `Some("appointment")` for an AT7-03 code.
    pub kind: Option<String>,
    /// AT7-02 (or AT7-04 for an appointment).
    pub reason: Option<String>,
    pub time: EventTime,
    /// MS1, else the LX loop's N4.
    pub location: Option<Location>,
}

/// What a transaction says.
#[derive(Debug, Clone)]
pub(crate) struct Read {
    pub tracking_number: String,
    pub statuses: Vec<Status>,
}

/// B10-01 (the carrier's PRO / reference number), else B10-02 (the shipment identification).
pub(crate) fn tracking_number(transaction: &Transaction<'_>) -> Result<String, ParseError> {
    let b10 = transaction
        .segments
        .iter()
        .find(|s| s.id() == "B10")
        .ok_or_else(|| {
            shape(format!(
                "transaction {} has no B10 segment",
                transaction.control
            ))
        })?;
    [b10.element(1), b10.element(2)]
        .into_iter()
        .find(|n| !n.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            shape(format!(
                "transaction {}: B10 has neither B10-01 nor B10-02",
                transaction.control
            ))
        })
}

/// An AT7 with the MS1 after it, before its time is resolved.
struct Pending<'a> {
    at7: Segment<'a>,
    ms1: Option<Place>,
    lx: usize,
}

/// Reads the transaction; `default_zone` resolves `LT` times whose places name no zone.
pub(crate) fn read(
    transaction: &Transaction<'_>,
    default_zone: Option<Tz>,
) -> Result<Read, ParseError> {
    let tracking_number = tracking_number(transaction)?;
    let mut parties: Vec<(String, Place)> = Vec::new();
    let mut party = String::new();
    let mut lx = 0;
    let mut in_detail = false;
    let mut loop_places: Vec<Option<Place>> = vec![None];
    let mut pending: Vec<Pending<'_>> = Vec::new();
    for segment in &transaction.segments {
        match segment.id() {
            "LX" => {
                in_detail = true;
                lx += 1;
                loop_places.push(None);
            }
            "N1" if !in_detail => party = segment.element(1).to_string(),
            "N4" if !in_detail && !parties.iter().any(|(p, _)| *p == party) => {
                parties.push((party.clone(), Place::from_n4(segment)));
            }
            "N4" if !in_detail => {}
            "N4" => {
                if let Some(slot @ None) = loop_places.last_mut() {
                    *slot = Some(Place::from_n4(segment));
                }
            }
            "AT7" => pending.push(Pending {
                at7: segment.clone(),
                ms1: None,
                lx,
            }),
            "MS1" => match pending.last_mut() {
                Some(last) if last.lx == lx && last.ms1.is_none() => {
                    last.ms1 = Some(Place::from_ms1(segment));
                }
                _ => {}
            },
            _ => {}
        }
    }
    let header = parties
        .iter()
        .find(|(p, _)| p == "CN" || p == "ST")
        .or_else(|| parties.first())
        .map(|(_, place)| place);
    let statuses = pending
        .iter()
        .map(|p| {
            let loop_place = loop_places.get(p.lx).and_then(Option::as_ref);
            let event_place = p.ms1.as_ref().or(loop_place);
            let zone_place = event_place.or(header);
            status(transaction, p, event_place, zone_place, default_zone)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Read {
        tracking_number,
        statuses,
    })
}

fn status(
    transaction: &Transaction<'_>,
    pending: &Pending<'_>,
    event_place: Option<&Place>,
    zone_place: Option<&Place>,
    default_zone: Option<Tz>,
) -> Result<Status, ParseError> {
    let at7 = &pending.at7;
    let at = || format!("transaction {} LX {}", transaction.control, pending.lx);
    let (code, kind, reason) = match (at7.element(1), at7.element(3)) {
        ("", "") => {
            return Err(shape(format!(
                "{}: AT7 has neither a status (AT7-01) nor an appointment status (AT7-03)",
                at()
            )))
        }
        ("", appointment) => (appointment, Some(APPOINTMENT.to_string()), at7.element(4)),
        (status, _) => (status, None, at7.element(2)),
    };
    let date_text = at7.element(5);
    let time_text = at7.element(6);
    if date_text.is_empty() || time_text.is_empty() {
        return Err(shape(format!(
            "{}: AT7 {code} has no date (AT7-05) or time (AT7-06)",
            at()
        )));
    }
    let date = parse_compact_date(date_text)
        .ok_or_else(|| TimeError::new(date_text, "AT7-05 is not CCYYMMDD"))?;
    let time = clock(time_text)
        .ok_or_else(|| TimeError::new(time_text, "AT7-06 is not HHMM, HHMMSS or HHMMSSDD"))?;
    let local = NaiveDateTime::new(date, time);
    let hint = ZoneHint {
        country: zone_place.and_then(Place::zone_country),
        region: zone_place.and_then(|p| p.region.as_deref()),
        carrier_default: default_zone,
    };
    let time = event_time(local, at7.element(7), hint)?;
    Ok(Status {
        code: code.to_string(),
        kind,
        reason: some(reason),
        time,
        location: event_place.and_then(Place::location),
    })
}

/// `HHMM`, `HHMMSS`, or `HHMMSSDD` (hundredths dropped).
fn clock(text: &str) -> Option<NaiveTime> {
    match text.len() {
        4 | 6 => parse_compact_time(text),
        7 | 8 => text.get(..6).and_then(parse_compact_time),
        _ => None,
    }
}

/// The AT7-07 time code applied: `LT` or none → the place's zone; a DST-aware zone code (`ET`,
/// `CT`, …) → that zone, as a named zone (`carrier_tz_abbrev`); a standard/daylight code (`ES`,
/// `ED`, …) → its fixed offset (`carrier_tz_abbrev`); `GM`, `UT` and `01`–`24` → a fixed offset
/// (`explicit_offset`).
fn event_time(
    local: NaiveDateTime,
    code: &str,
    hint: ZoneHint<'_>,
) -> Result<EventTime, ParseError> {
    if code.is_empty() {
        return Ok(resolve_local(local, hint));
    }
    let explicit = code.bytes().all(|b| b.is_ascii_digit())
        || code.eq_ignore_ascii_case("GM")
        || code.eq_ignore_ascii_case("UT");
    match edi_time_code(code) {
        Some(EdiTimeCode::Local) => Ok(resolve_local(local, hint)),
        Some(EdiTimeCode::Zone(tz)) => {
            Ok(EventTime::in_zone(local, tz, OffsetSource::CarrierTzAbbrev))
        }
        Some(EdiTimeCode::Fixed(seconds)) => Ok(EventTime::with_offset(
            local,
            seconds,
            if explicit {
                OffsetSource::ExplicitOffset
            } else {
                OffsetSource::CarrierTzAbbrev
            },
        )?),
        None => Err(TimeError::new(code, "AT7-07 is not an x12 time code").into()),
    }
}
