//! The JSON body customers receive: `{type, version, timestamp, data}`, where `data` holds the
//! record and the summary of the shipment's state after it. Times are RFC 3339 in UTC. The schema
//! is documented in `docs/webhooks/` (JSON Schema and examples).

use chrono::{DateTime, Utc};
use gluey_contract::{CanonicalRecord, Location, OffsetSource, Status, UpdateType};
use serde::Serialize;

pub const VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct WebhookBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub version: u32,
    pub timestamp: DateTime<Utc>,
    pub data: Data<'a>,
}

#[derive(Debug, Serialize)]
pub struct Data<'a> {
    pub id: &'a str,
    pub revision: i32,
    pub sequence: i64,
    pub shipment: ShipmentView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdateView<'a>>,
    pub route: &'static str,
    pub received_at: DateTime<Utc>,
    pub published_at: DateTime<Utc>,
    pub trace_id: &'a str,
}

#[derive(Debug, Serialize)]
pub struct ShipmentView<'a> {
    pub key: &'a str,
    pub id: Option<&'a str>,
    pub customer_id: Option<&'a str>,
    pub carrier: &'a str,
    pub tracking_number: &'a str,
    pub status: Status,
    pub eta: Option<DateTime<Utc>>,
    pub terminal: bool,
}

#[derive(Debug, Serialize)]
pub struct EventView<'a> {
    pub status: Status,
    pub milestone: &'a str,
    pub code: &'a str,
    pub sub_code: Option<&'a str>,
    pub carrier_code: &'a str,
    pub carrier_sub_code: Option<&'a str>,
    pub carrier_description: Option<&'a str>,
    pub occurred_at: DateTime<Utc>,
    pub occurred_at_local: &'a str,
    pub utc_offset: String,
    pub offset_source: OffsetSource,
    pub time_flags: &'a [String],
    pub location: Option<&'a Location>,
    pub eta: Option<DateTime<Utc>>,
    pub signed_by: Option<&'a str>,
    pub proof_of_delivery_ref: Option<&'a str>,
    pub flags: &'a [String],
}

#[derive(Debug, Serialize)]
pub struct UpdateView<'a> {
    pub update_type: UpdateType,
    pub occurred_at: DateTime<Utc>,
    pub previous_eta: Option<DateTime<Utc>>,
    pub new_eta: Option<DateTime<Utc>>,
    pub previous_tracking_number: Option<&'a str>,
    pub new_tracking_number: Option<&'a str>,
}

/// `+hh:mm` / `-hh:mm` from seconds.
fn offset_text(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let abs = seconds.unsigned_abs();
    format!("{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60)
}

/// Every `type` a customer can filter on.
pub const WEBHOOK_TYPES: &[&str] = &[
    "tracking.event",
    "tracking.event.corrected",
    "shipment.eta_changed",
    "shipment.tracking_number_changed",
    "shipment.expired",
    "shipment.updated",
];

/// The webhook `type` of a record.
pub fn webhook_type(record: &CanonicalRecord) -> &'static str {
    match (&record.event, &record.update) {
        (Some(_), _) if record.revision > 1 => "tracking.event.corrected",
        (Some(_), _) => "tracking.event",
        (None, Some(u)) => match u.update_type {
            UpdateType::EtaChanged => "shipment.eta_changed",
            UpdateType::TrackingNumberChanged => "shipment.tracking_number_changed",
            UpdateType::Expired => "shipment.expired",
            UpdateType::Unknown => "shipment.updated",
        },
        (None, None) => "tracking.record",
    }
}

/// `webhook-id`: the record id, plus the revision above 1, so a correction is a new message and
/// a retry or replay of the same revision is recognisably the same one.
pub fn webhook_id(record: &CanonicalRecord) -> String {
    if record.revision > 1 {
        format!("{}.r{}", record.record_id, record.revision)
    } else {
        record.record_id.clone()
    }
}

pub fn body(record: &CanonicalRecord) -> WebhookBody<'_> {
    WebhookBody {
        kind: webhook_type(record),
        version: VERSION,
        timestamp: record.published_at,
        data: Data {
            id: &record.record_id,
            revision: record.revision,
            sequence: record.sequence,
            shipment: ShipmentView {
                key: &record.shipment_key,
                id: record.shipment_id.as_deref(),
                customer_id: record.customer_id.as_deref(),
                carrier: &record.carrier,
                tracking_number: &record.tracking_number,
                status: record.shipment.status,
                eta: record.shipment.eta,
                terminal: record.shipment.terminal,
            },
            event: record.event.as_ref().map(|e| EventView {
                status: e.status,
                milestone: &e.milestone,
                code: &e.code,
                sub_code: e.sub_code.as_deref(),
                carrier_code: &e.carrier_code,
                carrier_sub_code: e.carrier_sub_code.as_deref(),
                carrier_description: e.carrier_description.as_deref(),
                occurred_at: e.occurred_at,
                occurred_at_local: &e.occurred_at_local,
                utc_offset: offset_text(e.utc_offset_seconds),
                offset_source: e.offset_source,
                time_flags: &e.time_flags,
                location: e.location.as_ref(),
                eta: e.eta,
                signed_by: e.signed_by.as_deref(),
                proof_of_delivery_ref: e.proof_of_delivery_ref.as_deref(),
                flags: &e.flags,
            }),
            update: record.update.as_ref().map(|u| UpdateView {
                update_type: u.update_type,
                occurred_at: u.occurred_at,
                previous_eta: u.previous_eta,
                new_eta: u.new_eta,
                previous_tracking_number: u.previous_tracking_number.as_deref(),
                new_tracking_number: u.new_tracking_number.as_deref(),
            }),
            route: record.route.as_str(),
            received_at: record.received_at,
            published_at: record.published_at,
            trace_id: &record.trace_id,
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn offsets_render_with_sign_and_colon() {
        assert_eq!(super::offset_text(-25200), "-07:00");
        assert_eq!(super::offset_text(19800), "+05:30");
        assert_eq!(super::offset_text(0), "+00:00");
    }
}
