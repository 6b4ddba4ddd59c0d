//! The shapes a Royal Mail Tracking API v2 response comes in, reduced to a list of mail pieces with
//! the id each is about; and the per-shipment split ingest keys raw records with. Accepted shapes:
//! - the events (or signature) endpoint, `{"mailPieces": {...}}`: one mail piece;
//! - the summary endpoint, `{"mailPieces": [...]}`: up to 30 mail pieces, each with a `summary`
//!   or a per-item `error`.
//!
//! A request-level error body (`{httpCode, httpMessage, moreInformation, errors[]}`) is not
//! tracking data and is refused with its first error code.
//!
//! Invariant: every mail piece this module returns is a JSON object, and one without a
//! `mailPieceId` always carries an `error`; a data item without an id is a shape error.

use serde_json::{Map, Value};

use super::{shape, text};
use crate::format::{ParseError, ShipmentSplit};

/// One mail piece object and where it sits in the payload.
pub(crate) struct MailPiece<'a> {
    pub value: &'a Value,
    pub object: &'a Map<String, Value>,
    /// `mailPieceId`, trimmed; `None` only on error items.
    pub id: Option<&'a str>,
    /// The per-item `error` of a summary response (`E1142`, barcode not recognised).
    pub error: Option<&'a Map<String, Value>>,
    /// JSON path, for error messages.
    pub path: String,
}

pub(crate) fn parse_json(payload: &[u8]) -> Result<Value, ParseError> {
    serde_json::from_slice(payload).map_err(|e| ParseError::InvalidJson(e.to_string()))
}

/// Every mail piece in the payload, in payload order.
pub(crate) fn mail_pieces(root: &Value) -> Result<Vec<MailPiece<'_>>, ParseError> {
    let object = root
        .as_object()
        .ok_or_else(|| shape("expected a json object with mailPieces"))?;
    match object.get("mailPieces") {
        Some(one @ Value::Object(_)) => Ok(vec![mail_piece(one, "mailPieces".to_string())?]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| mail_piece(item, format!("mailPieces[{index}]")))
            .collect(),
        Some(_) => Err(shape("mailPieces is not an object or an array")),
        None => Err(shape(match request_error(object) {
            Some(error) => {
                format!("payload is a royal mail error response ({error}), not tracking data")
            }
            None => "expected a json object with mailPieces".to_string(),
        })),
    }
}

/// One split per mail piece id, in order of first appearance. A payload about one id is returned
/// byte for byte; otherwise each id's items are re-serialised as a summary response
/// (`{"mailPieces": [...]}`). Error items without an id belong to no shipment.
pub(crate) fn split(payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
    let root = parse_json(payload)?;
    let mut groups: Vec<(&str, Vec<&Value>)> = Vec::new();
    for piece in mail_pieces(&root)? {
        let Some(id) = piece.id else {
            continue;
        };
        match groups.iter_mut().find(|(known, _)| *known == id) {
            Some((_, values)) => values.push(piece.value),
            None => groups.push((id, vec![piece.value])),
        }
    }
    match groups.as_slice() {
        [] => Err(shape("payload names no mail piece id")),
        [(id, _)] => Ok(vec![ShipmentSplit {
            tracking_number: (*id).to_string(),
            payload: payload.to_vec(),
        }]),
        _ => groups
            .into_iter()
            .map(|(id, values)| {
                serde_json::to_vec(&serde_json::json!({ "mailPieces": values }))
                    .map(|payload| ShipmentSplit {
                        tracking_number: id.to_string(),
                        payload,
                    })
                    .map_err(|e| shape(format!("cannot re-serialise mail piece {id}: {e}")))
            })
            .collect(),
    }
}

fn mail_piece(value: &Value, path: String) -> Result<MailPiece<'_>, ParseError> {
    let object = value
        .as_object()
        .ok_or_else(|| shape(format!("{path} is not an object")))?;
    let id = text(object, "mailPieceId");
    let error = match object.get("error") {
        None | Some(Value::Null) => None,
        Some(Value::Object(error)) => Some(error),
        Some(_) => return Err(shape(format!("{path}.error is not an object"))),
    };
    if id.is_none() && error.is_none() {
        return Err(shape(format!("{path} has no mailPieceId")));
    }
    Ok(MailPiece {
        value,
        object,
        id,
        error,
        path,
    })
}

/// `errorCode: errorDescription` of the first error of a request-level error body.
fn request_error(object: &Map<String, Value>) -> Option<String> {
    let first = object
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|errors| errors.iter().find_map(Value::as_object));
    let described = first.and_then(|e| {
        let code = text(e, "errorCode")?;
        Some(match text(e, "errorDescription") {
            Some(description) => format!("{code}: {description}"),
            None => code.to_string(),
        })
    });
    described
        .or_else(|| text(object, "moreInformation").map(str::to_string))
        .or_else(|| text(object, "httpMessage").map(str::to_string))
        .map(|s| s.chars().take(200).collect())
}
