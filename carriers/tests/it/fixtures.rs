//! Golden fixtures for every format: each file in `tests/fixtures/<format>/` is parsed and its
//! JSON lines (as `gluey carriers parse` prints them) must equal `<file>.expected.jsonl` beside it.
//! Set `GLUEY_BLESS=1` to (re)write the expected files after a reviewed change.
//! File-borne formats take their file context from `<file>.context.json`.
//!
//! And every row of every mapping file must be exercised by at least one fixture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use gluey_carriers::{render, ParsedRecord, RawInput, SkipReason, FORMATS};

fn fixtures(format: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: every format has a fixture directory ({e})",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.ends_with(".expected.jsonl") && !name.ends_with(".context.json")
        })
        .collect();
    files.sort();
    files
}

fn sidecar(fixture: &Path, suffix: &str) -> PathBuf {
    let mut name = fixture.file_name().unwrap().to_os_string();
    name.push(suffix);
    fixture.with_file_name(name)
}

/// Parses one fixture as the normalizer would.
pub fn parse_fixture(
    format: &str,
    fixture: &Path,
) -> Result<gluey_carriers::Parsed, gluey_carriers::ParseError> {
    let payload = std::fs::read(fixture).unwrap();
    // The sidecar holds the envelope's file context; its `_carrier` key, if any, is the
    // envelope's carrier (for generic formats).
    let mut context: BTreeMap<String, String> =
        match std::fs::read_to_string(sidecar(fixture, ".context.json")) {
            Ok(text) => serde_json::from_str(&text).unwrap(),
            Err(_) => BTreeMap::new(),
        };
    let format = gluey_carriers::format(format).unwrap();
    let carrier = context
        .remove("_carrier")
        .unwrap_or_else(|| format.carrier().to_string());
    format.parse(RawInput {
        carrier: &carrier,
        payload: &payload,
        context: &context,
        received_at: Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap(),
    })
}

#[test]
fn every_fixture_matches_its_golden_output() {
    let bless = std::env::var_os("GLUEY_BLESS").is_some();
    let mut failures = Vec::new();
    for format in FORMATS {
        for fixture in fixtures(format.name()) {
            let actual = render::json_lines(&parse_fixture(format.name(), &fixture));
            let golden = sidecar(&fixture, ".expected.jsonl");
            if bless {
                std::fs::write(&golden, &actual).unwrap();
                continue;
            }
            match std::fs::read_to_string(&golden) {
                Ok(expected) if expected == actual => {}
                Ok(expected) => failures.push(format!(
                    "{}: output differs from {}\n--- expected\n{expected}--- actual\n{actual}",
                    fixture.display(),
                    golden.display()
                )),
                Err(_) => failures.push(format!(
                    "{}: no golden file {} (review the output, then GLUEY_BLESS=1)",
                    fixture.display(),
                    golden.display()
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_mapping_row_is_exercised_by_a_fixture() {
    let mut hit: BTreeMap<&'static str, BTreeSet<usize>> = BTreeMap::new();
    let mut tables: BTreeMap<&'static str, usize> = BTreeMap::new();
    for format in FORMATS {
        let table = format.mapping().unwrap();
        tables.insert(table.file, table.len());
        for fixture in fixtures(format.name()) {
            let Ok(parsed) = parse_fixture(format.name(), &fixture) else {
                continue;
            };
            let rows = hit.entry(table.file).or_default();
            for record in &parsed.records {
                if let ParsedRecord::Event {
                    mapping_row: Some(row),
                    ..
                } = record
                {
                    rows.insert(*row);
                }
            }
            for skipped in &parsed.skipped {
                if let SkipReason::NoStatusChange { mapping_row } = skipped.why {
                    rows.insert(mapping_row);
                }
            }
        }
    }
    let mut missing = Vec::new();
    for (file, len) in tables {
        let rows = hit.get(file).cloned().unwrap_or_default();
        let unexercised: Vec<usize> = (0..len).filter(|r| !rows.contains(r)).collect();
        if !unexercised.is_empty() {
            missing.push(format!("{file}: rows {unexercised:?} have no fixture"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn every_mapping_file_loads() {
    gluey_carriers::validate_mappings().unwrap();
}
