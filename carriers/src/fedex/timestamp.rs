//! FedEx timestamps (`scanEvents[].date`, `dateAndTimes[].dateTime`, ETA windows): ISO local
//! date-time with an optional offset, written `Z`, `+hh:mm`, `+hhmm` or `+hh`. It owns turning one
//! into a UTC instant plus the carrier's wall-clock time and how the offset was known. Invariant:
//! never panics, whatever the string (byte offsets are only taken at ASCII boundaries).

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use gluey_contract::OffsetSource;

use crate::format::ParseError;

/// A FedEx time, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CarrierTime {
    pub utc: DateTime<Utc>,
    /// The wall-clock time FedEx wrote, without its offset.
    pub local: NaiveDateTime,
    pub offset_seconds: i32,
    pub offset_source: OffsetSource,
}

impl CarrierTime {
    /// `YYYY-MM-DDTHH:MM:SS`, as the canonical event's `occurred_at_local`.
    pub fn local_iso(&self) -> String {
        self.local.format("%Y-%m-%dT%H:%M:%S").to_string()
    }
}

/// Local formats FedEx uses, tried in order (`%.f` also accepts no fraction).
const LOCAL_FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"];

/// Longest value echoed back in an error, so a hostile payload cannot bloat a dead-letter reason.
const MAX_ECHO_CHARS: usize = 64;

/// Parses a FedEx timestamp. Without an offset the time is taken as UTC and marked
/// `AssumedDefault`; inferring the zone from the scan location is a later issue (DESIGN.md,
/// "Inferring a zone from a location").
pub(crate) fn parse(value: &str) -> Result<CarrierTime, ParseError> {
    let fail = |reason: &str| ParseError::Timestamp {
        value: value.chars().take(MAX_ECHO_CHARS).collect(),
        reason: reason.to_string(),
    };
    let text = value.trim();
    let (local_text, offset) = split_offset(text).map_err(&fail)?;
    let local = LOCAL_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(local_text, f).ok())
        .ok_or_else(|| fail("expected an ISO date-time like 2024-04-25T11:26:00-07:00"))?;
    match offset {
        Some(offset) => {
            let at = offset
                .from_local_datetime(&local)
                .single()
                .ok_or_else(|| fail("out of the representable range"))?;
            Ok(CarrierTime {
                utc: at.with_timezone(&Utc),
                local,
                offset_seconds: offset.local_minus_utc(),
                offset_source: OffsetSource::ExplicitOffset,
            })
        }
        None => Ok(CarrierTime {
            utc: local.and_utc(),
            local,
            offset_seconds: 0,
            offset_source: OffsetSource::AssumedDefault,
        }),
    }
}

/// Splits `text` into its local part and its offset, if it has one. The offset sign is searched
/// only after the date's `T`, because the date itself contains `-`.
fn split_offset(text: &str) -> Result<(&str, Option<FixedOffset>), &'static str> {
    if let Some(local) = text.strip_suffix(['Z', 'z']) {
        return Ok((local, FixedOffset::east_opt(0)));
    }
    let Some(time_start) = text.find('T') else {
        return Ok((text, None));
    };
    let Some(sign_at) = text[time_start..].rfind(['+', '-']).map(|i| time_start + i) else {
        return Ok((text, None));
    };
    let (local, offset) = text.split_at(sign_at);
    let negative = offset.starts_with('-');
    let digits = &offset[1..];
    let (hours, minutes) = match digits.as_bytes() {
        [h1, h2, b':', m1, m2] => (two_digits(*h1, *h2), two_digits(*m1, *m2)),
        [h1, h2, m1, m2] => (two_digits(*h1, *h2), two_digits(*m1, *m2)),
        [h1, h2] => (two_digits(*h1, *h2), Some(0)),
        _ => return Err("offset is not +hh:mm, +hhmm or +hh"),
    };
    let (Some(hours), Some(minutes)) = (hours, minutes) else {
        return Err("offset is not +hh:mm, +hhmm or +hh");
    };
    if hours > 18 || minutes > 59 {
        return Err("offset is out of range");
    }
    let seconds = (hours * 3600 + minutes * 60) * if negative { -1 } else { 1 };
    let offset = FixedOffset::east_opt(seconds).ok_or("offset is out of range")?;
    Ok((local, Some(offset)))
}

fn two_digits(tens: u8, units: u8) -> Option<i32> {
    (tens.is_ascii_digit() && units.is_ascii_digit())
        .then(|| i32::from(tens - b'0') * 10 + i32::from(units - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn utc(value: &str) -> String {
        match parse(value) {
            Ok(t) => t.utc.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn offsets_in_every_spelling_give_the_same_instant() {
        for v in [
            "2024-04-25T11:26:00-07:00",
            "2024-04-25T11:26:00-0700",
            "2024-04-25T11:26:00-07",
            "2024-04-25T18:26:00Z",
            "2024-04-25T18:26:00+00:00",
            "2024-04-25T18:26:00.000Z",
            " 2024-04-25T23:56:00+05:30 ",
            "2024-04-25T23:56+0530",
        ] {
            assert_eq!(utc(v), "2024-04-25T18:26:00Z", "{v}");
        }
    }

    #[test]
    fn explicit_offset_keeps_the_wall_clock_and_the_offset() {
        let Ok(t) = parse("2024-04-25T11:26:00-0700") else {
            panic!("parses")
        };
        assert_eq!(t.local_iso(), "2024-04-25T11:26:00");
        assert_eq!(t.offset_seconds, -7 * 3600);
        assert_eq!(t.offset_source, OffsetSource::ExplicitOffset);
    }

    #[test]
    fn no_offset_is_assumed_utc() {
        let Ok(t) = parse("2021-10-01T08:00:00") else {
            panic!("parses")
        };
        let expected = NaiveDate::from_ymd_opt(2021, 10, 1).and_then(|d| d.and_hms_opt(8, 0, 0));
        assert_eq!(Some(t.local), expected);
        assert_eq!(t.offset_seconds, 0);
        assert_eq!(t.offset_source, OffsetSource::AssumedDefault);
        assert_eq!(utc("2021-10-01T08:00:00"), "2021-10-01T08:00:00Z");
    }

    #[test]
    fn malformed_values_are_errors_not_panics() {
        for v in [
            "",
            "T",
            "-",
            "2024-04-25",
            "2024-04-25T",
            "2024-04-25T11:26:00+",
            "2024-04-25T11:26:00-07:0",
            "2024-04-25T11:26:00+24:00",
            "2024-04-25T11:26:00+07:99",
            "2024-04-25T11:26:00\u{2212}07:00",
            "2024-04-25T11:26:00-0\u{e9}:00",
            "2024-13-45T99:99:99Z",
            "+262143-12-31T23:59:59-18:00",
            "yesterday",
        ] {
            assert!(
                matches!(parse(v), Err(ParseError::Timestamp { .. })),
                "{v:?}"
            );
        }
    }

    #[test]
    fn error_echo_is_bounded() {
        let long = "x".repeat(10_000);
        match parse(&long) {
            Err(ParseError::Timestamp { value, .. }) => {
                assert_eq!(value.chars().count(), MAX_ECHO_CHARS)
            }
            other => panic!("{other:?}"),
        }
    }
}
