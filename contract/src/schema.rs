//! The Avro schemas of the contract, embedded from `schemas/` at build time, with the frozen copies
//! of every released version (`schemas/released/<name>/v<N>.avsc`). A released version is never
//! edited; the compatibility test checks the current schema against each of them.

/// One schema of the contract: its current text and every released version.
#[derive(Debug)]
pub struct ContractSchema {
    /// File stem in `schemas/`, e.g. `canonical_record`.
    pub name: &'static str,
    /// The current `.avsc` text: what this build writes.
    pub current: &'static str,
    /// `(version, text)` of every released version, oldest first.
    pub released: &'static [(u32, &'static str)],
}

macro_rules! contract_schema {
    ($name:literal, [$($version:literal),*]) => {
        ContractSchema {
            name: $name,
            current: include_str!(concat!("../../schemas/", $name, ".avsc")),
            released: &[$(($version, include_str!(concat!("../../schemas/released/", $name, "/v", $version, ".avsc")))),*],
        }
    };
}

pub const RAW_ENVELOPE: ContractSchema = contract_schema!("raw_envelope", [1]);
pub const CANONICAL_RECORD: ContractSchema = contract_schema!("canonical_record", [1]);
pub const SHIPMENT: ContractSchema = contract_schema!("shipment", [1]);
pub const SHIPMENT_STATE: ContractSchema = contract_schema!("shipment_state", [1, 2]);
pub const DEAD_LETTER: ContractSchema = contract_schema!("dead_letter", [1]);
pub const PUSH_SUBSCRIPTION: ContractSchema = contract_schema!("push_subscription", [1]);

/// Every schema of the contract.
pub const CONTRACT_SCHEMAS: &[&ContractSchema] = &[
    &RAW_ENVELOPE,
    &CANONICAL_RECORD,
    &SHIPMENT,
    &SHIPMENT_STATE,
    &DEAD_LETTER,
    &PUSH_SUBSCRIPTION,
];

/// A Rust type that is the value of a contract schema.
pub trait AvroRecord: serde::Serialize + serde::de::DeserializeOwned {
    const SCHEMA: &'static ContractSchema;
}
