//! UPS tracking, two formats sharing one mapping table and one identity (CARRIERS.md 1.7):
//! - `ups.track`: Track API responses (`trackResponse.shipment[].package[].activity[]`, newest
//!   first), polled with OAuth;
//! - `ups.alert`: Track Alert v2 pushes, one event per POST.
//!
//! This module owns turning either into canonical records and splitting a payload per tracking
//! number. It is pure: no I/O besides the mapping file embedded at build time. The invariant it
//! keeps: one UPS scan gets one `event_id` and the same classification whichever route brought
//! it, because both formats extract the same fields (`activity`) and resolve times the same way
//! (`activity_time`).
//!
//! **Identity fields** (DESIGN.md, Identity): carrier `ups`, the trimmed `trackingNumber`, the
//! statusCode with its leading zeros stripped (Track API `status.statusCode`, Track Alert
//! `activityStatus.descriptionCode`; `"021"` and `21` are both `21`), and the event's UTC time
//! truncated to the minute. Example: the out-for-delivery scan of `1Z999AA10123456784` at
//! 09:15:19 in Charlotte is `("ups", "1Z999AA10123456784", "21", 2024-04-23T13:15Z)` whether
//! the poll says `gmtTime "131519"`, `gmtOffset "-04:00"` or the push says `"-04.00"`.
//! Nothing else goes in, because nothing else is supplied identically by both routes:
//! - location: Track Alert has no SLIC and no address lines, its `postalCode` is blank until
//!   delivery, and UPS's own examples spell the same city `CHARLOTTE` and `Charlotte`;
//! - activity `type`: Track Alert files loaded / out for delivery / delivered under `D` where the
//!   Track API says `I` for out for delivery;
//! - the two-letter activity `code` (`OT`, `FS`, `AR`): present in both, but no source says the
//!   two APIs share its list; if they ever differed, one scan would become two events (a double
//!   notification), the worse failure;
//! - `description`: localised (the Track API's `locale`).
//!
//! The cost: two scans with the same statusCode for the same number in the same minute (say an
//! arrival and a departure, both `005`) share an id, and the normalizer takes the second as a
//! revision of the first. A scan without a statusCode is identified by its two-letter code
//! instead, so it would not match the same scan sent with one.
//!
//! **Times** (`activity_time`): the GMT date and time are preferred, shown at `gmtOffset`
//! (`-05:00` in Track API, `-04.00` in Track Alert) or, without one, at the offset between the
//! local and the GMT fields; `offset_source` is `carrier_gmt_field`. Without GMT fields the local
//! date and time are resolved in the zone of the activity's country (and state, for multi-zone
//! countries) through `time`, else, for US or country-less locations, in `America/New_York`
//! flagged `assumed_default`, else as UTC (also `assumed_default`). Short times (`"74700"`) lost
//! their leading zeros and are left-padded to `HHMMSS`.
//!
//! **Field choices**: `carrier_code` is the statusCode as sent (trimmed), or the two-letter
//! activity code when UPS sends no statusCode; `carrier_sub_code` is the two-letter activity code
//! of a scan that has a statusCode (rows may match it as a reason); `carrier_description` is the
//! status description (Track API falls back to `simplifiedTextDescription`). `signed_by` is the
//! package's `deliveryInformation.receivedBy` (Track API) or the push's `receivedBy` (Track Alert
//! enhanced), on delivered events only. Track API warnings inside a 200 (`TW0001 Tracking
//! Information Not Found`) are skipped items, not events; a UPS error body (`response.errors`) is
//! a shape error naming its code. The Track API's scheduled or rescheduled delivery date becomes
//! an ETA update; Track Alert's `scheduledDeliveryDate` does not, because a push names no
//! destination to place that date in a time zone (see `track`).

mod activity;
mod activity_time;
mod alert;
mod mapping;
mod track;

use gluey_contract::Route;
use serde_json::{Map, Value};

use crate::format::{CarrierFormat, ParseError, Parsed, RawInput, ShipmentSplit};
use crate::mapping::{MappingError, MappingTable};

/// Identity namespace shared by both UPS formats, so a scan has one `event_id` whichever route
/// brought it.
const CARRIER: &str = "ups";

const TRACK: &str = "ups.track";
const ALERT: &str = "ups.alert";

/// UPS Track API responses (`ups.track`).
#[derive(Debug, Clone, Copy, Default)]
pub struct UpsTrack;

/// UPS Track Alert v2 pushes (`ups.alert`).
#[derive(Debug, Clone, Copy, Default)]
pub struct UpsAlert;

impl CarrierFormat for UpsTrack {
    fn name(&self) -> &'static str {
        TRACK
    }

    fn carrier(&self) -> &'static str {
        CARRIER
    }

    fn description(&self) -> &'static str {
        "UPS Track API response (trackResponse.shipment[].package[].activity[]), OAuth poll"
    }

    fn routes(&self) -> &'static [Route] {
        &[Route::Api]
    }

    fn mapping(&self) -> Result<&'static MappingTable, MappingError> {
        mapping::table()
    }

    fn parse(&self, input: RawInput<'_>) -> Result<Parsed, ParseError> {
        let table = mapping::table().map_err(|e| shape(TRACK, e.to_string()))?;
        track::parse(table, input.payload)
    }

    fn split(&self, payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
        track::split(payload)
    }
}

impl CarrierFormat for UpsAlert {
    fn name(&self) -> &'static str {
        ALERT
    }

    fn carrier(&self) -> &'static str {
        CARRIER
    }

    fn description(&self) -> &'static str {
        "UPS Track Alert v2 push (one event per POST), credential header"
    }

    fn routes(&self) -> &'static [Route] {
        &[Route::Webhook]
    }

    fn mapping(&self) -> Result<&'static MappingTable, MappingError> {
        mapping::table()
    }

    fn parse(&self, input: RawInput<'_>) -> Result<Parsed, ParseError> {
        let table = mapping::table().map_err(|e| shape(ALERT, e.to_string()))?;
        alert::parse(table, input.payload)
    }

    fn split(&self, payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
        alert::split(payload)
    }
}

fn shape(format: &'static str, reason: impl Into<String>) -> ParseError {
    ParseError::Shape {
        format,
        reason: reason.into(),
    }
}

fn parse_json(payload: &[u8]) -> Result<Value, ParseError> {
    serde_json::from_slice(payload).map_err(|e| ParseError::InvalidJson(e.to_string()))
}

/// A trimmed, non-empty text field. UPS fields are strings, but codes, dates and times are
/// digit strings that a JSON round trip through a number turns into numbers (`21`, `74700`), so
/// non-negative integers are read as their digits; other JSON types count as absent.
fn text(object: &Map<String, Value>, key: &str) -> Option<String> {
    match object.get(key)? {
        Value::String(s) => Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_string),
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        _ => None,
    }
}

/// The object under `key`, if it is one.
fn object<'a>(parent: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    parent.get(key).and_then(Value::as_object)
}

/// The array under `key`: absent or null is empty; anything else but an array is a shape error.
fn array<'a>(
    format: &'static str,
    parent: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a [Value], ParseError> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(shape(format, format!("{path}.{key} is not an array"))),
    }
}

/// The first `response.errors[].code` (or top-level `errors[].code`) of a UPS error body.
fn error_code(root: &Map<String, Value>) -> Option<String> {
    let errors = object(root, "response")
        .and_then(|r| r.get("errors"))
        .or_else(|| root.get("errors"))?
        .as_array()?;
    errors
        .iter()
        .find_map(|e| e.as_object().and_then(|e| text(e, "code")))
}
