//! Carrier times, done right: every event time becomes UTC plus the carrier's local wall clock,
//! its offset, and how the offset was known (`OffsetSource`). Shared by every carrier module.
//!
//! - An explicit offset (`+01:00`, `+0100`, `+01`, `-04.00`, `Z`) is used as given.
//! - An offset-less time is resolved in the zone of the event's location through the IANA
//!   database (country → zone; for multi-zone countries the state or province), else in the
//!   carrier's documented default zone (flagged `assumed_default`), else taken as UTC (also
//!   `assumed_default`).
//! - A local time that is ambiguous (clocks go back) resolves to the earlier instant and carries
//!   `ambiguous_local_time`; one that does not exist (clocks go forward) is moved forward by the
//!   gap and carries `nonexistent_local_time`. Deterministic, and nothing here panics.

use chrono::{
    DateTime, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Utc,
};
use chrono_tz::Tz;
use gluey_contract::{OffsetSource, TrackingEvent};

pub const AMBIGUOUS: &str = "ambiguous_local_time";
pub const NONEXISTENT: &str = "nonexistent_local_time";

/// An unparseable or impossible time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unparseable time {value:?}: {reason}")]
pub struct TimeError {
    pub value: String,
    pub reason: String,
}

impl TimeError {
    pub fn new(value: &str, reason: impl Into<String>) -> TimeError {
        // Bounded: a time field never echoes a whole payload into a dead-letter reason.
        TimeError {
            value: value.chars().take(64).collect(),
            reason: reason.into(),
        }
    }
}

impl From<TimeError> for crate::ParseError {
    fn from(e: TimeError) -> Self {
        crate::ParseError::Timestamp {
            value: e.value,
            reason: e.reason,
        }
    }
}

/// An event time with everything the canonical event records about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTime {
    pub utc: DateTime<Utc>,
    pub local: NaiveDateTime,
    pub offset_seconds: i32,
    pub source: OffsetSource,
    pub flags: Vec<String>,
}

impl EventTime {
    /// A local time with a known offset.
    pub fn with_offset(
        local: NaiveDateTime,
        offset_seconds: i32,
        source: OffsetSource,
    ) -> Result<EventTime, TimeError> {
        let offset = FixedOffset::east_opt(offset_seconds)
            .ok_or_else(|| TimeError::new(&offset_seconds.to_string(), "offset out of range"))?;
        let utc = offset
            .from_local_datetime(&local)
            .single()
            .ok_or_else(|| TimeError::new(&local.to_string(), "out of range"))?
            .with_timezone(&Utc);
        Ok(EventTime {
            utc,
            local,
            offset_seconds,
            source,
            flags: Vec::new(),
        })
    }

    /// A UTC instant shown in a fixed local offset (a carrier that gives GMT and an offset).
    pub fn from_utc(
        utc: DateTime<Utc>,
        offset_seconds: i32,
        source: OffsetSource,
    ) -> Result<EventTime, TimeError> {
        let offset = FixedOffset::east_opt(offset_seconds)
            .ok_or_else(|| TimeError::new(&offset_seconds.to_string(), "offset out of range"))?;
        // Checked: an offset can push an instant near chrono's limits out of range.
        let local = utc
            .naive_utc()
            .checked_add_signed(Duration::seconds(i64::from(offset.local_minus_utc())))
            .ok_or_else(|| TimeError::new(&utc.to_rfc3339(), "out of range"))?;
        Ok(EventTime {
            utc,
            local,
            offset_seconds,
            source,
            flags: Vec::new(),
        })
    }

    /// A local wall-clock time in an IANA zone, with the DST rules above.
    pub fn in_zone(local: NaiveDateTime, tz: Tz, source: OffsetSource) -> EventTime {
        let (instant, flag) = match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => (t, None),
            LocalResult::Ambiguous(earlier, _) => (earlier, Some(AMBIGUOUS)),
            LocalResult::None => {
                // The clocks jumped over this time: read it with the offset in force just before
                // the jump (the carrier's clock had not moved yet), so local, offset and UTC stay
                // consistent. Same instant as shifting forward by the gap.
                let mut probe = local;
                let mut before = None;
                for _ in 0..(4 * 60) {
                    let Some(earlier) = probe.checked_sub_signed(Duration::minutes(1)) else {
                        break;
                    };
                    probe = earlier;
                    if let Some(t) = tz.from_local_datetime(&probe).latest() {
                        before = Some(t.offset().fix());
                        break;
                    }
                }
                let offset = before.unwrap_or_else(|| Utc.fix());
                let utc = Utc.from_utc_datetime(
                    &(local - Duration::seconds(i64::from(offset.local_minus_utc()))),
                );
                return EventTime {
                    utc,
                    local,
                    offset_seconds: offset.local_minus_utc(),
                    source,
                    flags: vec![NONEXISTENT.to_string()],
                };
            }
        };
        let offset_seconds = instant.offset().fix().local_minus_utc();
        EventTime {
            utc: instant.with_timezone(&Utc),
            local,
            offset_seconds,
            source,
            flags: flag.map(|f| vec![f.to_string()]).unwrap_or_default(),
        }
    }

    /// `occurred_at_local` as the canonical event writes it.
    pub fn local_text(&self) -> String {
        self.local.format("%Y-%m-%dT%H:%M:%S").to_string()
    }

    /// Writes this time into a canonical event.
    pub fn apply(&self, event: &mut TrackingEvent) {
        event.occurred_at = self.utc;
        event.occurred_at_local = self.local_text();
        event.utc_offset_seconds = self.offset_seconds;
        event.offset_source = self.source;
        event.time_flags = self.flags.clone();
    }
}

use chrono::Offset;

/// Where an event happened, for times that come without an offset.
#[derive(Debug, Clone, Copy, Default)]
pub struct ZoneHint<'a> {
    /// ISO 3166-1 alpha-2.
    pub country: Option<&'a str>,
    /// State or province code (US `CA`, CA `ON`, AU `NSW`, …).
    pub region: Option<&'a str>,
    /// The carrier's documented default zone, used (flagged as assumed) when the location does
    /// not tell.
    pub carrier_default: Option<Tz>,
}

/// Resolves an offset-less local time (see the module rules).
pub fn resolve_local(local: NaiveDateTime, hint: ZoneHint<'_>) -> EventTime {
    if let Some(tz) = hint.country.and_then(|c| zone_for(c, hint.region)) {
        return EventTime::in_zone(local, tz, OffsetSource::InferredFromLocation);
    }
    if let Some(tz) = hint.carrier_default {
        return EventTime::in_zone(local, tz, OffsetSource::AssumedDefault);
    }
    EventTime::in_zone(local, Tz::UTC, OffsetSource::AssumedDefault)
}

/// An offset: `Z`, `+01:00`, `+0100`, `+01`, `-04.00` (UPS Track Alert), `GMT+1` is not one.
pub fn parse_offset(text: &str) -> Option<i32> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    let all_digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    let (h, m) = match rest.split_once([':', '.']) {
        Some((h, m)) if h.len() <= 2 && m.len() == 2 && all_digits(h) && all_digits(m) => {
            (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?)
        }
        Some(_) => return None,
        None if !all_digits(rest) => return None,
        None => match rest.len() {
            1 | 2 => (rest.parse::<i32>().ok()?, 0),
            3 => (
                rest[..1].parse::<i32>().ok()?,
                rest[1..].parse::<i32>().ok()?,
            ),
            4 => (
                rest[..2].parse::<i32>().ok()?,
                rest[2..].parse::<i32>().ok()?,
            ),
            _ => return None,
        },
    };
    if h > 18 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// Splits `2024-04-26T09:26:00-07:00` into the local part and the offset text, if any.
fn split_offset(text: &str) -> (&str, Option<&str>) {
    let t = text.trim();
    if let Some(stripped) = t.strip_suffix(['Z', 'z']) {
        return (stripped, Some("Z"));
    }
    // An offset sign can only come after the time part (after the 'T' or the space).
    let time_start = t.find(['T', 't', ' ']).map(|i| i + 1).unwrap_or(t.len());
    match t[time_start..].rfind(['+', '-']) {
        Some(i) => (&t[..time_start + i], Some(&t[time_start + i..])),
        None => (t, None),
    }
}

const LOCAL_FORMATS: [&str; 5] = [
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y%m%dT%H%M%S",
];

/// An ISO-8601-like local date-time without offset (a bare date means midnight).
pub fn parse_local(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim();
    LOCAL_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// An ISO-8601-like timestamp, with or without an offset; offset-less times are resolved by
/// `hint`.
pub fn parse_timestamp(text: &str, hint: ZoneHint<'_>) -> Result<EventTime, TimeError> {
    let (local_text, offset_text) = split_offset(text);
    let local =
        parse_local(local_text).ok_or_else(|| TimeError::new(text, "not an ISO 8601 date-time"))?;
    match offset_text {
        Some(o) => {
            let offset = parse_offset(o)
                .ok_or_else(|| TimeError::new(text, format!("offset {o:?} is not ±hh:mm")))?;
            EventTime::with_offset(local, offset, OffsetSource::ExplicitOffset)
        }
        None => Ok(resolve_local(local, hint)),
    }
}

/// A compact time `HHMM` or `HHMMSS` whose leading zeros may have been lost (UPS sends
/// `"74700"` for 07:47:00).
pub fn parse_compact_time(text: &str) -> Option<NaiveTime> {
    let t = text.trim();
    if t.is_empty() || t.len() > 6 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded = match t.len() {
        1..=4 => format!("{t:0>4}00"),
        _ => format!("{t:0>6}"),
    };
    NaiveTime::parse_from_str(&padded, "%H%M%S").ok()
}

/// A compact date `YYYYMMDD`.
pub fn parse_compact_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    (t.len() == 8)
        .then(|| NaiveDate::parse_from_str(t, "%Y%m%d").ok())
        .flatten()
}

/// A day-first date-time, `dd-MM-yyyy HH:mm:ss` or `dd/MM/yyyy HH:mm[:ss]`.
pub fn parse_day_first(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim();
    [
        "%d-%m-%Y %H:%M:%S",
        "%d-%m-%Y %H:%M",
        "%d/%m/%Y %H:%M:%S",
        "%d/%m/%Y %H:%M",
        "%d.%m.%Y %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
}

/// A US 12-hour date-time, `M/d/yyyy h:mm[:ss] AM`.
pub fn parse_us_12h(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim();
    ["%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
}

/// Fixed offsets of the zone abbreviations carriers send (Canada Post, some US feeds). An
/// abbreviation names standard or daylight time explicitly, so no DST rule applies.
pub fn abbreviation_offset(abbrev: &str) -> Option<i32> {
    let hours: f32 = match abbrev.trim().to_ascii_uppercase().as_str() {
        "UTC" | "GMT" | "Z" | "UT" | "WET" => 0.0,
        "BST" | "IST" | "CET" | "WEST" => 1.0,
        "CEST" | "EET" => 2.0,
        "EEST" | "MSK" => 3.0,
        "NST" => -3.5,
        "NDT" => -2.5,
        "AST" => -4.0,
        "ADT" => -3.0,
        "EST" => -5.0,
        "EDT" => -4.0,
        "CST" => -6.0,
        "CDT" => -5.0,
        "MST" => -7.0,
        "MDT" => -6.0,
        "PST" => -8.0,
        "PDT" => -7.0,
        "AKST" => -9.0,
        "AKDT" => -8.0,
        "HST" => -10.0,
        _ => return None,
    };
    Some((hours * 3600.0) as i32)
}

/// What an ANSI X12 time code (element 623) says about the offset of its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdiTimeCode {
    /// `LT`: local time at the event's location, offset not given.
    Local,
    /// A zone whose DST rules apply (`ET`, `CT`, `MT`, `PT`, …).
    Zone(Tz),
    /// A fixed offset in seconds (`ES`, `ED`, `GM`, `UT`, `01`…`24`).
    Fixed(i32),
}

pub fn edi_time_code(code: &str) -> Option<EdiTimeCode> {
    use chrono_tz::America;
    let c = code.trim().to_ascii_uppercase();
    if let Ok(n) = c.parse::<i32>() {
        // 01–12 = UTC+1…+12; 13–24 = UTC−12…UTC−1 (13 = M12, 24 = M01).
        return match n {
            1..=12 => Some(EdiTimeCode::Fixed(n * 3600)),
            13..=24 => Some(EdiTimeCode::Fixed((n - 25) * 3600)),
            _ => None,
        };
    }
    Some(match c.as_str() {
        "LT" => EdiTimeCode::Local,
        "GM" | "UT" => EdiTimeCode::Fixed(0),
        "ET" => EdiTimeCode::Zone(America::New_York),
        "CT" => EdiTimeCode::Zone(America::Chicago),
        "MT" => EdiTimeCode::Zone(America::Denver),
        "PT" => EdiTimeCode::Zone(America::Los_Angeles),
        "AT" => EdiTimeCode::Zone(America::Halifax),
        "NT" => EdiTimeCode::Zone(America::St_Johns),
        "HT" => EdiTimeCode::Zone(chrono_tz::Pacific::Honolulu),
        "TT" => EdiTimeCode::Zone(America::Anchorage),
        "ES" => EdiTimeCode::Fixed(-5 * 3600),
        "ED" => EdiTimeCode::Fixed(-4 * 3600),
        "CS" => EdiTimeCode::Fixed(-6 * 3600),
        "CD" => EdiTimeCode::Fixed(-5 * 3600),
        "MS" => EdiTimeCode::Fixed(-7 * 3600),
        "MD" => EdiTimeCode::Fixed(-6 * 3600),
        "PS" => EdiTimeCode::Fixed(-8 * 3600),
        "PD" => EdiTimeCode::Fixed(-7 * 3600),
        "AS" => EdiTimeCode::Fixed(-4 * 3600),
        "AD" => EdiTimeCode::Fixed(-3 * 3600),
        "NS" => EdiTimeCode::Fixed(-(3 * 3600 + 1800)),
        "ND" => EdiTimeCode::Fixed(-(2 * 3600 + 1800)),
        _ => return None,
    })
}

/// The IANA zone of a location: the country's zone, or for multi-zone countries the state's or
/// province's. `None` when the location does not determine one.
pub fn zone_for(country: &str, region: Option<&str>) -> Option<Tz> {
    use chrono_tz::{America, Asia, Australia, Europe, Pacific};
    let country = country.trim().to_ascii_uppercase();
    let region = region.map(|r| r.trim().to_ascii_uppercase());
    let region = region.as_deref();
    Some(match country.as_str() {
        "US" => us_state_zone(region?)?,
        "CA" => match region? {
            "BC" | "YT" => America::Vancouver,
            "AB" | "NT" => America::Edmonton,
            "SK" => America::Regina,
            "MB" => America::Winnipeg,
            "ON" | "QC" | "NU" => America::Toronto,
            "NB" | "NS" | "PE" => America::Halifax,
            "NL" => America::St_Johns,
            _ => return None,
        },
        "AU" => match region? {
            "NSW" | "ACT" => Australia::Sydney,
            "VIC" => Australia::Melbourne,
            "QLD" => Australia::Brisbane,
            "SA" => Australia::Adelaide,
            "WA" => Australia::Perth,
            "TAS" => Australia::Hobart,
            "NT" => Australia::Darwin,
            _ => return None,
        },
        "MX" => match region {
            Some("BC" | "BCN") => America::Tijuana,
            Some("SON") => America::Hermosillo,
            Some("ROO") => America::Cancun,
            Some("CHH") => America::Chihuahua,
            Some("BCS" | "SIN" | "NAY") => America::Mazatlan,
            Some(_) => America::Mexico_City,
            None => return None,
        },
        "BR" => match region {
            Some("AM" | "RR" | "RO" | "MT" | "MS") => America::Manaus,
            Some("AC") => America::Rio_Branco,
            Some(_) => America::Sao_Paulo,
            None => return None,
        },
        "RU" => match region {
            Some("MOW" | "SPE") => Europe::Moscow,
            _ => return None,
        },
        "GB" | "UK" | "GG" | "JE" | "IM" => Europe::London,
        "IE" => Europe::Dublin,
        "FR" => Europe::Paris,
        "DE" => Europe::Berlin,
        "NL" => Europe::Amsterdam,
        "BE" => Europe::Brussels,
        "LU" => Europe::Luxembourg,
        "ES" => Europe::Madrid,
        "PT" => Europe::Lisbon,
        "IT" => Europe::Rome,
        "CH" => Europe::Zurich,
        "AT" => Europe::Vienna,
        "PL" => Europe::Warsaw,
        "CZ" => Europe::Prague,
        "SK" => Europe::Bratislava,
        "HU" => Europe::Budapest,
        "DK" => Europe::Copenhagen,
        "SE" => Europe::Stockholm,
        "NO" => Europe::Oslo,
        "FI" => Europe::Helsinki,
        "EE" => Europe::Tallinn,
        "LV" => Europe::Riga,
        "LT" => Europe::Vilnius,
        "GR" => Europe::Athens,
        "RO" => Europe::Bucharest,
        "BG" => Europe::Sofia,
        "HR" => Europe::Zagreb,
        "SI" => Europe::Ljubljana,
        "TR" => Europe::Istanbul,
        "JP" => Asia::Tokyo,
        "KR" => Asia::Seoul,
        "CN" => Asia::Shanghai,
        "HK" => Asia::Hong_Kong,
        "TW" => Asia::Taipei,
        "SG" => Asia::Singapore,
        "IN" => Asia::Kolkata,
        "AE" => Asia::Dubai,
        "IL" => Asia::Jerusalem,
        "NZ" => Pacific::Auckland,
        "ZA" => chrono_tz::Africa::Johannesburg,
        "PR" => America::Puerto_Rico,
        _ => return None,
    })
}

fn us_state_zone(state: &str) -> Option<Tz> {
    use chrono_tz::{America, Pacific};
    Some(match state {
        "CT" | "DE" | "DC" | "FL" | "GA" | "ME" | "MD" | "MA" | "NH" | "NJ" | "NY" | "NC"
        | "OH" | "PA" | "RI" | "SC" | "VT" | "VA" | "WV" | "MI" => America::New_York,
        "IN" => America::Indiana::Indianapolis,
        "KY" => America::Kentucky::Louisville,
        "TN" | "AL" | "AR" | "IL" | "IA" | "LA" | "MN" | "MS" | "MO" | "OK" | "WI" | "TX"
        | "KS" | "NE" | "ND" | "SD" => America::Chicago,
        "CO" | "MT" | "NM" | "UT" | "WY" | "ID" => America::Denver,
        "AZ" => America::Phoenix,
        "CA" | "NV" | "OR" | "WA" => America::Los_Angeles,
        "AK" => America::Anchorage,
        "HI" => Pacific::Honolulu,
        "PR" => America::Puerto_Rico,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(s: &str) -> NaiveDateTime {
        parse_local(s).unwrap()
    }

    #[test]
    fn offsets_in_every_spelling() {
        for (text, secs) in [
            ("Z", 0),
            ("+01:00", 3600),
            ("+0100", 3600),
            ("+01", 3600),
            ("-04.00", -14400),
            ("-0530", -19800),
            ("+5:30", 19800),
        ] {
            assert_eq!(parse_offset(text), Some(secs), "{text}");
        }
        for bad in ["", "+", "01:00", "+25:00", "+01:75", "+1:2:3", "GMT"] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_with_and_without_offsets() {
        let t = parse_timestamp("2024-04-26T09:26:00-07:00", ZoneHint::default()).unwrap();
        assert_eq!(t.utc.to_rfc3339(), "2024-04-26T16:26:00+00:00");
        assert_eq!(
            (t.offset_seconds, t.source, t.local_text().as_str()),
            (-25200, OffsetSource::ExplicitOffset, "2024-04-26T09:26:00")
        );
        let t = parse_timestamp("2024-04-26T09:26:00+0200", ZoneHint::default()).unwrap();
        assert_eq!(t.utc.to_rfc3339(), "2024-04-26T07:26:00+00:00");
        let t = parse_timestamp("2024-03-28T13:02:11Z", ZoneHint::default()).unwrap();
        assert_eq!(
            (t.offset_seconds, t.source),
            (0, OffsetSource::ExplicitOffset)
        );
        // No offset: the location decides (London in summer is +01:00).
        let t = parse_timestamp(
            "2024-07-01T10:00:00",
            ZoneHint {
                country: Some("GB"),
                ..ZoneHint::default()
            },
        )
        .unwrap();
        assert_eq!(
            (t.utc.to_rfc3339().as_str(), t.offset_seconds, t.source),
            (
                "2024-07-01T09:00:00+00:00",
                3600,
                OffsetSource::InferredFromLocation
            )
        );
        // Multi-zone country: the state decides.
        let t = parse_timestamp(
            "2024-01-15T08:00:00",
            ZoneHint {
                country: Some("US"),
                region: Some("CA"),
                ..ZoneHint::default()
            },
        )
        .unwrap();
        assert_eq!(t.offset_seconds, -8 * 3600);
        // A US location without a state falls back to the carrier default, flagged assumed.
        let t = parse_timestamp(
            "2024-01-15T08:00:00",
            ZoneHint {
                country: Some("US"),
                region: None,
                carrier_default: Some(chrono_tz::America::New_York),
            },
        )
        .unwrap();
        assert_eq!(
            (t.offset_seconds, t.source),
            (-5 * 3600, OffsetSource::AssumedDefault)
        );
        assert!(parse_timestamp("yesterday", ZoneHint::default()).is_err());
        assert!(parse_timestamp("2024-04-26T09:26:00+99:00", ZoneHint::default()).is_err());
    }

    #[test]
    fn dst_gaps_and_overlaps_resolve_deterministically_with_a_flag() {
        let london = chrono_tz::Europe::London;
        // 2024-03-31 01:30 does not exist in London (01:00 → 02:00): read with the offset before
        // the jump, so local − offset = UTC still holds.
        let t = EventTime::in_zone(
            naive("2024-03-31T01:30:00"),
            london,
            OffsetSource::InferredFromLocation,
        );
        assert_eq!(t.flags, vec![NONEXISTENT.to_string()]);
        assert_eq!(
            (t.utc.to_rfc3339().as_str(), t.offset_seconds),
            ("2024-03-31T01:30:00+00:00", 0)
        );
        let ny = EventTime::in_zone(
            naive("2024-03-10T02:30:00"),
            chrono_tz::America::New_York,
            OffsetSource::InferredFromLocation,
        );
        assert_eq!(
            (ny.utc.to_rfc3339().as_str(), ny.offset_seconds),
            ("2024-03-10T07:30:00+00:00", -5 * 3600)
        );
        // 2024-10-27 01:30 happens twice; the earlier (BST, +01:00) is chosen.
        let t = EventTime::in_zone(
            naive("2024-10-27T01:30:00"),
            london,
            OffsetSource::InferredFromLocation,
        );
        assert_eq!(t.flags, vec![AMBIGUOUS.to_string()]);
        assert_eq!(
            (t.utc.to_rfc3339().as_str(), t.offset_seconds),
            ("2024-10-27T00:30:00+00:00", 3600)
        );
    }

    #[test]
    fn compact_day_first_and_12_hour_shapes() {
        assert_eq!(
            parse_compact_time("74700"),
            NaiveTime::from_hms_opt(7, 47, 0)
        );
        assert_eq!(
            parse_compact_time("0815"),
            NaiveTime::from_hms_opt(8, 15, 0)
        );
        assert_eq!(parse_compact_time("815"), NaiveTime::from_hms_opt(8, 15, 0));
        assert_eq!(parse_compact_time("246000"), None);
        assert_eq!(
            parse_compact_date("20240116"),
            NaiveDate::from_ymd_opt(2024, 1, 16)
        );
        assert_eq!(
            parse_day_first("05-03-2024 14:02:11"),
            Some(naive("2024-03-05T14:02:11"))
        );
        assert_eq!(
            parse_us_12h("3/5/2024 2:02:11 PM"),
            Some(naive("2024-03-05T14:02:11"))
        );
    }

    #[test]
    fn abbreviations_and_edi_codes() {
        assert_eq!(abbreviation_offset("NST"), Some(-12600));
        assert_eq!(abbreviation_offset("edt"), Some(-14400));
        assert_eq!(abbreviation_offset("XYZ"), None);
        assert_eq!(edi_time_code("13"), Some(EdiTimeCode::Fixed(-12 * 3600)));
        assert_eq!(edi_time_code("24"), Some(EdiTimeCode::Fixed(-3600)));
        assert_eq!(edi_time_code("01"), Some(EdiTimeCode::Fixed(3600)));
        assert_eq!(edi_time_code("LT"), Some(EdiTimeCode::Local));
        assert_eq!(
            edi_time_code("ET"),
            Some(EdiTimeCode::Zone(chrono_tz::America::New_York))
        );
        assert_eq!(edi_time_code("QQ"), None);
    }
}

#[cfg(test)]
mod extremes {
    use super::*;

    #[test]
    fn times_at_chronos_limits_never_panic() {
        let max = NaiveDateTime::MAX;
        let min = NaiveDateTime::MIN;
        for local in [max, min] {
            for tz in [
                chrono_tz::Europe::London,
                chrono_tz::America::New_York,
                chrono_tz::Pacific::Kiritimati,
            ] {
                let _ = EventTime::in_zone(local, tz, OffsetSource::AssumedDefault);
            }
            let _ = resolve_local(
                local,
                ZoneHint {
                    country: Some("GB"),
                    ..ZoneHint::default()
                },
            );
        }
        for utc in [DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC] {
            assert!(
                EventTime::from_utc(utc, 14 * 3600, OffsetSource::CarrierGmtField).is_err()
                    || utc == DateTime::<Utc>::MIN_UTC
            );
            let _ = EventTime::from_utc(utc, -14 * 3600, OffsetSource::CarrierGmtField);
        }
    }
}
