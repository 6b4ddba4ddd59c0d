//! One CSV record read against the header's columns (CARRIERS.md 2.3): a header or trailer
//! record, a repeated header row, or an event line with its scan and ETA.
//!
//! Column names are matched case-insensitively with runs of non-alphanumerics read as `_`
//! (`Tracking Number` is `tracking_number`). Required: `tracking_number`, `event_date`. Read when
//! present: `record_type`, `event_code`, `event_reason_code`, `event_description`, `event_time`,
//! `event_tz`, `depot_code`, `location_name`, `postcode`, `country`, `signatory`, `eta_date`,
//! `eta_window`. Others (`account`, `piece_seq`, `consignment_number`, `file_sequence`, …) are not.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use gluey_contract::{Location, OffsetSource};

use super::{shape, text};
use crate::event::Scan;
use crate::format::ParseError;
use crate::time::{
    abbreviation_offset, parse_compact_time, parse_offset, resolve_local, EventTime, TimeError,
    ZoneHint,
};

/// Where the header's columns are.
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    index: BTreeMap<String, usize>,
    count: usize,
}

/// A header name as a column key: lower case, non-alphanumeric runs as `_`, no BOM.
pub(crate) fn column_key(name: &str) -> String {
    let mut key = String::new();
    for c in name.trim().trim_start_matches('\u{feff}').chars() {
        if c.is_alphanumeric() {
            key.extend(c.to_lowercase());
        } else if !key.ends_with('_') {
            key.push('_');
        }
    }
    key.trim_matches('_').to_string()
}

impl Columns {
    pub fn from_header(fields: &[String]) -> Result<Columns, ParseError> {
        let mut index = BTreeMap::new();
        for (i, name) in fields.iter().enumerate() {
            index.entry(column_key(name)).or_insert(i);
        }
        for required in ["tracking_number", "event_date"] {
            if !index.contains_key(required) {
                return Err(shape(format!(
                    "the header has no {required} column (is the first line a header?)"
                )));
            }
        }
        Ok(Columns {
            index,
            count: fields.len(),
        })
    }

    /// The trimmed value of column `name` in `fields`; `""` when the column or field is absent.
    pub fn get<'f>(&self, fields: &'f [String], name: &str) -> &'f str {
        self.index
            .get(name)
            .and_then(|&i| fields.get(i))
            .map(|f| f.trim())
            .unwrap_or_default()
    }
}

/// What one record is.
#[derive(Debug)]
pub(crate) enum Line {
    /// Only whitespace: nothing to read.
    Blank,
    /// The header row again (files concatenated).
    RepeatedHeader,
    /// `record_type` H (file header) or T (trailer): file structure, not an event.
    Structure { record_type: String },
    /// An event line.
    Event {
        /// Boxed: a scan is large and most other variants are empty.
        scan: Box<Scan>,
        /// The line has no event code: it only carries an ETA unless a description rule
        /// classifies it.
        no_code: bool,
        eta: Option<DateTime<Utc>>,
    },
}

/// What reading a line needs besides its text.
pub(crate) struct Reader<'a> {
    pub columns: &'a Columns,
    pub delimiter: char,
    pub default_zone: Tz,
}

impl Reader<'_> {
    /// Reads one record; `label` (`file x line n`) prefixes error reasons.
    pub fn line(&self, record: &str, label: &str) -> Result<Line, ParseError> {
        if record.trim().is_empty() {
            return Ok(Line::Blank);
        }
        let fields =
            text::fields(record, self.delimiter).map_err(|e| shape(format!("{label}: {e}")))?;
        let columns = self.columns;
        if column_key(columns.get(&fields, "tracking_number")) == "tracking_number" {
            return Ok(Line::RepeatedHeader);
        }
        let record_type = columns.get(&fields, "record_type").to_ascii_uppercase();
        match record_type.as_str() {
            "H" | "T" => return Ok(Line::Structure { record_type }),
            "" | "E" => {}
            other => {
                return Err(shape(format!(
                    "{label}: record_type {other:?} is not H, E or T"
                )))
            }
        }
        if fields.len() > columns.count
            && fields
                .get(columns.count..)
                .is_some_and(|extra| extra.iter().any(|f| !f.trim().is_empty()))
        {
            return Err(shape(format!(
                "{label}: {} fields, the header has {} (an unquoted delimiter in a field?)",
                fields.len(),
                columns.count
            )));
        }
        let tracking_number = tracking_number(columns.get(&fields, "tracking_number"));
        if tracking_number.is_empty() {
            return Err(shape(format!("{label}: tracking_number is empty")));
        }
        let country = country(columns.get(&fields, "country"));
        let zone = self.zone(columns.get(&fields, "event_tz"), country.as_deref());
        let date = columns.get(&fields, "event_date");
        let local = date_time(date, columns.get(&fields, "event_time"), label)?;
        let time = zone.resolve(local, label)?;
        let eta = self.eta(&fields, date, &zone, label)?;
        let optional =
            |name: &str| Some(columns.get(&fields, name).to_string()).filter(|v| !v.is_empty());
        let location = Location {
            carrier_location_code: optional("depot_code"),
            name: optional("location_name"),
            postal_code: optional("postcode"),
            country_iso2: country,
            ..Location::default()
        };
        let code = columns.get(&fields, "event_code").to_string();
        Ok(Line::Event {
            no_code: code.is_empty(),
            scan: Box::new(Scan {
                tracking_number,
                carrier_code: code,
                reason: optional("event_reason_code"),
                description: optional("event_description"),
                time: Some(time),
                location: (location != Location::default()).then_some(location),
                signed_by: optional("signatory"),
                ..Scan::default()
            }),
            eta,
        })
    }

    /// `eta_date` (else the event's date) at the end of `eta_window` (`12:10-13:10`), else at
    /// 00:00, in the event's zone.
    fn eta(
        &self,
        fields: &[String],
        event_date: &str,
        zone: &Zone<'_>,
        label: &str,
    ) -> Result<Option<DateTime<Utc>>, ParseError> {
        let eta_date = self.columns.get(fields, "eta_date");
        let window = self.columns.get(fields, "eta_window");
        if eta_date.is_empty() && window.is_empty() {
            return Ok(None);
        }
        let day_text = if eta_date.is_empty() {
            event_date
        } else {
            eta_date
        };
        let day = day(day_text).ok_or_else(|| {
            TimeError::new(day_text, format!("{label}: eta_date is not dd/MM/yyyy"))
        })?;
        let time = match window
            .rsplit_once('-')
            .map(|(_, end)| end)
            .unwrap_or(window)
        {
            "" => NaiveTime::MIN,
            end => clock(end.trim()).ok_or_else(|| {
                TimeError::new(window, format!("{label}: eta_window is not hh:mm-hh:mm"))
            })?,
        };
        Ok(Some(zone.resolve(day.and_time(time), label)?.utc))
    }

    fn zone<'t>(&self, tz: &'t str, country: Option<&'t str>) -> Zone<'t> {
        Zone {
            tz,
            country,
            default: self.default_zone,
        }
    }
}

/// How a line's local times become instants: `event_tz` when given (an offset `+01:00`, an
/// abbreviation `BST`, or an IANA name `Europe/London`), else the zone of `country`, else the
/// carrier default, flagged assumed.
struct Zone<'t> {
    tz: &'t str,
    country: Option<&'t str>,
    default: Tz,
}

impl Zone<'_> {
    fn resolve(&self, local: NaiveDateTime, label: &str) -> Result<EventTime, ParseError> {
        let tz = self.tz;
        if tz.is_empty() {
            return Ok(resolve_local(
                local,
                ZoneHint {
                    country: self.country,
                    region: None,
                    carrier_default: Some(self.default),
                },
            ));
        }
        if let Some(offset) = parse_offset(tz) {
            return Ok(EventTime::with_offset(
                local,
                offset,
                OffsetSource::ExplicitOffset,
            )?);
        }
        if let Some(offset) = abbreviation_offset(tz) {
            return Ok(EventTime::with_offset(
                local,
                offset,
                OffsetSource::CarrierTzAbbrev,
            )?);
        }
        match tz.parse::<Tz>() {
            Ok(zone) => Ok(EventTime::in_zone(
                local,
                zone,
                OffsetSource::CarrierTzAbbrev,
            )),
            Err(_) => Err(TimeError::new(
                tz,
                format!("{label}: event_tz is not an offset, a zone abbreviation or an iana zone"),
            )
            .into()),
        }
    }
}

/// A tracking number as written by a spreadsheet: trimmed, without Excel's text marker `'` or its
/// `="…"` formula wrapper.
pub(crate) fn tracking_number(value: &str) -> String {
    let value = value.trim();
    let value = value
        .strip_prefix("=\"")
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    value.trim_start_matches('\'').trim().to_string()
}

/// An ISO alpha-2 country code, upper-cased; `UK` is `GB`.
fn country(value: &str) -> Option<String> {
    let value = value.trim().to_ascii_uppercase();
    match value.as_str() {
        "" => None,
        "UK" => Some("GB".to_string()),
        _ => Some(value),
    }
}

/// `dd/MM/yyyy` (also with `-` or `.`, one-digit day or month, or a two-digit year meaning
/// 20yy), or ISO `yyyy-MM-dd`. Never month first.
pub(crate) fn day(text: &str) -> Option<NaiveDate> {
    let parts: Vec<&str> = text.trim().split(['/', '-', '.']).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let digits = |s: &str, lengths: &[usize]| {
        (lengths.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    let (year, month, dom) = if a.len() == 4 {
        (digits(a, &[4])?, digits(b, &[1, 2])?, digits(c, &[1, 2])?)
    } else {
        let year = match c.len() {
            2 => 2000 + digits(c, &[2])?,
            _ => digits(c, &[4])?,
        };
        (year, digits(b, &[1, 2])?, digits(a, &[1, 2])?)
    };
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, dom)
}

/// `HH:MM`, `HH:MM:SS`, `H:MM`, or compact `HHMM` / `HHMMSS`.
pub(crate) fn clock(text: &str) -> Option<NaiveTime> {
    let text = text.trim();
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return (3..=6)
            .contains(&text.len())
            .then(|| parse_compact_time(text))
            .flatten();
    }
    ["%H:%M:%S", "%H:%M"]
        .iter()
        .find_map(|f| NaiveTime::parse_from_str(text, f).ok())
}

/// The event's local date-time from `event_date` and `event_time`; `event_date` may carry the
/// time itself (`03/06/2024 07:52`) when `event_time` is empty.
fn date_time(date: &str, time: &str, label: &str) -> Result<NaiveDateTime, ParseError> {
    let (date_part, inline_time) = match date.split_once([' ', 'T']) {
        Some((d, t)) => (d, t.trim()),
        None => (date, ""),
    };
    let day = day(date_part)
        .ok_or_else(|| TimeError::new(date, format!("{label}: event_date is not dd/MM/yyyy")))?;
    let time_text = if time.is_empty() { inline_time } else { time };
    if time_text.is_empty() {
        return Err(TimeError::new(date, format!("{label}: event_time is empty")).into());
    }
    let clock = clock(time_text).ok_or_else(|| {
        TimeError::new(time_text, format!("{label}: event_time is not hh:mm[:ss]"))
    })?;
    Ok(day.and_time(clock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_day_first_and_times_may_lack_seconds() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd);
        assert_eq!(day("03/06/2024"), d(2024, 6, 3));
        assert_eq!(day("3/6/2024"), d(2024, 6, 3));
        assert_eq!(day("03-06-24"), d(2024, 6, 3));
        assert_eq!(day("03.06.2024"), d(2024, 6, 3));
        assert_eq!(day("2024-06-03"), d(2024, 6, 3));
        assert_eq!(day("06/13/2024"), None, "never month first");
        assert_eq!(day("03/06/202"), None);
        assert_eq!(day("03/06"), None);
        assert_eq!(clock("07:52"), NaiveTime::from_hms_opt(7, 52, 0));
        assert_eq!(clock("7:52"), NaiveTime::from_hms_opt(7, 52, 0));
        assert_eq!(clock("07:52:10"), NaiveTime::from_hms_opt(7, 52, 10));
        assert_eq!(clock("0752"), NaiveTime::from_hms_opt(7, 52, 0));
        assert_eq!(clock("25:00"), None);
        assert_eq!(tracking_number(" '15501234567890 "), "15501234567890");
        assert_eq!(tracking_number("=\"0155012\""), "0155012");
        assert_eq!(column_key("\u{feff}Tracking Number "), "tracking_number");
        assert_eq!(column_key("event-tz"), "event_tz");
    }
}
