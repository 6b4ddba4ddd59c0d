//! The contract between the pipeline's services and the data teams that read its topics: the Avro
//! schemas in `schemas/`, the Rust types that round-trip through them, the encoding on the wire
//! and the declaration of every topic.
//!
//! The `.avsc` files are the single source of truth; the types here follow them field for field,
//! and a round-trip test holds them together.

pub mod canonical;
pub mod codec;
pub mod schema;
pub mod time;
pub mod topics;
pub mod types;

pub use codec::{Codec, CodecError, RegistrySettings};
pub use schema::{AvroRecord, ContractSchema, CONTRACT_SCHEMAS};
pub use topics::{CleanupPolicy, TopicNames, TopicSpec, TOPICS};
pub use types::*;
