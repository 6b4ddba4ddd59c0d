//! Reading parse results in carrier tests: the events with their numbers and ids, instants
//! written as RFC 3339, and an event's classification in one string.

use chrono::{DateTime, Utc};
use gluey_carriers::ParsedRecord;
use gluey_contract::TrackingEvent;

/// `(tracking number, event id, event)` of every event record, in order.
pub fn events(records: &[ParsedRecord]) -> Vec<(&str, &str, &TrackingEvent)> {
    records
        .iter()
        .filter_map(|r| match r {
            ParsedRecord::Event {
                tracking_number,
                event_id,
                event,
                ..
            } => Some((tracking_number.as_str(), event_id.as_str(), event)),
            ParsedRecord::Update { .. } => None,
        })
        .collect()
}

pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// `milestone/code/sub_code`.
pub fn classification(event: &TrackingEvent) -> String {
    format!(
        "{}/{}/{}",
        event.milestone,
        event.code,
        event.sub_code.as_deref().unwrap_or("")
    )
}
