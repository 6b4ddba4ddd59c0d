//! `event_id`: a deterministic hash of an event's raw identity (DESIGN.md, Identity): carrier,
//! tracking number, the normalised raw code, the UTC time truncated to the minute, and the extra
//! fields a carrier module declares (a carrier-unique id, a location token) where every route of
//! that carrier supplies them identically. A mapping fix never changes it.

use chrono::{DateTime, Timelike, Utc};
use sha2::{Digest, Sha256};

/// Builds an `event_id`; the field order is fixed, and each field is length-prefixed so that no
/// two different identities hash the same input.
pub fn event_id(
    carrier: &str,
    tracking_number: &str,
    normalised_code: &str,
    occurred_at: DateTime<Utc>,
    extra: &[&str],
) -> String {
    let minute = occurred_at
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(occurred_at);
    let mut hasher = Sha256::new();
    let minute = minute.format("%Y-%m-%dT%H:%MZ").to_string();
    for field in [carrier, tracking_number, normalised_code, minute.as_str()]
        .into_iter()
        .chain(extra.iter().copied())
    {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    let digest = hasher.finalize();
    format!("ev_{}", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn same_minute_same_id_and_fields_are_not_confusable() {
        let t1 = Utc.with_ymd_and_hms(2024, 4, 25, 18, 26, 3).unwrap();
        let t2 = Utc.with_ymd_and_hms(2024, 4, 25, 18, 26, 59).unwrap();
        let t3 = Utc.with_ymd_and_hms(2024, 4, 25, 18, 27, 0).unwrap();
        assert_eq!(
            event_id("fedex", "1", "DL", t1, &[]),
            event_id("fedex", "1", "DL", t2, &[])
        );
        assert_ne!(
            event_id("fedex", "1", "DL", t1, &[]),
            event_id("fedex", "1", "DL", t3, &[])
        );
        assert_ne!(
            event_id("fedex", "12", "DL", t1, &[]),
            event_id("fedex", "1", "2DL", t1, &[])
        );
        assert_ne!(
            event_id("fedex", "1", "DL", t1, &["a"]),
            event_id("fedex", "1", "DL", t1, &[])
        );
    }
}
