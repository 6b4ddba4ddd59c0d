//! The Avro specification's Parsing Canonical Form of a schema and its CRC-64-AVRO (Rabin)
//! fingerprint, which single-object encoding puts in every record's header. Readers outside this
//! codebase (fastavro, the Java and Python reference implementations) look the writer schema up by
//! this fingerprint, so it must be the standard one.
//!
//! apache-avro 0.21 reduces a primitive with a logical type, `{"type": "long", "logicalType":
//! "timestamp-micros"}`, to `{"type":"long"}` instead of `"long"`, so its fingerprints of our
//! schemas are not the standard ones; the codec keeps them only to read records written before.

use serde_json::{Map, Value};

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// The attributes a canonical schema keeps, in the order it keeps them.
const KEPT: [&str; 7] = [
    "name", "type", "fields", "symbols", "items", "values", "size",
];

/// The Parsing Canonical Form of `schema` (JSON text of an Avro schema).
pub fn parsing_canonical_form(schema: &str) -> Result<String, String> {
    let value: Value =
        serde_json::from_str(schema).map_err(|e| format!("schema is not JSON: {e}"))?;
    let mut out = String::new();
    write_canonical(&value, None, &mut out)?;
    Ok(out)
}

/// The full name of `name` in `namespace` (a name with a dot is already full).
fn full_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

fn write_string(s: &str, out: &mut String) {
    // serde_json escapes only what JSON requires; other characters stay UTF-8 ([STRINGS]).
    out.push_str(&Value::String(s.to_string()).to_string());
}

fn write_canonical(
    schema: &Value,
    namespace: Option<&str>,
    out: &mut String,
) -> Result<(), String> {
    match schema {
        // A primitive, or a reference to a named type ([FULLNAMES]).
        Value::String(name) => {
            if PRIMITIVES.contains(&name.as_str()) {
                write_string(name, out);
            } else {
                write_string(&full_name(name, namespace), out);
            }
            Ok(())
        }
        Value::Array(branches) => {
            out.push('[');
            for (i, branch) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(branch, namespace, out)?;
            }
            out.push(']');
            Ok(())
        }
        Value::Object(object) => write_object(object, namespace, out),
        other => Err(format!("not a schema: {other}")),
    }
}

fn write_object(
    object: &Map<String, Value>,
    namespace: Option<&str>,
    out: &mut String,
) -> Result<(), String> {
    let kind = object
        .get("type")
        .ok_or_else(|| "a schema object without \"type\"".to_string())?;
    // {"type": "long", "logicalType": …} and the like are the primitive itself ([PRIMITIVES],
    // after [STRIP] has dropped every other attribute).
    if let Value::String(name) = kind {
        if PRIMITIVES.contains(&name.as_str()) {
            write_string(name, out);
            return Ok(());
        }
    }
    // A type written as an object whose "type" is itself a schema: {"type": {"type": "array", …}}.
    let Value::String(kind) = kind else {
        return write_canonical(kind, namespace, out);
    };
    let named = matches!(kind.as_str(), "record" | "error" | "enum" | "fixed");
    let (name, inner_namespace) = if named {
        let name = object
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("a {kind} without a name"))?;
        let own = object
            .get("namespace")
            .and_then(Value::as_str)
            .or(namespace);
        let full = full_name(name, own);
        let ns = full.rsplit_once('.').map(|(ns, _)| ns.to_string());
        (Some(full), ns)
    } else {
        (None, namespace.map(str::to_string))
    };
    let inner_namespace = inner_namespace.as_deref();
    out.push('{');
    let mut first = true;
    let mut key = |k: &str, out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
        write_string(k, out);
        out.push(':');
    };
    for attribute in KEPT {
        match attribute {
            "name" => {
                if let Some(name) = &name {
                    key("name", out);
                    write_string(name, out);
                }
            }
            "type" => {
                key("type", out);
                write_string(kind, out);
            }
            "fields" => {
                if let Some(fields) = object.get("fields") {
                    let fields = fields
                        .as_array()
                        .ok_or_else(|| "\"fields\" is not an array".to_string())?;
                    key("fields", out);
                    out.push('[');
                    for (i, field) in fields.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let field_name = field
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or_else(|| "a field without a name".to_string())?;
                        let field_type = field
                            .get("type")
                            .ok_or_else(|| format!("field {field_name} without a type"))?;
                        out.push_str("{\"name\":");
                        write_string(field_name, out);
                        out.push_str(",\"type\":");
                        write_canonical(field_type, inner_namespace, out)?;
                        out.push('}');
                    }
                    out.push(']');
                }
            }
            "symbols" => {
                if let Some(symbols) = object.get("symbols") {
                    key("symbols", out);
                    out.push_str(&symbols.to_string());
                }
            }
            "items" | "values" => {
                if let Some(inner) = object.get(attribute) {
                    key(attribute, out);
                    write_canonical(inner, inner_namespace, out)?;
                }
            }
            "size" => {
                if let Some(size) = object.get("size") {
                    key("size", out);
                    // [INTEGERS]: no leading zeros, as JSON numbers print.
                    out.push_str(&size.to_string());
                }
            }
            _ => {}
        }
    }
    out.push('}');
    Ok(())
}

/// CRC-64-AVRO of `bytes`, as the 8 little-endian bytes single-object encoding writes.
pub fn crc64_avro(bytes: &[u8]) -> [u8; 8] {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    let table: [u64; 256] = std::array::from_fn(|i| {
        let mut fp = i as u64;
        for _ in 0..8 {
            fp = (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg());
        }
        fp
    });
    let mut fp = EMPTY;
    for b in bytes {
        fp = (fp >> 8) ^ table[((fp ^ u64::from(*b)) & 0xff) as usize];
    }
    fp.to_le_bytes()
}

/// The standard fingerprint of the schema text `schema`.
pub fn fingerprint(schema: &str) -> Result<[u8; 8], String> {
    Ok(crc64_avro(parsing_canonical_form(schema)?.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fingerprints the Avro specification's test data gives for primitives (as Java longs).
    #[test]
    fn primitives_match_the_specification() {
        for (schema, java_long) in [
            ("\"null\"", 7_195_948_357_588_979_594_i64),
            ("\"boolean\"", -6_970_731_678_124_411_036),
            ("\"int\"", 8_247_732_601_305_521_295),
            ("\"long\"", -3_434_872_931_120_570_953),
            ("\"string\"", -8_142_146_995_180_207_161),
        ] {
            assert_eq!(
                fingerprint(schema).unwrap(),
                java_long.to_le_bytes(),
                "{schema}"
            );
        }
    }

    #[test]
    fn logical_types_reduce_to_their_primitive_and_names_are_full() {
        let schema = r#"{"type": "record", "name": "R", "namespace": "a.b", "doc": "x",
            "fields": [
              {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}, "doc": "d"},
              {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y"], "default": "X"}},
              {"name": "again", "type": "E"},
              {"name": "m", "type": {"type": "map", "values": ["null", "string"]}, "default": {}}
            ]}"#;
        assert_eq!(
            parsing_canonical_form(schema).unwrap(),
            r#"{"name":"a.b.R","type":"record","fields":[{"name":"at","type":"long"},{"name":"e","type":{"name":"a.b.E","type":"enum","symbols":["X","Y"]}},{"name":"again","type":"a.b.E"},{"name":"m","type":{"type":"map","values":["null","string"]}}]}"#
        );
    }
}
