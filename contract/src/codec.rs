//! Encoding of contract records on the wire.
//!
//! - With a Schema Registry configured: the Confluent wire format (magic byte `0`, the 4-byte
//!   schema id, the Avro binary datum), through `schema_registry_converter`; schemas are registered
//!   under the topic-name strategy (`<topic>-value`) from the `.avsc` files on first use.
//! - Without one: Avro single-object encoding (magic `C3 01`, the 8-byte little-endian CRC-64-AVRO
//!   fingerprint of the writer schema's canonical form, the Avro binary datum). Readers find the
//!   writer schema by fingerprint among the current and released versions they were built with.
//!
//! Either way, a reader resolves the writer's schema into its own current one, so old readers read
//! new data and new readers read old data (FULL compatibility, checked by the tests).

use std::collections::HashMap;

use apache_avro::rabin::Rabin;
use apache_avro::types::Value;
use apache_avro::Schema;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::avro_common::get_supplied_schema;
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::SubjectNameStrategy;

use crate::schema::{AvroRecord, ContractSchema, CONTRACT_SCHEMAS};

const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
const SINGLE_OBJECT_HEADER_LEN: usize = 10;
const CONFLUENT_MAGIC: u8 = 0;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("schema {name} does not parse: {source}")]
    Schema {
        name: &'static str,
        source: Box<apache_avro::Error>,
    },
    #[error("record does not fit schema {name}: {source}")]
    Encode {
        name: &'static str,
        source: Box<apache_avro::Error>,
    },
    #[error("bytes are not a valid {name} record: {reason}")]
    Decode { name: &'static str, reason: String },
    /// The registry is unreachable or refuses service: retry later.
    #[error("schema registry: {0}")]
    Registry(String),
    /// The registry answered that it will not take this schema (incompatible, invalid).
    #[error("schema registry refused the schema: {0}")]
    RegistryRefused(String),
    #[error("apache-avro's decode allocation limit is {0} bytes, set before the codec could set {MAX_DECODE_ALLOCATION}")]
    AllocationLimit(usize),
}

impl CodecError {
    /// Registry errors may pass (the registry was unreachable); the others never will.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CodecError::Registry(_))
    }
}

/// How to reach a Confluent-compatible Schema Registry.
#[derive(Clone, Default)]
pub struct RegistrySettings {
    pub url: String,
    /// Basic authentication (Confluent Cloud: API key and secret).
    pub basic_auth: Option<(String, String)>,
    /// Bearer token authentication.
    pub bearer_token: Option<String>,
}

impl std::fmt::Debug for RegistrySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySettings")
            .field("url", &self.url)
            .field(
                "basic_auth",
                &self
                    .basic_auth
                    .as_ref()
                    .map(|(user, _)| (user, "[REDACTED]")),
            )
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

struct ParsedSchema {
    current: Schema,
    /// `current` with every reference to a named type replaced by its definition, for the
    /// schema-aware serializer, which is given no table of names.
    inlined: Schema,
    fingerprint: [u8; 8],
    /// The current schema's fingerprint as written before the standard one (still read).
    legacy_fingerprint: [u8; 8],
    /// Writer schemas this build can read single-object data from, by fingerprint (standard and
    /// legacy).
    writers: HashMap<[u8; 8], Schema>,
}

/// The registry client. `schema_registry_converter` caches failed look-ups too; after a failure
/// that is the registry's (not the record's) the cached errors are dropped, so the next attempt
/// asks the registry again instead of failing from the cache for ever.
struct Registry {
    encoder: AvroEncoder<'static>,
    decoder: AvroDecoder<'static>,
}

/// Whether `e` says the registry is unreachable or refusing service (connection errors, 5xx,
/// 429, and also 401/403, which are about this client's settings, never about a record), rather
/// than that a record's schema does not exist (404) or its bytes do not decode.
fn is_registry_outage(e: &SRCError) -> bool {
    if e.retriable {
        return true;
    }
    match e
        .error
        .strip_prefix("HTTP request to schema registry failed with status ")
    {
        Some(status) => !status.starts_with("404"),
        None => false,
    }
}

/// Encodes and decodes contract records. Cheap to share behind an `Arc`.
pub struct Codec {
    schemas: HashMap<&'static str, ParsedSchema>,
    registry: Option<Registry>,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("registry", &self.registry.is_some())
            .finish()
    }
}

fn parse(name: &'static str, text: &str) -> Result<Schema, CodecError> {
    Schema::parse_str(text).map_err(|e| CodecError::Schema {
        name,
        source: Box::new(e),
    })
}

/// The most apache-avro may reserve for one length read from the bytes: a `bytes` or `string` of
/// that many bytes, or an array or map of that many items (each item is a 56-byte `Value`, so
/// at most ~470 MB of address space, never touched unless the items are really there). Its own
/// default (512 Mi) lets a 20-byte record claim 500 million array items and abort the process on
/// a 28 GB reservation. 8 MiB is far above any record Kafka carries with default settings
/// (`message.max.bytes` 1,000,000), so no real record is refused.
pub const MAX_DECODE_ALLOCATION: usize = 8 * 1024 * 1024;

/// Sets apache-avro's process-wide limit (it can be set once; the first call wins, so a larger
/// limit set elsewhere first is refused).
fn limit_decode_allocations() -> Result<(), CodecError> {
    match apache_avro::util::max_allocation_bytes(MAX_DECODE_ALLOCATION) {
        set if set <= MAX_DECODE_ALLOCATION => Ok(()),
        set => Err(CodecError::AllocationLimit(set)),
    }
}

/// apache-avro's fingerprint of `schema`, which is not the standard one for schemas with logical
/// types (see [`crate::canonical`]); records written before the codec used the standard one
/// carry it, so it still finds their writer schema.
fn legacy_fingerprint(schema: &Schema) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&schema.fingerprint::<Rabin>().bytes);
    out
}

fn standard_fingerprint(name: &'static str, text: &str) -> Result<[u8; 8], CodecError> {
    crate::canonical::fingerprint(text).map_err(|reason| CodecError::Decode { name, reason })
}

impl Codec {
    /// A codec using single-object encoding (no registry).
    pub fn without_registry() -> Result<Codec, CodecError> {
        Codec::new(None)
    }

    pub fn new(registry: Option<&RegistrySettings>) -> Result<Codec, CodecError> {
        limit_decode_allocations()?;
        let mut schemas = HashMap::new();
        for contract in CONTRACT_SCHEMAS {
            schemas.insert(contract.name, Self::parse_contract(contract)?);
        }
        let registry = registry
            .map(|settings| {
                let mut builder = SrSettings::new_builder(settings.url.clone());
                if let Some((user, password)) = &settings.basic_auth {
                    builder.set_basic_authorization(user, Some(password));
                }
                if let Some(token) = &settings.bearer_token {
                    builder.set_token_authorization(token);
                }
                builder
                    .build()
                    .map(|sr| Registry {
                        encoder: AvroEncoder::new(sr.clone()),
                        decoder: AvroDecoder::new(sr),
                    })
                    .map_err(|e| CodecError::Registry(e.to_string()))
            })
            .transpose()?;
        Ok(Codec { schemas, registry })
    }

    fn parse_contract(contract: &ContractSchema) -> Result<ParsedSchema, CodecError> {
        let current = parse(contract.name, contract.current)?;
        let mut writers = HashMap::new();
        for (_, text) in contract.released {
            let released = parse(contract.name, text)?;
            writers.insert(legacy_fingerprint(&released), released.clone());
            writers.insert(standard_fingerprint(contract.name, text)?, released);
        }
        let current_fingerprint = standard_fingerprint(contract.name, contract.current)?;
        let current_legacy = legacy_fingerprint(&current);
        writers.insert(current_legacy, current.clone());
        writers.insert(current_fingerprint, current.clone());
        Ok(ParsedSchema {
            inlined: inline_named_references(&current, &mut HashMap::new()),
            current,
            fingerprint: current_fingerprint,
            legacy_fingerprint: current_legacy,
            writers,
        })
    }

    fn schema_of<T: AvroRecord>(&self) -> &ParsedSchema {
        // Every AvroRecord's schema is in CONTRACT_SCHEMAS and was parsed in `new`.
        #[allow(clippy::expect_used)]
        self.schemas
            .get(T::SCHEMA.name)
            .expect("every contract schema is parsed at construction")
    }

    /// Whether records go through a Schema Registry.
    pub fn uses_registry(&self) -> bool {
        self.registry.is_some()
    }

    /// Encodes `record` as the value of `topic`.
    pub async fn encode<T: AvroRecord>(
        &self,
        topic: &str,
        record: &T,
    ) -> Result<Vec<u8>, CodecError> {
        let parsed = self.schema_of::<T>();
        let encode_err = |e: apache_avro::Error| CodecError::Encode {
            name: T::SCHEMA.name,
            source: Box::new(e),
        };
        if self.registry.is_none() {
            // The record straight to bytes with the schema-aware serializer; the `Value` path
            // below builds, validates and resolves a whole value tree first, and is kept for
            // the registry and for the error message when a record does not fit its schema.
            let mut out = Vec::with_capacity(512);
            out.extend_from_slice(&SINGLE_OBJECT_MAGIC);
            out.extend_from_slice(&parsed.fingerprint);
            if apache_avro::write_avro_datum_ref(&parsed.inlined, record, &mut out).is_ok() {
                return Ok(out);
            }
        }
        let value = apache_avro::to_value(record)
            .and_then(|v| v.resolve(&parsed.current))
            .map_err(encode_err)?;
        match &self.registry {
            None => {
                let datum =
                    apache_avro::to_avro_datum(&parsed.current, value).map_err(encode_err)?;
                let mut out = Vec::with_capacity(SINGLE_OBJECT_HEADER_LEN + datum.len());
                out.extend_from_slice(&SINGLE_OBJECT_MAGIC);
                out.extend_from_slice(&parsed.fingerprint);
                out.extend_from_slice(&datum);
                Ok(out)
            }
            Some(registry) => {
                let strategy = SubjectNameStrategy::TopicNameStrategyWithSchema(
                    topic.to_string(),
                    false,
                    get_supplied_schema(&parsed.current),
                );
                registry
                    .encoder
                    .encode_value(value, &strategy)
                    .await
                    .map_err(|e| {
                        if is_registry_outage(&e) {
                            registry.encoder.remove_errors_from_cache();
                            CodecError::Registry(e.to_string())
                        } else {
                            CodecError::RegistryRefused(e.to_string())
                        }
                    })
            }
        }
    }

    /// Decodes a record written in either encoding, by any writer schema this build knows (single
    /// object) or the registry knows (Confluent), into the current Rust type.
    pub async fn decode<T: AvroRecord>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        let parsed = self.schema_of::<T>();
        let name = T::SCHEMA.name;
        let decode_err = |reason: String| CodecError::Decode { name, reason };
        let value = if bytes.starts_with(&SINGLE_OBJECT_MAGIC) {
            if bytes.len() < SINGLE_OBJECT_HEADER_LEN {
                return Err(decode_err("truncated single-object header".into()));
            }
            let mut fp = [0u8; 8];
            fp.copy_from_slice(&bytes[2..SINGLE_OBJECT_HEADER_LEN]);
            let writer = parsed.writers.get(&fp).ok_or_else(|| {
                decode_err(format!(
                    "unknown writer schema fingerprint {}",
                    hex::encode(fp)
                ))
            })?;
            let mut datum = &bytes[SINGLE_OBJECT_HEADER_LEN..];
            // Written with our own current schema: nothing to resolve.
            let current = fp == parsed.fingerprint || fp == parsed.legacy_fingerprint;
            let reader = (!current).then_some(&parsed.current);
            let value = apache_avro::from_avro_datum(writer, &mut datum, reader)
                .map_err(|e| decode_err(e.to_string()))?;
            if !datum.is_empty() {
                return Err(decode_err(format!("{} trailing bytes", datum.len())));
            }
            value
        } else if bytes.first() == Some(&CONFLUENT_MAGIC) {
            let registry = self.registry.as_ref().ok_or_else(|| {
                decode_err("Confluent wire format, but no schema registry is configured".into())
            })?;
            let decoded = registry.decoder.decode(Some(bytes)).await.map_err(|e| {
                if is_registry_outage(&e) {
                    registry.decoder.remove_errors_from_cache();
                    CodecError::Registry(e.to_string())
                } else {
                    decode_err(e.to_string())
                }
            })?;
            decoded
                .value
                .resolve(&parsed.current)
                .map_err(|e| decode_err(e.to_string()))?
        } else {
            return Err(decode_err(match bytes.first() {
                None => "empty value".into(),
                Some(b) => format!("unknown magic byte 0x{b:02x}"),
            }));
        };
        from_value(name, &value)
    }
}

fn from_value<T: AvroRecord>(name: &'static str, value: &Value) -> Result<T, CodecError> {
    apache_avro::from_value(value).map_err(|e| CodecError::Decode {
        name,
        reason: e.to_string(),
    })
}

/// `schema` with each `Ref` to a named type replaced by the type's definition (named types are
/// defined before use in a parsed schema, so one walk in order finds every definition first).
fn inline_named_references(
    schema: &Schema,
    named: &mut HashMap<apache_avro::schema::Name, Schema>,
) -> Schema {
    use apache_avro::schema::{ArraySchema, MapSchema, RecordField, RecordSchema, UnionSchema};
    match schema {
        Schema::Ref { name } => named.get(name).cloned().unwrap_or_else(|| schema.clone()),
        Schema::Record(record) => {
            let fields = record
                .fields
                .iter()
                .map(|field| RecordField {
                    schema: inline_named_references(&field.schema, named),
                    ..field.clone()
                })
                .collect();
            let inlined = Schema::Record(RecordSchema {
                fields,
                ..record.clone()
            });
            named.insert(record.name.clone(), inlined.clone());
            inlined
        }
        Schema::Array(array) => Schema::Array(ArraySchema {
            items: Box::new(inline_named_references(&array.items, named)),
            attributes: array.attributes.clone(),
        }),
        Schema::Map(map) => Schema::Map(MapSchema {
            types: Box::new(inline_named_references(&map.types, named)),
            attributes: map.attributes.clone(),
        }),
        Schema::Union(union) => {
            let variants: Vec<Schema> = union
                .variants()
                .iter()
                .map(|v| inline_named_references(v, named))
                .collect();
            // The variants were a valid union before inlining and keep their kinds.
            UnionSchema::new(variants)
                .map(Schema::Union)
                .unwrap_or_else(|_| schema.clone())
        }
        Schema::Enum(e) => {
            named.insert(e.name.clone(), schema.clone());
            schema.clone()
        }
        Schema::Fixed(f) => {
            named.insert(f.name.clone(), schema.clone());
            schema.clone()
        }
        other => other.clone(),
    }
}
