//! The FedEx `eventType` → canonical mapping table. It owns loading and validating
//! `mappings/fedex.json` (embedded at build time, parsed once) and the lookup rule: rows are tried
//! in file order and the first row whose `event_type` equals the scan's (trimmed, case-sensitive:
//! FedEx has `Ow`) and whose `reasons` list is empty or holds the scan's `exceptionCode` wins.
//! Invariant: a loaded table has only valid statuses and milestones, and no row that can never match.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use gluey_contract::Status;
use serde::Deserialize;

/// The mapping file, reviewed like code.
const MAPPING_JSON: &str = include_str!("../../mappings/fedex.json");

/// DESIGN.md's milestones, the only values a row may use.
const MILESTONES: [&str; 9] = [
    "order",
    "collection",
    "in_transit",
    "customs",
    "delivery",
    "post_delivery",
    "exception",
    "return_to_sender",
    "return_centre",
];

static TABLE: LazyLock<Result<MappingTable, MappingError>> =
    LazyLock::new(|| MappingTable::from_json(MAPPING_JSON));

/// The embedded table, or why it failed to load. A unit test proves it loads, so the error
/// branch only guards against a broken build; callers turn it into a dead-letter reason rather
/// than panicking on the data path.
pub(crate) fn table() -> Result<&'static MappingTable, MappingError> {
    TABLE.as_ref().map_err(Clone::clone)
}

/// The embedded FedEx mapping file is malformed or inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fedex mapping table is invalid: {0}")]
pub struct MappingError(String);

/// The canonical classification a row assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Canonical {
    pub status: Status,
    pub milestone: String,
    pub code: String,
    pub sub_code: Option<String>,
}

/// What a matching row says about a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A customer-side action (delivery-option requests, return-label emails): not a tracking event.
    NoStatusChange,
    Event(Canonical),
}

#[derive(Debug)]
struct Row {
    event_type: String,
    reasons: Vec<String>,
    outcome: Outcome,
}

/// A validated mapping table.
#[derive(Debug)]
pub(crate) struct MappingTable {
    rows: Vec<Row>,
}

/// One row of `fedex.json` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowFile {
    event_type: String,
    #[serde(default)]
    reasons: Vec<String>,
    #[allow(dead_code)] // documentation for reviewers; not used at run time
    fedex_description: String,
    #[serde(default)]
    no_status_change: bool,
    status: Option<String>,
    milestone: Option<String>,
    code: Option<String>,
    sub_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[allow(dead_code)] // documentation for reviewers; not used at run time
    about: Vec<String>,
    rows: Vec<RowFile>,
}

impl MappingTable {
    fn from_json(text: &str) -> Result<MappingTable, MappingError> {
        let file: MappingFile = serde_json::from_str(text)
            .map_err(|e| MappingError(format!("not the expected json: {e}")))?;
        if file.rows.is_empty() {
            return Err(MappingError("no rows".into()));
        }
        let mut rows: Vec<Row> = Vec::with_capacity(file.rows.len());
        for (index, raw) in file.rows.into_iter().enumerate() {
            let row = Row::validate(raw).map_err(|e| MappingError(format!("row {index}: {e}")))?;
            for earlier in rows.iter().filter(|r| r.event_type == row.event_type) {
                if earlier.reasons.is_empty() {
                    return Err(MappingError(format!(
                        "row {index} ({}) can never match: an earlier row takes every reason",
                        row.event_type
                    )));
                }
                if let Some(reason) = row.reasons.iter().find(|r| earlier.reasons.contains(r)) {
                    return Err(MappingError(format!(
                        "row {index} ({}) repeats reason {reason:?} of an earlier row",
                        row.event_type
                    )));
                }
            }
            rows.push(row);
        }
        Ok(MappingTable { rows })
    }

    /// The first row matching a trimmed `eventType` and optional trimmed `exceptionCode`, with its
    /// index (tests use the index to prove every row is exercised).
    pub(crate) fn lookup(
        &self,
        event_type: &str,
        reason: Option<&str>,
    ) -> Option<(usize, &Outcome)> {
        self.rows
            .iter()
            .enumerate()
            .find(|(_, row)| {
                row.event_type == event_type
                    && (row.reasons.is_empty()
                        || reason.is_some_and(|r| row.reasons.iter().any(|x| x == r)))
            })
            .map(|(index, row)| (index, &row.outcome))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.rows.len()
    }

    #[cfg(test)]
    fn reasons(&self, index: usize) -> &[String] {
        self.rows.get(index).map_or(&[], |r| r.reasons.as_slice())
    }
}

impl Row {
    fn validate(raw: RowFile) -> Result<Row, String> {
        let event_type = raw.event_type;
        if event_type.is_empty() || event_type.trim() != event_type {
            return Err(format!("event_type {event_type:?} is empty or not trimmed"));
        }
        let mut seen = BTreeSet::new();
        for reason in &raw.reasons {
            if reason.is_empty() || reason.trim() != reason {
                return Err(format!("reason {reason:?} is empty or not trimmed"));
            }
            if !seen.insert(reason.as_str()) {
                return Err(format!("reason {reason:?} is listed twice"));
            }
        }
        let outcome = if raw.no_status_change {
            if raw.status.is_some()
                || raw.milestone.is_some()
                || raw.code.is_some()
                || raw.sub_code.is_some()
            {
                return Err(format!(
                    "{event_type}: a no_status_change row has no canonical fields"
                ));
            }
            Outcome::NoStatusChange
        } else {
            let status = raw
                .status
                .ok_or_else(|| format!("{event_type}: status is missing"))?;
            let status = Status::parse(&status)
                .ok_or_else(|| format!("{event_type}: {status:?} is not a canonical status"))?;
            let milestone = raw
                .milestone
                .ok_or_else(|| format!("{event_type}: milestone is missing"))?;
            if !MILESTONES.contains(&milestone.as_str()) {
                return Err(format!("{event_type}: {milestone:?} is not a milestone"));
            }
            let code = raw
                .code
                .ok_or_else(|| format!("{event_type}: code is missing"))?;
            for value in std::iter::once(&code).chain(raw.sub_code.as_ref()) {
                if !is_snake_case(value) {
                    return Err(format!("{event_type}: {value:?} is not a snake_case code"));
                }
            }
            Outcome::Event(Canonical {
                status,
                milestone,
                code,
                sub_code: raw.sub_code,
            })
        };
        Ok(Row {
            event_type,
            reasons: raw.reasons,
            outcome,
        })
    }
}

fn is_snake_case(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row, and every reason of every reason row, is hit by a scan in the coverage fixture.
    #[test]
    fn embedded_table_loads_and_every_row_is_exercised_by_the_fixture() {
        let table = match table() {
            Ok(table) => table,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            table.len(),
            54,
            "one row per code in CARRIERS.md's FedEx table"
        );

        let fixture: serde_json::Value = match serde_json::from_str(include_str!(
            "../../tests/fixtures/fedex/every_code.json"
        )) {
            Ok(v) => v,
            Err(e) => panic!("coverage fixture: {e}"),
        };
        let scans = fixture["scanEvents"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!scans.is_empty());
        let mut hit: BTreeSet<(usize, Option<String>)> = BTreeSet::new();
        for scan in &scans {
            let event_type = scan["eventType"].as_str().unwrap_or_default().trim();
            let reason = scan["exceptionCode"]
                .as_str()
                .map(str::trim)
                .filter(|r| !r.is_empty());
            if let Some((index, _)) = table.lookup(event_type, reason) {
                let reason = reason
                    .filter(|r| table.reasons(index).iter().any(|x| x == r))
                    .map(str::to_string);
                hit.insert((index, reason));
            }
        }
        for index in 0..table.len() {
            let reasons = table.reasons(index);
            if reasons.is_empty() {
                assert!(hit.contains(&(index, None)), "row {index} is not exercised");
            }
            for reason in reasons {
                assert!(
                    hit.contains(&(index, Some(reason.clone()))),
                    "row {index} reason {reason} is not exercised"
                );
            }
        }
    }

    #[test]
    fn lookup_is_case_sensitive_and_reason_rows_win() {
        let Ok(table) = table() else {
            panic!("table loads")
        };
        let status = |t: &str, r: Option<&str>| match table.lookup(t, r) {
            Some((_, Outcome::Event(c))) => Some(c.status),
            _ => None,
        };
        assert_eq!(status("Ow", None), Some(Status::InTransit));
        assert_eq!(status("OW", None), None);
        assert_eq!(status("DE", Some("08")), Some(Status::FailedAttempt));
        assert_eq!(status("DE", Some("15")), Some(Status::FailedAttempt));
        assert_eq!(status("DE", Some("03")), Some(Status::Exception));
        assert_eq!(status("DE", None), Some(Status::Exception));
        assert!(matches!(
            table.lookup("RR", None),
            Some((_, Outcome::NoStatusChange))
        ));
    }

    #[test]
    fn invalid_tables_are_rejected_with_a_reason() {
        let row = |extra: &str| {
            format!(
                r#"{{"about":[],"rows":[{{"event_type":"DL","fedex_description":"x",{extra}}}]}}"#
            )
        };
        let bad = [
            (row(r#""status":"gone","milestone":"delivery","code":"delivered""#), "not a canonical status"),
            (row(r#""status":"delivered","milestone":"space","code":"delivered""#), "not a milestone"),
            (row(r#""status":"delivered","milestone":"delivery","code":"Delivered""#), "snake_case"),
            (row(r#""milestone":"delivery","code":"delivered""#), "status is missing"),
            (row(r#""no_status_change":true,"status":"delivered""#), "no canonical fields"),
            (row(r#""status":"delivered","milestone":"delivery","code":"x","typo":1"#), "not the expected json"),
            (r#"{"about":[],"rows":[]}"#.to_string(), "no rows"),
            (
                r#"{"about":[],"rows":[
                    {"event_type":"DE","fedex_description":"x","status":"exception","milestone":"exception","code":"x"},
                    {"event_type":"DE","reasons":["08"],"fedex_description":"x","status":"failed_attempt","milestone":"delivery","code":"attempt"}]}"#
                    .to_string(),
                "can never match",
            ),
            (
                r#"{"about":[],"rows":[
                    {"event_type":"DE","reasons":["08"],"fedex_description":"x","status":"exception","milestone":"exception","code":"x"},
                    {"event_type":"DE","reasons":["08"],"fedex_description":"x","status":"failed_attempt","milestone":"delivery","code":"attempt"}]}"#
                    .to_string(),
                "repeats reason",
            ),
        ];
        for (text, expected) in bad {
            match MappingTable::from_json(&text) {
                Ok(_) => panic!("accepted {text}"),
                Err(e) => assert!(
                    e.to_string().contains(expected),
                    "{e} should mention {expected:?}"
                ),
            }
        }
    }
}
