//! Durations as people write them (`500ms`, `15s`, `5m`, `2h`, `3d`), for flags and for the config
//! file alike, so a window is spelled the same way wherever it is set.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses `500ms`, `15s`, `5m`, `2h`, `3d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 500ms, 15s, 5m, 2h"))?;
    let factor: u64 = match unit {
        "ms" => 1,
        "s" | "" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (ms, s, m, h, d)")),
    };
    let ms = n
        .checked_mul(factor)
        .ok_or_else(|| format!("{s:?} is too long"))?;
    Ok(Duration::from_millis(ms))
}

/// `d` as people write it, in the largest unit that divides it (`30d`, `90m`, `1500ms`): the
/// inverse of [`parse_duration`].
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, factor) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= factor && ms % factor == 0 {
            return format!("{}{unit}", ms / factor);
        }
    }
    format!("{ms}ms")
}

/// `#[serde(deserialize_with = "gluey_ops::duration::deserialize")]` for a config field written
/// as `"5m"`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// The same for an `Option<Duration>` field (with `#[serde(default)]`).
pub fn deserialize_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_is_written_back_in_its_largest_whole_unit() {
        for text in ["30d", "90m", "1500ms", "2h", "45s", "0ms"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }

    #[test]
    fn units_and_bad_values() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("3d"), Ok(Duration::from_secs(3 * 86_400)));
        assert!(parse_duration("5 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn deserializes_from_config_text() {
        #[derive(Deserialize)]
        struct C {
            #[serde(deserialize_with = "deserialize")]
            every: Duration,
            #[serde(default, deserialize_with = "deserialize_option")]
            validity: Option<Duration>,
        }
        let c: C = toml::from_str("every = \"2h\"").unwrap();
        assert_eq!((c.every, c.validity), (Duration::from_secs(7200), None));
        let c: C = toml::from_str("every = \"1s\"\nvalidity = \"14d\"").unwrap();
        assert_eq!(c.validity, Some(Duration::from_secs(14 * 86_400)));
        assert!(toml::from_str::<C>("every = \"soon\"").is_err());
    }
}
