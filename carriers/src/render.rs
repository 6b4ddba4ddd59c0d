//! Canonical records as JSON lines, exactly as `gluey carriers parse` prints them and as the
//! golden files in `tests/fixtures/` hold them: one line per record, then one per skipped item,
//! or one error line.

use serde_json::{json, Value};

use crate::format::{ParseError, Parsed, ParsedRecord, SkipReason};

fn record(r: &ParsedRecord) -> Value {
    match r {
        ParsedRecord::Event {
            tracking_number,
            event_id,
            event,
            mapping_row,
        } => json!({
            "kind": "tracking_event",
            "tracking_number": tracking_number,
            "event_id": event_id,
            "mapping_row": mapping_row,
            "status": event.status,
            "milestone": event.milestone,
            "code": event.code,
            "sub_code": event.sub_code,
            "carrier_code": event.carrier_code,
            "carrier_sub_code": event.carrier_sub_code,
            "carrier_description": event.carrier_description,
            "occurred_at": event.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            "occurred_at_local": event.occurred_at_local,
            "utc_offset_seconds": event.utc_offset_seconds,
            "offset_source": event.offset_source,
            "time_flags": event.time_flags,
            "location": event.location,
            "eta": event.eta.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
            "signed_by": event.signed_by,
            "proof_of_delivery_ref": event.proof_of_delivery_ref,
            "flags": event.flags,
        }),
        ParsedRecord::Update {
            tracking_number,
            update,
        } => json!({
            "kind": "shipment_update",
            "tracking_number": tracking_number,
            "update_type": update.update_type,
            "new_eta": update.new_eta.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
            "new_tracking_number": update.new_tracking_number,
        }),
    }
}

/// The JSON lines for one parse result.
pub fn json_lines(result: &Result<Parsed, ParseError>) -> String {
    let mut out = String::new();
    let mut push = |v: Value| {
        out.push_str(&v.to_string());
        out.push('\n');
    };
    match result {
        Ok(parsed) => {
            for r in &parsed.records {
                push(record(r));
            }
            for s in &parsed.skipped {
                let (why, detail) = match &s.why {
                    SkipReason::NoStatusChange { mapping_row } => {
                        ("no_status_change", json!({"mapping_row": mapping_row}))
                    }
                    SkipReason::ItemError { message } => {
                        ("item_error", json!({"message": message}))
                    }
                };
                push(
                    json!({"kind": "skipped", "why": why, "tracking_number": s.tracking_number, "carrier_code": s.carrier_code, "detail": detail}),
                );
            }
        }
        Err(e) => push(json!({"kind": "error", "error": e.kind(), "reason": e.to_string()})),
    }
    out
}
