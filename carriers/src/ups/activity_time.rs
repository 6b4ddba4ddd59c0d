//! When a UPS activity happened, from its split fields: local `YYYYMMDD` + `HHMMSS`, GMT
//! `YYYYMMDD` + `HHMMSS`, and `gmtOffset`. Both UPS formats go through here, so a scan seen by
//! poll and by push lands on the same UTC minute. The rules, in order:
//! 1. GMT date and time, shown at `gmtOffset` → `carrier_gmt_field`;
//! 2. GMT date and time without an offset, shown at the difference between the local and the
//!    GMT fields (to the nearest 15 minutes) → `carrier_gmt_field`;
//! 3. GMT date and time alone, shown in the location's zone → `inferred_from_location` (or
//!    `assumed_default`);
//! 4. local date and time at `gmtOffset` → `carrier_gmt_field`;
//! 5. local date and time alone, resolved by `time::resolve_local` in the location's zone, else
//!    `America/New_York` for US or country-less locations, flagged `assumed_default`.
//!
//! Every field that is present must parse: a bad value is a timestamp error naming the field,
//! never a silent fallback to another rule.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use gluey_contract::{Location, OffsetSource};
use serde_json::{Map, Value};

use super::text;

use crate::format::ParseError;
use crate::time::{
    parse_compact_date, parse_compact_time, parse_offset, resolve_local, zone_for, EventTime,
    ZoneHint,
};

/// The largest offset anywhere (±18:00, as `time` accepts).
const MAX_OFFSET_SECONDS: i64 = 18 * 3600;

/// The raw time fields of one activity, with the names they have in the payload (for errors).
#[derive(Debug, Default)]
pub(crate) struct TimeFields {
    pub local_date: Option<(&'static str, String)>,
    pub local_time: Option<(&'static str, String)>,
    pub gmt_date: Option<(&'static str, String)>,
    pub gmt_time: Option<(&'static str, String)>,
    pub gmt_offset: Option<(&'static str, String)>,
}

impl TimeFields {
    /// Reads the five fields under the names a format gives them.
    pub fn read(object: &Map<String, Value>, names: [&'static str; 5]) -> TimeFields {
        let field = |name: &'static str| text(object, name).map(|value| (name, value));
        let [local_date, local_time, gmt_date, gmt_time, gmt_offset] = names;
        TimeFields {
            local_date: field(local_date),
            local_time: field(local_time),
            gmt_date: field(gmt_date),
            gmt_time: field(gmt_time),
            gmt_offset: field(gmt_offset),
        }
    }
}

/// The zone hint for a UPS location: its country (and state); UPS's home zone for US locations
/// without a state and for locations without a country.
pub(crate) fn zone_hint(location: Option<&Location>) -> ZoneHint<'_> {
    let country = location.and_then(|l| l.country_iso2.as_deref());
    let home = country.is_none_or(|c| c.trim().eq_ignore_ascii_case("US"));
    ZoneHint {
        country,
        region: location.and_then(|l| l.region.as_deref()),
        carrier_default: home.then_some(chrono_tz::America::New_York),
    }
}

/// The event time of an activity at `path` (see the module rules).
pub(crate) fn resolve(
    fields: &TimeFields,
    location: Option<&Location>,
    path: &str,
) -> Result<Option<EventTime>, ParseError> {
    let gmt = date_time(&fields.gmt_date, &fields.gmt_time, path)?;
    let local = date_time(&fields.local_date, &fields.local_time, path)?;
    let offset = fields
        .gmt_offset
        .as_ref()
        .map(|(name, value)| {
            parse_offset(value)
                .ok_or_else(|| timestamp(value, format!("{path}.{name} is not ±hh:mm or ±hh.mm")))
        })
        .transpose()?;
    let hint = zone_hint(location);
    let time = match (gmt, offset, local) {
        (Some(gmt), Some(offset), _) => utc_at(gmt, offset, OffsetSource::CarrierGmtField, path)?,
        (Some(gmt), None, Some(local)) => {
            let apart = (local - gmt).num_seconds();
            if apart.abs() > MAX_OFFSET_SECONDS {
                return Err(timestamp(
                    &local.to_string(),
                    format!("{path}: local and gmt times are more than 18 hours apart"),
                ));
            }
            // Whole quarter hours: every offset in use is one, and it absorbs a drift of
            // seconds between the two clocks.
            let offset = ((apart as f64 / 900.0).round() as i32) * 900;
            utc_at(gmt, offset, OffsetSource::CarrierGmtField, path)?
        }
        (Some(gmt), None, None) => {
            let utc = Utc.from_utc_datetime(&gmt);
            let (tz, source) = zone(&hint);
            let offset = tz.offset_from_utc_datetime(&gmt).fix().local_minus_utc();
            from_utc(utc, offset, source, path)?
        }
        (None, Some(offset), Some(local)) => {
            EventTime::with_offset(local, offset, OffsetSource::CarrierGmtField)
                .map_err(|e| timestamp(&e.value, format!("{path}: {}", e.reason)))?
        }
        (None, None, Some(local)) => resolve_local(local, hint),
        (None, _, None) => return Ok(None),
    };
    Ok(Some(time))
}

/// A date and time pair; `None` unless both are present.
fn date_time(
    date: &Option<(&str, String)>,
    time: &Option<(&str, String)>,
    path: &str,
) -> Result<Option<NaiveDateTime>, ParseError> {
    let (Some((date_name, date)), Some((time_name, time))) = (date, time) else {
        return Ok(None);
    };
    let day = parse_date(date)
        .ok_or_else(|| timestamp(date, format!("{path}.{date_name} is not YYYYMMDD")))?;
    let clock = parse_time(time)
        .ok_or_else(|| timestamp(time, format!("{path}.{time_name} is not HHMMSS")))?;
    Ok(Some(day.and_time(clock)))
}

pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    parse_compact_date(text)
}

/// `HHMMSS`, also when leading zeros were lost (`"74700"` is 07:47:00, `"0"` midnight). UPS
/// times are always six digits, so a shorter value is left-padded to six; `time`'s
/// `parse_compact_time` would read four digits as `HHMM`, which a UPS value never is.
pub(crate) fn parse_time(text: &str) -> Option<chrono::NaiveTime> {
    let t = text.trim();
    if t.is_empty() || t.len() > 6 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    parse_compact_time(&format!("{t:0>6}"))
}

/// The zone the hint names, and how it was known.
fn zone(hint: &ZoneHint<'_>) -> (Tz, OffsetSource) {
    if let Some(tz) = hint.country.and_then(|c| zone_for(c, hint.region)) {
        return (tz, OffsetSource::InferredFromLocation);
    }
    (
        hint.carrier_default.unwrap_or(Tz::UTC),
        OffsetSource::AssumedDefault,
    )
}

fn utc_at(
    gmt: NaiveDateTime,
    offset: i32,
    source: OffsetSource,
    path: &str,
) -> Result<EventTime, ParseError> {
    from_utc(Utc.from_utc_datetime(&gmt), offset, source, path)
}

fn from_utc(
    utc: DateTime<Utc>,
    offset: i32,
    source: OffsetSource,
    path: &str,
) -> Result<EventTime, ParseError> {
    EventTime::from_utc(utc, offset, source)
        .map_err(|e| timestamp(&e.value, format!("{path}: {}", e.reason)))
}

fn timestamp(value: &str, reason: String) -> ParseError {
    ParseError::Timestamp {
        value: value.chars().take(64).collect(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(local: (&str, &str), gmt: (&str, &str), offset: &str) -> TimeFields {
        let some = |name: &'static str, v: &str| (!v.is_empty()).then(|| (name, v.to_string()));
        TimeFields {
            local_date: some("date", local.0),
            local_time: some("time", local.1),
            gmt_date: some("gmtDate", gmt.0),
            gmt_time: some("gmtTime", gmt.1),
            gmt_offset: some("gmtOffset", offset),
        }
    }

    fn nc() -> Location {
        Location {
            region: Some("NC".into()),
            country_iso2: Some("US".into()),
            ..Location::default()
        }
    }

    #[test]
    fn every_rule_gives_the_same_instant_for_one_scan() {
        let expected = "2024-04-22T06:31:00+00:00";
        for f in [
            fields(("20240422", "023100"), ("20240422", "63100"), "-04:00"),
            fields(("20240422", "023100"), ("20240422", "063100"), "-04.00"),
            fields(("20240422", "023100"), ("20240422", "063100"), ""),
            fields(("", ""), ("20240422", "63100"), ""),
            fields(("20240422", "23100"), ("", ""), "-04:00"),
            fields(("20240422", "023100"), ("", ""), ""),
        ] {
            let t = resolve(&f, Some(&nc()), "a").unwrap().unwrap();
            assert_eq!(t.utc.to_rfc3339(), expected, "{f:?}");
            assert_eq!(t.offset_seconds, -4 * 3600, "{f:?}");
            assert_eq!(t.local_text(), "2024-04-22T02:31:00", "{f:?}");
        }
    }

    #[test]
    fn sources_and_errors() {
        let source =
            |f: TimeFields, l: Option<&Location>| resolve(&f, l, "a").unwrap().unwrap().source;
        let gmt_field = OffsetSource::CarrierGmtField;
        assert_eq!(
            source(fields(("", ""), ("20240422", "1"), "+01:00"), None),
            gmt_field
        );
        assert_eq!(
            source(fields(("", ""), ("20240422", "1"), ""), Some(&nc())),
            OffsetSource::InferredFromLocation
        );
        assert_eq!(
            source(fields(("20240422", "1"), ("", ""), ""), None),
            OffsetSource::AssumedDefault
        );
        assert_eq!(
            parse_time("4700"),
            chrono::NaiveTime::from_hms_opt(0, 47, 0)
        );
        assert_eq!(parse_time("240000"), None);
        assert_eq!(parse_time("1234567"), None);
        assert_eq!(
            resolve(&fields(("20240422", ""), ("", "1"), ""), None, "a"),
            Ok(None)
        );
        for (bad, named) in [
            (fields(("2024042", "1"), ("", ""), ""), "a.date"),
            (
                fields(("20240422", "1"), ("20240422", "x"), ""),
                "a.gmtTime",
            ),
            (fields(("20240422", "1"), ("", ""), "GMT-4"), "a.gmtOffset"),
            (fields(("20240423", "1"), ("20240422", "1"), ""), "18 hours"),
        ] {
            match resolve(&bad, None, "a") {
                Err(ParseError::Timestamp { reason, .. }) => {
                    assert!(reason.contains(named), "{reason} names {named}")
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
