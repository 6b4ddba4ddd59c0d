//! Carrier code → canonical classification, as data: one JSON file per carrier in `mappings/`,
//! embedded at build time, validated when first used (and at service start-up through
//! `validate_all`), reviewed like code.
//!
//! A row matches on the raw code (normalised first: trimmed, optionally upper-cased and stripped
//! of leading zeros, as the file's `normalise` says), and optionally on a type, a reason code,
//! and an ordered description rule (any of `description_contains`, case-insensitive). Rows are
//! tried in file order; the first match wins. A row either classifies (`status`, `milestone`,
//! `code`, `sub_code`, and `flags` such as incident markers) or says the code is not a status
//! change (`no_status_change`: ETA-only or customer-side notices). A code no row matches maps to
//! `unknown`, keeping the raw code; it is counted downstream, never dropped.
//!
//! Invariant: a loaded table has only canonical statuses and milestones, snake_case codes, and
//! no row shadowed by an earlier, broader one.

use std::collections::BTreeSet;

use gluey_contract::Status;
use serde::Deserialize;

/// DESIGN.md's milestones, the only values a row may use.
pub const MILESTONES: [&str; 9] = [
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

/// A mapping file is malformed or inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mapping {file}: {reason}")]
pub struct MappingError {
    pub file: String,
    pub reason: String,
}

/// The canonical classification a row assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    pub status: Status,
    pub milestone: String,
    pub code: String,
    pub sub_code: Option<String>,
    /// Incident flags the row adds (e.g. `missort`), kept with the event.
    pub flags: Vec<String>,
}

impl Canonical {
    /// The classification of a code no row matches.
    pub fn unknown() -> Canonical {
        Canonical {
            status: Status::Unknown,
            milestone: "unknown".into(),
            code: "unknown".into(),
            sub_code: None,
            flags: Vec::new(),
        }
    }
}

/// What a matching row says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not a tracking event (ETA-only, customer-side notices); reported as skipped.
    NoStatusChange,
    Event(Canonical),
}

/// The raw fields a row may match on.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCode<'a> {
    pub code: &'a str,
    pub kind: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub description: Option<&'a str>,
}

/// A lookup result: the row's index in the file (for coverage and for `carriers parse`) and
/// its outcome; `None` when no row matches.
pub type Lookup<'t> = Option<(usize, &'t Outcome)>;

#[derive(Debug)]
struct Row {
    code: Option<String>,
    kind: Option<String>,
    reasons: Vec<String>,
    description_contains: Vec<String>,
    outcome: Outcome,
}

impl Row {
    fn is_unconditional(&self) -> bool {
        self.reasons.is_empty() && self.description_contains.is_empty()
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Normalise {
    #[serde(default)]
    strip_leading_zeros: bool,
    #[serde(default)]
    upper_case: bool,
}

/// A validated mapping table.
#[derive(Debug)]
pub struct MappingTable {
    pub file: &'static str,
    normalise: Normalise,
    rows: Vec<Row>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowFile {
    #[serde(default)]
    code: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    description_contains: Vec<String>,
    /// What the carrier calls it; documentation for reviewers.
    #[allow(dead_code)]
    #[serde(default)]
    carrier_says: Option<String>,
    #[serde(default)]
    no_status_change: bool,
    status: Option<String>,
    milestone: Option<String>,
    #[serde(rename = "canonical_code")]
    canonical_code: Option<String>,
    sub_code: Option<String>,
    #[serde(default)]
    flags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[allow(dead_code)] // documentation for reviewers
    about: Vec<String>,
    #[serde(default)]
    normalise: Normalise,
    rows: Vec<RowFile>,
}

fn is_snake_case(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl MappingTable {
    /// Parses and validates a mapping file's text.
    pub fn from_json(file: &'static str, text: &str) -> Result<MappingTable, MappingError> {
        let err = |reason: String| MappingError {
            file: file.to_string(),
            reason,
        };
        let parsed: MappingFile =
            serde_json::from_str(text).map_err(|e| err(format!("not the expected json: {e}")))?;
        if parsed.rows.is_empty() {
            return Err(err("no rows".into()));
        }
        let mut table = MappingTable {
            file,
            normalise: parsed.normalise,
            rows: Vec::with_capacity(parsed.rows.len()),
        };
        for (index, raw) in parsed.rows.into_iter().enumerate() {
            let row = table
                .validate_row(raw)
                .map_err(|e| err(format!("row {index}: {e}")))?;
            for (earlier_index, earlier) in table.rows.iter().enumerate() {
                if earlier.code == row.code
                    && earlier.kind == row.kind
                    && earlier.is_unconditional()
                {
                    return Err(err(format!("row {index} can never match: row {earlier_index} takes every case of the same code")));
                }
                if earlier.code == row.code
                    && earlier.kind == row.kind
                    && earlier.description_contains.is_empty()
                    && row.description_contains.is_empty()
                {
                    if let Some(reason) = row.reasons.iter().find(|r| earlier.reasons.contains(r)) {
                        return Err(err(format!(
                            "row {index} repeats reason {reason:?} of row {earlier_index}"
                        )));
                    }
                }
            }
            table.rows.push(row);
        }
        Ok(table)
    }

    fn validate_row(&self, raw: RowFile) -> Result<Row, String> {
        let code = raw.code.map(|c| self.normalise_code(&c));
        let label = code
            .clone()
            .unwrap_or_else(|| format!("{:?}", raw.description_contains));
        if code.as_deref() == Some("") {
            return Err("code is empty".into());
        }
        if code.is_none() && raw.description_contains.is_empty() {
            return Err("a row needs a code or a description rule".into());
        }
        let mut seen = BTreeSet::new();
        for reason in &raw.reasons {
            if reason.trim().is_empty() || !seen.insert(reason.as_str()) {
                return Err(format!(
                    "{label}: reason {reason:?} is empty or listed twice"
                ));
            }
        }
        let description_contains: Vec<String> = raw
            .description_contains
            .iter()
            .map(|d| d.to_lowercase())
            .collect();
        if description_contains.iter().any(|d| d.trim().is_empty()) {
            return Err(format!("{label}: empty description rule"));
        }
        let outcome = if raw.no_status_change {
            if raw.status.is_some()
                || raw.milestone.is_some()
                || raw.canonical_code.is_some()
                || raw.sub_code.is_some()
            {
                return Err(format!(
                    "{label}: a no_status_change row has no canonical fields"
                ));
            }
            Outcome::NoStatusChange
        } else {
            let status = raw
                .status
                .ok_or_else(|| format!("{label}: status is missing"))?;
            let status = Status::parse(&status)
                .ok_or_else(|| format!("{label}: {status:?} is not a canonical status"))?;
            let milestone = raw
                .milestone
                .ok_or_else(|| format!("{label}: milestone is missing"))?;
            if !MILESTONES.contains(&milestone.as_str()) {
                return Err(format!("{label}: {milestone:?} is not a milestone"));
            }
            let code = raw
                .canonical_code
                .ok_or_else(|| format!("{label}: canonical_code is missing"))?;
            for value in std::iter::once(&code)
                .chain(raw.sub_code.as_ref())
                .chain(raw.flags.iter())
            {
                if !is_snake_case(value) {
                    return Err(format!("{label}: {value:?} is not snake_case"));
                }
            }
            Outcome::Event(Canonical {
                status,
                milestone,
                code,
                sub_code: raw.sub_code,
                flags: raw.flags,
            })
        };
        Ok(Row {
            code,
            kind: raw.kind,
            reasons: raw.reasons.iter().map(|r| r.trim().to_string()).collect(),
            description_contains,
            outcome,
        })
    }

    /// The code as looked up: trimmed, then as the file's `normalise` says.
    pub fn normalise_code(&self, code: &str) -> String {
        let mut c = code.trim().to_string();
        if self.normalise.upper_case {
            c = c.to_ascii_uppercase();
        }
        if self.normalise.strip_leading_zeros
            && c.len() > 1
            && c.bytes().all(|b| b.is_ascii_digit())
        {
            let stripped = c.trim_start_matches('0');
            c = if stripped.is_empty() {
                "0".into()
            } else {
                stripped.to_string()
            };
        }
        c
    }

    /// The first matching row.
    pub fn lookup(&self, raw: RawCode<'_>) -> Lookup<'_> {
        let code = self.normalise_code(raw.code);
        let description = raw.description.map(str::to_lowercase);
        let reason = raw.reason.map(str::trim).filter(|r| !r.is_empty());
        self.rows
            .iter()
            .enumerate()
            .find(|(_, row)| {
                row.code.as_ref().is_none_or(|c| *c == code)
                    && row
                        .kind
                        .as_deref()
                        .is_none_or(|k| raw.kind.map(str::trim) == Some(k))
                    && (row.reasons.is_empty()
                        || reason.is_some_and(|r| row.reasons.iter().any(|x| x == r)))
                    && (row.description_contains.is_empty()
                        || description.as_deref().is_some_and(|d| {
                            row.description_contains
                                .iter()
                                .any(|rule| d.contains(rule.as_str()))
                        }))
            })
            .map(|(index, row)| (index, &row.outcome))
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Raw codes the table maps (for `carriers list`).
    pub fn codes(&self) -> BTreeSet<&str> {
        self.rows.iter().filter_map(|r| r.code.as_deref()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &str) -> Result<MappingTable, MappingError> {
        MappingTable::from_json(
            "test.json",
            &format!(
                r#"{{"about":[],"normalise":{{"strip_leading_zeros":true,"upper_case":true}},"rows":[{rows}]}}"#
            ),
        )
    }

    const EV: &str = r#""status":"in_transit","milestone":"in_transit","canonical_code":"x""#;

    #[test]
    fn codes_are_normalised_and_rules_apply_in_order() {
        let t = table(&format!(
            r#"{{"code":"21",{EV}}},
               {{"code":"D","type":"X","reasons":["A1"],"status":"failed_attempt","milestone":"delivery","canonical_code":"attempt"}},
               {{"code":"D","type":"X",{EV}}},
               {{"code":"TR","description_contains":["out for delivery"],"status":"out_for_delivery","milestone":"delivery","canonical_code":"out_for_delivery"}},
               {{"code":"TR",{EV}}},
               {{"code":"AG","no_status_change":true}}"#
        ))
        .unwrap();
        assert_eq!(
            t.lookup(RawCode {
                code: "021",
                ..RawCode::default()
            })
            .map(|r| r.0),
            Some(0)
        );
        assert_eq!(
            t.lookup(RawCode {
                code: "d",
                kind: Some("X"),
                reason: Some("A1"),
                ..RawCode::default()
            })
            .map(|r| r.0),
            Some(1)
        );
        assert_eq!(
            t.lookup(RawCode {
                code: "D",
                kind: Some("X"),
                reason: Some("ZZ"),
                ..RawCode::default()
            })
            .map(|r| r.0),
            Some(2)
        );
        assert_eq!(
            t.lookup(RawCode {
                code: "D",
                kind: Some("Y"),
                ..RawCode::default()
            }),
            None
        );
        assert_eq!(
            t.lookup(RawCode {
                code: "TR",
                description: Some("Parcel is OUT FOR DELIVERY today"),
                ..RawCode::default()
            })
            .map(|r| r.0),
            Some(3)
        );
        assert_eq!(
            t.lookup(RawCode {
                code: "TR",
                description: Some("arrived"),
                ..RawCode::default()
            })
            .map(|r| r.0),
            Some(4)
        );
        assert!(matches!(
            t.lookup(RawCode {
                code: "ag",
                ..RawCode::default()
            }),
            Some((5, Outcome::NoStatusChange))
        ));
        assert_eq!(t.normalise_code(" 000 "), "0");
    }

    #[test]
    fn invalid_tables_are_refused_with_the_row_and_reason() {
        for (rows, expected) in [
            (r#"{"code":"A","status":"gone","milestone":"delivery","canonical_code":"x"}"#.to_string(), "not a canonical status"),
            (r#"{"code":"A","status":"delivered","milestone":"space","canonical_code":"x"}"#.to_string(), "not a milestone"),
            (r#"{"code":"A","status":"delivered","milestone":"delivery","canonical_code":"Delivered"}"#.to_string(), "snake_case"),
            (r#"{"code":"A","milestone":"delivery","canonical_code":"x"}"#.to_string(), "status is missing"),
            (r#"{"code":"A","no_status_change":true,"status":"delivered"}"#.to_string(), "no canonical fields"),
            (format!(r#"{{"code":"A",{EV},"typo":1}}"#), "not the expected json"),
            (format!(r#"{{{EV}}}"#), "needs a code or a description rule"),
            (format!(r#"{{"code":"A",{EV}}},{{"code":"A","reasons":["1"],{EV}}}"#), "can never match"),
            (format!(r#"{{"code":"A","reasons":["1"],{EV}}},{{"code":"A","reasons":["1"],{EV}}}"#), "repeats reason"),
        ] {
            let e = table(&rows).unwrap_err();
            assert!(e.to_string().contains(expected), "{e} should mention {expected:?}");
            assert!(e.to_string().contains("test.json"), "{e} names the file");
        }
    }
}
