//! X12 text → segments → ST…SE transactions, with the ISA/GS envelope each sits in; and the split
//! of an interchange into standalone pieces.
//!
//! Separators come, in this order, from the file context (`element_separator`,
//! `segment_terminator`, `sub_element_separator`: one character each), from the record's own ISA
//! segment (element separator at position 3, sub-element separator ISA16, segment terminator the
//! character after it), or, for a bare transaction without context, from its first segment (`ST`
//! or `GS`: the character after the segment id separates elements, and the first character after
//! that which is not a letter, digit or element separator ends the segment). CR, LF and spaces
//! around segments are ignored.
//!
//! Invariant: every transaction returned starts with an `ST` whose ST01 is 214, ends with an `SE`
//! whose count (ST through SE inclusive) and control number match, and has only segments between.

use std::collections::BTreeMap;

use super::shape;
use crate::format::{ParseError, ShipmentSplit};

/// The delimiters of one interchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Separators {
    pub element: char,
    pub segment: char,
    pub sub_element: Option<char>,
}

/// One segment: its id and elements (`elements[0]` is the id), and its text.
#[derive(Debug, Clone)]
pub(crate) struct Segment<'a> {
    pub text: &'a str,
    pub elements: Vec<&'a str>,
}

impl<'a> Segment<'a> {
    pub fn id(&self) -> &'a str {
        self.elements.first().copied().unwrap_or_default()
    }

    /// Element `n` (1-based, as X12 numbers them: `AT7-05` is `element(5)`), trimmed; `""` when
    /// absent.
    pub fn element(&self, n: usize) -> &'a str {
        self.elements.get(n).map(|e| e.trim()).unwrap_or_default()
    }
}

/// One ST…SE transaction and the envelope segments it came in.
#[derive(Debug, Clone)]
pub(crate) struct Transaction<'a> {
    /// ST02.
    pub control: &'a str,
    /// ST through SE inclusive.
    pub segments: Vec<Segment<'a>>,
    pub isa: Option<Segment<'a>>,
    pub gs: Option<Segment<'a>>,
}

/// The payload as text (X12 is ASCII; UTF-8 is accepted, anything else is refused).
pub(crate) fn text(payload: &[u8]) -> Result<&str, ParseError> {
    let text = std::str::from_utf8(payload).map_err(|e| ParseError::Encoding {
        encoding: "utf-8",
        reason: format!(
            "x12 payload has a non-utf-8 byte at offset {}",
            e.valid_up_to()
        ),
    })?;
    Ok(text.trim_start_matches('\u{feff}'))
}

fn context_char(context: &BTreeMap<String, String>, key: &str) -> Result<Option<char>, ParseError> {
    let Some(value) = context.get(key) else {
        return Ok(None);
    };
    // A terminator is often configured as "~\n"; line ends after it are ignored anyway.
    let trimmed = value.trim_end_matches(['\r', '\n']);
    let trimmed = if trimmed.is_empty() {
        value.as_str()
    } else {
        trimmed
    };
    let mut chars = trimmed.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(Some(c)),
        _ => Err(shape(format!(
            "context {key} {value:?} is not a single character"
        ))),
    }
}

/// The separators of `text`, by the rules in the module docs.
pub(crate) fn separators(
    text: &str,
    context: &BTreeMap<String, String>,
) -> Result<Separators, ParseError> {
    let element = context_char(context, "element_separator")?;
    let segment = context_char(context, "segment_terminator")?;
    let sub_element = context_char(context, "sub_element_separator")?;
    let detected = match (element, segment) {
        (Some(element), Some(segment)) => Separators {
            element,
            segment,
            sub_element,
        },
        _ => detect(text)?,
    };
    let separators = Separators {
        element: element.unwrap_or(detected.element),
        segment: segment.unwrap_or(detected.segment),
        sub_element: sub_element.or(detected.sub_element),
    };
    if separators.element == separators.segment
        || separators.element.is_ascii_alphanumeric()
        || separators.segment.is_ascii_alphanumeric()
    {
        return Err(shape(format!(
            "element separator {:?} and segment terminator {:?} are not usable delimiters",
            separators.element, separators.segment
        )));
    }
    Ok(separators)
}

/// Separators read from the payload itself (ISA, else the first ST or GS segment).
pub(crate) fn detect(text: &str) -> Result<Separators, ParseError> {
    let start = text.trim_start();
    if start.starts_with("ISA") {
        return from_isa(start);
    }
    if start.starts_with("ST") || start.starts_with("GS") {
        return from_first_segment(start);
    }
    Err(shape(
        "cannot tell the separators: the record starts with neither ISA, GS nor ST and the \
         file context has no element_separator and segment_terminator",
    ))
}

fn from_isa(isa: &str) -> Result<Separators, ParseError> {
    let mut chars = isa.chars().skip(3);
    let element = chars
        .next()
        .ok_or_else(|| shape("ISA segment is truncated before its element separator"))?;
    // ISA has 16 elements: after the 16th separator come ISA16 and the terminator.
    let mut seen = 1;
    while seen < 16 {
        match chars.next() {
            Some(c) if c == element => seen += 1,
            Some(_) => {}
            None => return Err(shape("ISA segment is truncated: it needs 16 elements")),
        }
    }
    let sub_element = chars
        .next()
        .ok_or_else(|| shape("ISA16 (sub-element separator) is missing"))?;
    let segment = chars
        .next()
        .ok_or_else(|| shape("ISA segment has no terminator after ISA16"))?;
    Ok(Separators {
        element,
        segment,
        sub_element: Some(sub_element),
    })
}

fn from_first_segment(text: &str) -> Result<Separators, ParseError> {
    let mut chars = text.chars().skip(2);
    let element = chars
        .next()
        .filter(|c| !c.is_ascii_alphanumeric() && !c.is_whitespace())
        .ok_or_else(|| shape("first segment has no element separator after its id"))?;
    let segment = chars
        .find(|c| !c.is_ascii_alphanumeric() && *c != element && *c != ' ')
        .ok_or_else(|| shape("first segment has no terminator"))?;
    Ok(Separators {
        element,
        segment,
        sub_element: None,
    })
}

/// The segments of `text`, blank ones dropped.
pub(crate) fn segments(text: &str, separators: Separators) -> Vec<Segment<'_>> {
    text.split(separators.segment)
        .map(|s| s.trim_matches(|c: char| c == '\r' || c == '\n' || c == ' ' || c == '\t'))
        .filter(|s| !s.is_empty())
        .map(|text| Segment {
            text,
            elements: text.split(separators.element).collect(),
        })
        .collect()
}

/// Every ST…SE transaction, with its envelope, checked as the module docs say.
pub(crate) fn transactions<'a>(
    segments: &[Segment<'a>],
) -> Result<Vec<Transaction<'a>>, ParseError> {
    let mut out = Vec::new();
    let mut isa: Option<Segment<'a>> = None;
    let mut gs: Option<Segment<'a>> = None;
    let mut open: Option<Transaction<'a>> = None;
    for segment in segments {
        match (segment.id(), open.as_mut()) {
            ("ST", Some(current)) => {
                return Err(shape(format!(
                    "transaction {} has no SE before the next ST",
                    current.control
                )))
            }
            ("ST", None) => {
                let kind = segment.element(1);
                if kind != "214" {
                    return Err(shape(format!(
                        "transaction {} is a {kind:?} (ST01), not a 214",
                        segment.element(2)
                    )));
                }
                open = Some(Transaction {
                    control: segment.element(2),
                    segments: vec![segment.clone()],
                    isa: isa.clone(),
                    gs: gs.clone(),
                });
            }
            ("SE", Some(current)) => {
                current.segments.push(segment.clone());
                check_trailer(current, segment)?;
                out.extend(open.take());
            }
            (_, Some(current)) => current.segments.push(segment.clone()),
            ("ISA", None) => {
                check_isa(segment)?;
                isa = Some(segment.clone());
                gs = None;
            }
            ("GS", None) => gs = Some(segment.clone()),
            ("GE" | "IEA", None) => {}
            (id, None) => {
                return Err(shape(format!(
                    "segment {id:?} is outside an ST…SE transaction"
                )))
            }
        }
    }
    if let Some(current) = open {
        return Err(shape(format!(
            "transaction {} has no SE segment (truncated file?)",
            current.control
        )));
    }
    if out.is_empty() {
        return Err(shape("no ST…SE transaction in the record"));
    }
    Ok(out)
}

/// An ISA is fixed: 16 elements, ISA16 one character. A piece re-emits it and reads its
/// separators from it again, so a broken one is refused here rather than in a piece.
fn check_isa(isa: &Segment<'_>) -> Result<(), ParseError> {
    let elements = isa.elements.len().saturating_sub(1);
    if elements != 16 {
        return Err(shape(format!(
            "ISA segment has {elements} elements, not 16"
        )));
    }
    if isa.element(16).chars().count() != 1 {
        return Err(shape("ISA16 (sub-element separator) is not one character"));
    }
    Ok(())
}

fn check_trailer(transaction: &Transaction<'_>, se: &Segment<'_>) -> Result<(), ParseError> {
    let count = transaction.segments.len();
    if se.element(1).parse::<usize>().ok() != Some(count) {
        return Err(shape(format!(
            "transaction {}: SE01 says {:?} segments, ST through SE has {count}",
            transaction.control,
            se.element(1)
        )));
    }
    if se.element(2) != transaction.control {
        return Err(shape(format!(
            "transaction {}: SE02 {:?} does not match ST02",
            transaction.control,
            se.element(2)
        )));
    }
    Ok(())
}

/// Splits an interchange per shipment: one piece per tracking number (normally one per
/// transaction; transactions about the same number stay together, in file order). A payload with
/// one shipment is returned byte for byte. Each other piece is a standalone interchange: the
/// original ISA and GS segments, the transactions, and a GE/IEA closing them with the original
/// control numbers and the piece's own counts, so its separators are read from its ISA again.
pub(crate) fn split(
    payload: &[u8],
    tracking_number: impl Fn(&Transaction<'_>) -> Result<String, ParseError>,
) -> Result<Vec<ShipmentSplit>, ParseError> {
    let text = text(payload)?;
    let separators = detect(text)?;
    let segments = segments(text, separators);
    let transactions = transactions(&segments)?;
    let mut shipments: Vec<(String, Vec<&Transaction<'_>>)> = Vec::new();
    for transaction in &transactions {
        let number = tracking_number(transaction)?;
        match shipments.iter_mut().find(|(n, _)| *n == number) {
            Some((_, group)) => group.push(transaction),
            None => shipments.push((number, vec![transaction])),
        }
    }
    if let [(number, _)] = shipments.as_slice() {
        return Ok(vec![ShipmentSplit {
            tracking_number: number.clone(),
            payload: payload.to_vec(),
        }]);
    }
    let line_end = if text.contains(&format!("{}\n", separators.segment)) {
        "\n"
    } else {
        ""
    };
    Ok(shipments
        .into_iter()
        .map(|(tracking_number, group)| ShipmentSplit {
            tracking_number,
            payload: piece(&group, separators, line_end).into_bytes(),
        })
        .collect())
}

/// The ISA and GS segments a transaction came in.
fn envelope<'t>(tx: &Transaction<'t>) -> (Option<&'t str>, Option<&'t str>) {
    (
        tx.isa.as_ref().map(|s| s.text),
        tx.gs.as_ref().map(|s| s.text),
    )
}

/// Transactions of one shipment as a standalone interchange. Transactions from different GS
/// groups or interchanges each keep their own envelope.
fn piece(group: &[&Transaction<'_>], separators: Separators, line_end: &str) -> String {
    let (e, t) = (separators.element, separators.segment);
    let mut out = String::new();
    let mut push = |segment: &str| {
        out.push_str(segment);
        out.push(t);
        out.push_str(line_end);
    };
    for run in group.chunk_by(|a, b| envelope(a) == envelope(b)) {
        let Some(first) = run.first() else {
            continue;
        };
        if let Some(isa) = &first.isa {
            push(isa.text);
        }
        if let Some(gs) = &first.gs {
            push(gs.text);
        }
        for segment in run.iter().flat_map(|tx| &tx.segments) {
            push(segment.text);
        }
        if let Some(gs) = &first.gs {
            push(&format!("GE{e}{}{e}{}", run.len(), gs.element(6)));
        }
        if let Some(isa) = &first.isa {
            let groups = usize::from(first.gs.is_some());
            push(&format!("IEA{e}{groups}{e}{}", isa.element(13)));
        }
    }
    out
}
