//! CSV tracking files, format `csv.feed` (CARRIERS.md 2.3, 2.4): the flat files DPD, Evri, Yodel
//! and similar carriers drop on sFTP, mapped into CARRIERS.md's column set. This module owns
//! turning CSV lines into canonical records (one tracking event per event line, an ETA update
//! per line with `eta_date`/`eta_window`, oldest first: a file is never assumed sorted, ties keep
//! file order) and splitting a file into one piece per data line. It is pure: no I/O besides the
//! mapping file embedded at build time.
//!
//! **Raw record and file context.** One raw record is one CSV record (one line, or more when a
//! quoted field holds a line break). Ingest puts the file's facts in the context; every key is
//! optional:
//! - `header`: the file's header line. Without it, the payload's first non-blank line is the
//!   header (a whole file parses too).
//! - `delimiter`: `,` or `;` (also `\t`/`tab` and `|`); without it, whichever of `;` and `,` the
//!   header has more of outside quotes.
//! - `encoding`: `utf-8` (default) or `windows-1252`.
//! - `default_zone`: the carrier's documented zone (IANA name); default Europe/London, the zone of
//!   the UK carriers this format is for.
//! - `file`, `line`: the file name and the record's line number, used in error reasons only.
//!
//! `split` takes a whole file (header first) and returns one piece per data line whose payload is
//! that line's bytes only, as found in the file (encoding untouched, no line end): ingest must put
//! the header line (and delimiter and encoding) in each piece's context. Blank lines, H/T records
//! and repeated header rows yield no piece (they carry no event; a trailer's counts are for
//! ingest's own completeness check). A file with a header and no data lines yields no pieces; a
//! zero-byte or blank file is an error (a file still being written, CARRIERS.md 2.4).
//!
//! **Identity fields** (DESIGN.md, Identity): the carrier namespace is the envelope's carrier
//! (`RawInput.carrier`, trimmed and lower-cased: `dpd`, `evri`, `yodel`; `csv` when it does not
//! say), so a DPD scan read from a file and from DPD's JSON API share an id; the tracking number
//! without Excel's `'`; `event_code` trimmed and upper-cased, leading zeros kept (`015`); the
//! event time in UTC truncated to the minute (files often have no seconds, APIs do). Nothing else:
//! depot codes, file sequence and line numbers are not on the carriers' other routes, and a file
//! re-sent under a new name must give the same ids. Example: `E,…,15501234567890,…,015,…,
//! 03/06/2024,07:52,,…,GB` from DPD → `event_id("dpd", "15501234567890", "015",
//! 2024-06-03T06:52Z)`.
//!
//! Field choices: `carrier_code` is `event_code` as written (trimmed; empty maps to `unknown`
//! unless a description rule of the carrier matches, and an empty-code line with an ETA is only
//! an ETA update); `carrier_sub_code` is `event_reason_code`; `carrier_description` is
//! `event_description`; `signed_by` is `signatory`; the location is `depot_code` (carrier location
//! code), `location_name` (name), `postcode`, `country`. Dates are day first (`dd/MM/yyyy`; never
//! month first), times `hh:mm[:ss]`. The zone is `event_tz` (offset, abbreviation or IANA name),
//! else the country's zone, else the default zone flagged `assumed_default`. `record_type` H and T
//! are reported as skipped (`SkipReason` has no variant for file structure, so they are item
//! skips with a message saying which), as is a header row repeated mid-file.

mod mapping;
mod row;
mod text;

use std::collections::BTreeMap;

use chrono_tz::Tz;
use gluey_contract::{Route, UpdateType};

use crate::event::{classify, oldest_first};
use crate::format::{
    CarrierFormat, ParseError, Parsed, ParsedRecord, ParsedUpdate, RawInput, ShipmentSplit,
    SkipReason, Skipped,
};
use crate::mapping::{MappingError, MappingTable, RawCode};

use row::{Columns, Line, Reader};
use text::Encoding;

const FORMAT: &str = "csv.feed";

/// The carrier namespace when the envelope does not name one.
const DEFAULT_CARRIER: &str = "csv";

/// The zone of offset-less times when neither `event_tz` nor `country` gives one.
const DEFAULT_ZONE: Tz = chrono_tz::Europe::London;

/// CSV tracking files (`csv.feed`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvFeed;

impl CarrierFormat for CsvFeed {
    fn name(&self) -> &'static str {
        FORMAT
    }

    fn carrier(&self) -> &'static str {
        DEFAULT_CARRIER
    }

    fn description(&self) -> &'static str {
        "CSV tracking file line (DPD, Evri, Yodel…; header and delimiter in the file context), sFTP"
    }

    fn routes(&self) -> &'static [Route] {
        &[Route::Sftp]
    }

    fn mapping(&self) -> Result<&'static MappingTable, MappingError> {
        mapping::table()
    }

    fn parse(&self, input: RawInput<'_>) -> Result<Parsed, ParseError> {
        parse(input)
    }

    fn split(&self, payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
        split(payload)
    }
}

fn parse(input: RawInput<'_>) -> Result<Parsed, ParseError> {
    let table = mapping::table().map_err(|e| shape(e.to_string()))?;
    let context = input.context;
    let carrier = match input.carrier.trim().to_ascii_lowercase() {
        c if c.is_empty() => DEFAULT_CARRIER.to_string(),
        c => c,
    };
    let encoding = context
        .get("encoding")
        .map(|label| Encoding::from_label(label))
        .transpose()?
        .unwrap_or(Encoding::Utf8);
    let default_zone = match context.get("default_zone") {
        Some(name) => name
            .trim()
            .parse::<Tz>()
            .map_err(|_| shape(format!("context default_zone {name:?} is not an iana zone")))?,
        None => DEFAULT_ZONE,
    };
    let bytes = text::strip_bom(input.payload);
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let header_text = context.get("header").map(|h| {
        h.trim_start_matches('\u{feff}')
            .trim_end_matches(['\r', '\n'])
            .to_string()
    });
    let delimiter = match context.get("delimiter") {
        Some(d) => delimiter(d)?,
        None => match &header_text {
            Some(h) => text::sniff_delimiter(h),
            None => text::sniff_delimiter(&text::decode_any(first_line)),
        },
    };
    let ranges = text::records(bytes, ascii(delimiter)?);
    let mut records = ranges
        .iter()
        .map(|r| (r.start, bytes.get(r.clone()).unwrap_or_default()));
    let header_fields = match &header_text {
        Some(h) => text::fields(h, delimiter),
        None => {
            let header = records
                .by_ref()
                .map(|(_, b)| text::decode(b, encoding))
                .find(|t| t.as_ref().map_or(true, |t| !t.trim().is_empty()))
                .ok_or_else(|| {
                    shape("no header line: the payload is blank and the context has no header")
                })??;
            text::fields(&header, delimiter)
        }
    }
    .map_err(|e| shape(format!("header: {e}")))?;
    let columns = Columns::from_header(&header_fields)?;
    let reader = Reader {
        columns: &columns,
        delimiter,
        default_zone,
    };
    let first_line_number = match (&header_text, context.get("line")) {
        (Some(_), Some(line)) => line.trim().parse::<usize>().unwrap_or(1),
        _ => 1,
    };
    let file = context
        .get("file")
        .map(|f| format!("file {f} "))
        .unwrap_or_default();
    let mut parsed = Parsed::default();
    let mut updates: Vec<ParsedRecord> = Vec::new();
    for (start, record) in records {
        let line_number = first_line_number.saturating_add(
            bytes
                .get(..start)
                .unwrap_or_default()
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
        );
        let label = format!("{file}line {line_number}");
        let record_text = text::decode(record, encoding).map_err(|e| match e {
            ParseError::Encoding { encoding, reason } => ParseError::Encoding {
                encoding,
                reason: format!("{label}: {reason}"),
            },
            other => other,
        })?;
        match reader.line(&record_text, &label)? {
            Line::Blank => {}
            Line::RepeatedHeader => parsed.skipped.push(Skipped {
                tracking_number: None,
                carrier_code: String::new(),
                why: SkipReason::ItemError {
                    message: format!("{label}: the header row repeated (files concatenated?)"),
                },
            }),
            Line::Structure { record_type } => parsed.skipped.push(Skipped {
                tracking_number: None,
                carrier_code: record_type.clone(),
                why: SkipReason::ItemError {
                    message: format!(
                        "{label}: record_type {record_type} is a file {}, not an event",
                        if record_type == "H" {
                            "header"
                        } else {
                            "trailer"
                        }
                    ),
                },
            }),
            Line::Event {
                mut scan,
                no_code,
                eta,
            } => {
                scan.kind = Some(carrier.clone());
                let tracking_number = scan.tracking_number.clone();
                let eta_only = no_code
                    && eta.is_some()
                    && table
                        .lookup(RawCode {
                            code: &scan.carrier_code,
                            kind: scan.kind.as_deref(),
                            reason: scan.reason.as_deref(),
                            description: scan.description.as_deref(),
                        })
                        .is_none();
                if !eta_only {
                    match classify(&carrier, table, *scan) {
                        Ok(record) => parsed.records.push(record),
                        Err(skip) => parsed.skipped.push(skip),
                    }
                }
                // One update per line, even when lines repeat an ETA: a line is a raw record of
                // its own, and the normalizer dedupes updates by their deterministic id.
                if let Some(eta) = eta {
                    updates.push(ParsedRecord::Update {
                        tracking_number,
                        update: ParsedUpdate {
                            update_type: UpdateType::EtaChanged,
                            new_eta: Some(eta),
                            new_tracking_number: None,
                        },
                    });
                }
            }
        }
    }
    oldest_first(&mut parsed.records);
    parsed.records.extend(updates);
    Ok(parsed)
}

/// One piece per data line (see the module docs).
fn split(payload: &[u8]) -> Result<Vec<ShipmentSplit>, ParseError> {
    if payload.iter().all(u8::is_ascii_whitespace) || text::strip_bom(payload).is_empty() {
        return Err(shape(
            "the file is empty (zero bytes or blank: is the carrier still writing it?)",
        ));
    }
    let file = FileLayout::of(payload)?;
    let header_fields =
        text::fields(&file.header, file.delimiter).map_err(|e| shape(format!("header: {e}")))?;
    let columns = Columns::from_header(&header_fields)?;
    let mut pieces = Vec::new();
    for range in file.data {
        let Some(bytes) = file.body.get(range.clone()) else {
            continue;
        };
        let record = text::decode_any(bytes);
        if record.trim().is_empty() {
            continue;
        }
        let line = 1 + file
            .body
            .get(..range.start)
            .unwrap_or_default()
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        let fields = text::fields(&record, file.delimiter)
            .map_err(|e| shape(format!("line {line}: {e}")))?;
        let raw_number = columns.get(&fields, "tracking_number");
        let record_type = columns.get(&fields, "record_type").to_ascii_uppercase();
        if row::column_key(raw_number) == "tracking_number"
            || record_type == "H"
            || record_type == "T"
        {
            continue;
        }
        let tracking_number = row::tracking_number(raw_number);
        if tracking_number.is_empty() {
            return Err(shape(format!("line {line}: tracking_number is empty")));
        }
        pieces.push(ShipmentSplit {
            tracking_number,
            payload: bytes.to_vec(),
        });
    }
    Ok(pieces)
}

/// A whole file read without context: its body (BOM dropped), delimiter, header record and the
/// byte ranges of the records after it. Encoding: UTF-8 when valid, else Windows-1252.
struct FileLayout<'a> {
    body: &'a [u8],
    delimiter: char,
    header: String,
    encoding: &'static str,
    data: Vec<std::ops::Range<usize>>,
}

impl<'a> FileLayout<'a> {
    fn of(payload: &'a [u8]) -> Result<FileLayout<'a>, ParseError> {
        let body = text::strip_bom(payload);
        let first_line = body.split(|&b| b == b'\n').next().unwrap_or_default();
        let delimiter = text::sniff_delimiter(&text::decode_any(first_line));
        let mut records = text::records(body, ascii(delimiter)?).into_iter();
        let header = records
            .by_ref()
            .map(|r| text::decode_any(body.get(r).unwrap_or_default()))
            .find(|t| !t.trim().is_empty())
            .ok_or_else(|| shape("the file has no header line"))?;
        let encoding = if std::str::from_utf8(body).is_ok() {
            "utf-8"
        } else {
            "windows-1252"
        };
        Ok(FileLayout {
            body,
            delimiter,
            header,
            encoding,
            data: records.collect(),
        })
    }
}

/// The context's `delimiter`.
fn delimiter(value: &str) -> Result<char, ParseError> {
    match value {
        "," | ";" | "|" | "\t" => value
            .chars()
            .next()
            .ok_or_else(|| shape("context delimiter is empty")),
        "tab" | "\\t" => Ok('\t'),
        _ => Err(shape(format!(
            "context delimiter {value:?} is not one of , ; | tab"
        ))),
    }
}

fn ascii(delimiter: char) -> Result<u8, ParseError> {
    u8::try_from(delimiter)
        .ok()
        .filter(u8::is_ascii)
        .ok_or_else(|| shape(format!("delimiter {delimiter:?} is not ascii")))
}

fn shape(reason: impl Into<String>) -> ParseError {
    ParseError::Shape {
        format: FORMAT,
        reason: reason.into(),
    }
}

/// The context a piece from `split` needs to parse alone: the file's header record, delimiter
/// and encoding, as ingest would set them (for tests and tools). Empty for a file without a
/// header.
pub fn piece_context(file: &[u8]) -> BTreeMap<String, String> {
    let Ok(layout) = FileLayout::of(file) else {
        return BTreeMap::new();
    };
    BTreeMap::from([
        ("delimiter".to_string(), layout.delimiter.to_string()),
        ("encoding".to_string(), layout.encoding.to_string()),
        ("header".to_string(), layout.header),
    ])
}
