//! Bytes → text → CSV records → fields. Pure and total: every byte sequence either decodes or
//! gives a typed error, and splitting never loses a byte.
//!
//! - Encodings: `utf-8` (a UTF-8 BOM is dropped) or `windows-1252`, decoded here with a table for
//!   0x80–0x9F (the five bytes Windows-1252 leaves undefined map to the C1 controls of the same
//!   value, as browsers do) and Latin-1 for the rest.
//! - Records end at LF outside quotes; a CR before it is dropped (CRLF files). A field that starts
//!   with `"` is quoted: it runs to the next lone `"` (`""` is a literal quote) and may hold the
//!   delimiter and line ends. A quote anywhere else is an ordinary character.

use crate::format::ParseError;

use super::shape;

/// A file's text encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Utf8,
    Windows1252,
}

impl Encoding {
    /// The context's `encoding` value (case-insensitive; `cp1252` is accepted as an alias).
    pub fn from_label(label: &str) -> Result<Encoding, ParseError> {
        match label.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "windows-1252" | "cp1252" => Ok(Encoding::Windows1252),
            _ => Err(shape(format!(
                "context encoding {label:?} is not utf-8 or windows-1252"
            ))),
        }
    }
}

/// The bytes without a leading UTF-8 byte order mark.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Decodes `bytes` (BOM already stripped or not: it is dropped either way).
pub(crate) fn decode(bytes: &[u8], encoding: Encoding) -> Result<String, ParseError> {
    let bytes = strip_bom(bytes);
    match encoding {
        Encoding::Utf8 => String::from_utf8(bytes.to_vec()).map_err(|e| ParseError::Encoding {
            encoding: "utf-8",
            reason: format!(
                "invalid byte at offset {} (is the file windows-1252?)",
                e.utf8_error().valid_up_to()
            ),
        }),
        Encoding::Windows1252 => Ok(bytes.iter().map(|&b| windows_1252(b)).collect()),
    }
}

/// UTF-8 when the bytes are valid UTF-8, else Windows-1252 (for `split`, which has no context).
pub(crate) fn decode_any(bytes: &[u8]) -> String {
    decode(bytes, Encoding::Utf8)
        .unwrap_or_else(|_| strip_bom(bytes).iter().map(|&b| windows_1252(b)).collect())
}

const HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

fn windows_1252(byte: u8) -> char {
    match byte {
        0x80..=0x9F => HIGH
            .get(usize::from(byte - 0x80))
            .copied()
            .unwrap_or(char::REPLACEMENT_CHARACTER),
        _ => char::from(byte),
    }
}

/// The byte ranges of the records in `bytes`, in order, line ends excluded; blank records are
/// kept (callers skip them). ASCII-only logic, so it is right for UTF-8 and Windows-1252 alike.
pub(crate) fn records(bytes: &[u8], delimiter: u8) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut field_start = true;
    let mut quoted = false;
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if quoted {
            if byte == b'"' {
                if bytes.get(index + 1) == Some(&b'"') {
                    index += 1;
                } else {
                    quoted = false;
                }
            }
        } else if byte == b'"' && field_start {
            quoted = true;
            field_start = false;
        } else if byte == b'\n' {
            let end = if index > start && bytes.get(index - 1) == Some(&b'\r') {
                index - 1
            } else {
                index
            };
            out.push(start..end);
            start = index + 1;
            field_start = true;
        } else {
            field_start = byte == delimiter;
        }
        index += 1;
    }
    if start < bytes.len() {
        let end = if bytes.last() == Some(&b'\r') {
            bytes.len() - 1
        } else {
            bytes.len()
        };
        out.push(start..end.max(start));
    }
    out
}

/// The fields of one record, unquoted. `Err` names the problem (an unterminated quote).
pub(crate) fn fields(record: &str, delimiter: char) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = record.chars().peekable();
    let mut quoted = false;
    let mut field_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    current.push('"');
                } else {
                    quoted = false;
                }
            } else {
                current.push(c);
            }
        } else if c == '"' && field_start {
            quoted = true;
            field_start = false;
        } else if c == delimiter {
            out.push(std::mem::take(&mut current));
            field_start = true;
        } else {
            current.push(c);
            field_start = false;
        }
    }
    if quoted {
        return Err("a quoted field is not closed".to_string());
    }
    out.push(current);
    Ok(out)
}

/// The delimiter of a header line: `;` when it has more semicolons than commas outside quotes,
/// else `,`.
pub(crate) fn sniff_delimiter(header: &str) -> char {
    let mut quoted = false;
    let (mut commas, mut semicolons) = (0, 0);
    for c in header.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => commas += 1,
            ';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas {
        ';'
    } else {
        ','
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1252_and_utf8() {
        assert_eq!(
            decode(b"Caf\xe9 \x80 \x93x\x94", Encoding::Windows1252).unwrap(),
            "Café € “x”"
        );
        assert_eq!(decode(b"\xEF\xBB\xBFab", Encoding::Utf8).unwrap(), "ab");
        assert!(matches!(
            decode(b"Caf\xe9", Encoding::Utf8),
            Err(ParseError::Encoding { .. })
        ));
        assert_eq!(decode_any(b"Caf\xe9"), "Café");
        assert_eq!(decode_any("Café".as_bytes()), "Café");
    }

    #[test]
    fn records_respect_quotes_and_crlf() {
        let text = b"a,\"b\r\nc\",d\r\ne,f\n\ng,5\" box,h";
        let ranges = records(text, b',');
        let parts: Vec<&[u8]> = ranges.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(parts, [&b"a,\"b\r\nc\",d"[..], b"e,f", b"", b"g,5\" box,h"]);
        assert_eq!(
            fields("a,\"b;\"\"c\"\"\",5\" box,", ',').unwrap(),
            ["a", "b;\"c\"", "5\" box", ""]
        );
        assert!(fields("a,\"b", ',').is_err());
        assert_eq!(sniff_delimiter("a;b;\"c,d,e\""), ';');
        assert_eq!(sniff_delimiter("a,b"), ',');
    }
}
