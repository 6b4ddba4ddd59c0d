//! One Royal Mail mail piece turned into canonical records: each `events[]` entry (or, from the
//! summary endpoint, the summary's last event) into a tracking event through the mapping table,
//! and `estimatedDelivery` into an ETA update. It owns the field-by-field translation; the
//! invariant is that a record's content depends only on the event itself and on fields that
//! describe that event (the signature on deliveries), so the same event read through the events
//! endpoint and the summary endpoint is one event.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use gluey_contract::{Location, Status};
use serde_json::{Map, Value};

use super::payload::MailPiece;
use super::{shape, text, CARRIER};
use crate::event::{classify, Scan};
use crate::format::{ParseError, ParsedRecord, Skipped};
use crate::mapping::{MappingTable, Outcome, RawCode};
use crate::time::{parse_timestamp, ZoneHint};

/// Royal Mail is a UK carrier: a time without an offset (not seen in v2, which always sends one)
/// is read as UK time, flagged `assumed_default`.
pub(crate) const DEFAULT_ZONE: Tz = chrono_tz::Europe::London;

const HINT: ZoneHint<'static> = ZoneHint {
    country: None,
    region: None,
    carrier_default: Some(DEFAULT_ZONE),
};

/// The field names of an event: in `events[]`, or the last event in `summary`.
struct Fields {
    code: &'static str,
    name: &'static str,
    time: &'static str,
    location: &'static str,
}

const EVENT: Fields = Fields {
    code: "eventCode",
    name: "eventName",
    time: "eventDateTime",
    location: "locationName",
};

const SUMMARY: Fields = Fields {
    code: "lastEventCode",
    name: "lastEventName",
    time: "lastEventDateTime",
    location: "lastEventLocationName",
};

/// The events of one mail piece, in array order (newest first, as Royal Mail sends them), and the
/// events a "no status change" row skips.
pub(crate) fn events(
    table: &MappingTable,
    id: &str,
    piece: &MailPiece<'_>,
) -> Result<(Vec<ParsedRecord>, Vec<Skipped>), ParseError> {
    let listed = match piece.object.get("events") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(events)) => events.as_slice(),
        Some(_) => return Err(shape(format!("{}.events is not an array", piece.path))),
    };
    let entries: Vec<(&Map<String, Value>, &Fields, String)> = if listed.is_empty() {
        // The summary endpoint: the summary's last event is the only one there is (an item
        // without a last event, both fields absent or null, has none yet).
        match piece.object.get("summary") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(summary))
                if [SUMMARY.code, SUMMARY.time]
                    .iter()
                    .any(|k| summary.get(*k).is_some_and(|v| !v.is_null())) =>
            {
                vec![(summary, &SUMMARY, format!("{}.summary", piece.path))]
            }
            Some(Value::Object(_)) => Vec::new(),
            Some(_) => return Err(shape(format!("{}.summary is not an object", piece.path))),
        }
    } else {
        listed
            .iter()
            .enumerate()
            .map(|(index, e)| {
                let path = format!("{}.events[{index}]", piece.path);
                e.as_object()
                    .map(|e| (e, &EVENT, path.clone()))
                    .ok_or_else(|| shape(format!("{path} is not an object")))
            })
            .collect::<Result<_, _>>()?
    };
    let signature = signature(piece.object);
    let mut records = Vec::with_capacity(entries.len());
    let mut skipped = Vec::new();
    for (event, fields, path) in entries {
        let code = match event.get(fields.code) {
            Some(Value::String(s)) if !s.trim().is_empty() => s,
            _ => return Err(shape(format!("{path} has no {}", fields.code))),
        };
        let time = match event.get(fields.time) {
            Some(Value::String(s)) => parse_timestamp(s, HINT)?,
            _ => return Err(shape(format!("{path} has no {}", fields.time))),
        };
        let delivered = matches!(
            table.lookup(RawCode { code, ..RawCode::default() }),
            Some((_, Outcome::Event(c))) if c.status == Status::Delivered
        );
        let (signed_by, image) = match (&signature, delivered) {
            (Some((name, image)), true) => (name.clone(), image.clone()),
            _ => (None, None),
        };
        let location = text(event, fields.location).map(|name| Location {
            name: Some(name.to_string()),
            ..Location::default()
        });
        let scan = Scan {
            tracking_number: id.to_string(),
            carrier_code: code.clone(),
            description: text(event, fields.name).map(str::to_string),
            time: Some(time),
            location,
            signed_by,
            proof_of_delivery_ref: image,
            ..Scan::default()
        };
        match classify(CARRIER, table, scan) {
            Ok(record) => records.push(record),
            Err(skip) => skipped.push(skip),
        }
    }
    Ok((records, skipped))
}

/// `signature.recipientName` and `signature.imageId`, if the piece carries a signature.
fn signature(piece: &Map<String, Value>) -> Option<(Option<String>, Option<String>)> {
    let signature = piece.get("signature")?.as_object()?;
    let name = text(signature, "recipientName").map(str::to_string);
    let image = text(signature, "imageId").map(str::to_string);
    (name.is_some() || image.is_some()).then_some((name, image))
}

/// The end of `estimatedDelivery`'s window (else its start, else the date at midnight UK time).
/// The window times are time-only with an offset (`"14:00:00+00:00"`) and take the date from
/// `date`; some responses send full date-times instead, read as they are. A value that is present
/// but unparseable is an error, not a silent drop.
pub(crate) fn estimated_delivery(
    piece: &MailPiece<'_>,
) -> Result<Option<DateTime<Utc>>, ParseError> {
    let Some(estimate) = piece
        .object
        .get("estimatedDelivery")
        .and_then(Value::as_object)
    else {
        return Ok(None);
    };
    let date = text(estimate, "date");
    let window =
        text(estimate, "endOfEstimatedWindow").or_else(|| text(estimate, "startOfEstimatedWindow"));
    let value = match (window, date) {
        (Some(window), _) if has_date(window) => window.to_string(),
        (Some(window), Some(date)) => format!("{}T{window}", date_part(date)?),
        (Some(window), None) => {
            return Err(ParseError::Timestamp {
                value: window.chars().take(64).collect(),
                reason: "a time-only estimated window needs estimatedDelivery.date".into(),
            })
        }
        (None, Some(date)) => date.to_string(),
        (None, None) => return Ok(None),
    };
    Ok(Some(parse_timestamp(&value, HINT)?.utc))
}

/// `2024-03-28T…` or `2024-03-28`: the text starts with a date.
fn has_date(text: &str) -> bool {
    text.get(..10)
        .is_some_and(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok())
}

/// The `YYYY-MM-DD` part of `estimatedDelivery.date` (which may be a full date-time).
fn date_part(date: &str) -> Result<&str, ParseError> {
    match date.get(..10) {
        Some(d) if NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok() => Ok(d),
        _ => Err(ParseError::Timestamp {
            value: date.chars().take(64).collect(),
            reason: "estimatedDelivery.date is not a yyyy-mm-dd date".into(),
        }),
    }
}
