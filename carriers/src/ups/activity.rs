//! One UPS activity, whichever route it came by, turned into a canonical record. The Track API
//! and Track Alert name their fields differently; each format reads its names into an
//! `Activity`, and everything after that (codes, time, classification, signature) happens here
//! once, so the same scan yields the same record from both.

use gluey_contract::{Location, Status};
use serde_json::{Map, Value};

use super::activity_time::{self, TimeFields};
use super::{shape, text, CARRIER};
use crate::event::{classify, Scan};
use crate::format::{ParseError, ParsedRecord, Skipped};
use crate::mapping::MappingTable;

/// What a format read from one activity.
#[derive(Debug)]
pub(crate) struct Activity {
    pub format: &'static str,
    /// JSON path of the activity, for error messages.
    pub path: String,
    pub tracking_number: String,
    /// `statusCode` (Track API) / `descriptionCode` (Track Alert).
    pub status_code: Option<String>,
    /// The two-letter activity code, `code` in both.
    pub activity_code: Option<String>,
    pub kind: Option<String>,
    pub description: Option<String>,
    pub time: TimeFields,
    pub location: Option<Location>,
    /// Who took the package, from the package (Track API) or the push (Track Alert).
    pub received_by: Option<String>,
}

/// The record for `activity`, or the skip a "no status change" row says; a missing code or a
/// bad time is a parse error.
pub(crate) fn record(
    table: &MappingTable,
    activity: Activity,
) -> Result<Result<ParsedRecord, Skipped>, ParseError> {
    let Activity {
        format,
        path,
        tracking_number,
        status_code,
        activity_code,
        kind,
        description,
        time,
        location,
        received_by,
    } = activity;
    // The statusCode is the code; the two-letter code refines it as a reason. Without a
    // statusCode the two-letter code is all UPS said, so it is the code.
    let (carrier_code, reason) = match (status_code, activity_code) {
        (Some(code), reason) => (code, reason),
        (None, Some(code)) => (code, None),
        (None, None) => {
            return Err(shape(
                format,
                format!("{path} has neither a status code nor an activity code"),
            ))
        }
    };
    let time = activity_time::resolve(&time, location.as_ref(), &path)?.ok_or_else(|| {
        shape(
            format,
            format!("{path} has no date and time (local or gmt)"),
        )
    })?;
    let scan = Scan {
        tracking_number,
        carrier_code,
        kind,
        reason,
        description,
        time: Some(time),
        location,
        ..Scan::default()
    };
    Ok(classify(CARRIER, table, scan).map(|mut record| {
        if let ParsedRecord::Event { event, .. } = &mut record {
            if event.status == Status::Delivered {
                event.signed_by = received_by;
            }
        }
        record
    }))
}

/// A UPS address (`city`, `stateProvince`, `postalCode`, `countryCode` or a two-letter
/// `country`) and an optional SLIC; `None` when it says nothing.
pub(crate) fn location(
    address: Option<&Map<String, Value>>,
    slic: Option<String>,
) -> Option<Location> {
    let field = |key: &str| address.and_then(|a| text(a, key));
    let country = field("countryCode").or_else(|| {
        field("country").filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
    });
    let location = Location {
        carrier_location_code: slic,
        city: field("city"),
        region: field("stateProvince"),
        postal_code: field("postalCode"),
        country_iso2: country.map(|c| c.to_ascii_uppercase()),
        ..Location::default()
    };
    (location != Location::default()).then_some(location)
}
