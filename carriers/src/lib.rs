//! Carrier formats: one module per format, each a pure function from a raw record to canonical
//! records or a typed error (no I/O), plus a pure key/split function ingest uses to key raw
//! records by shipment. Adding a carrier means adding one module, its mapping file and fixtures.

pub mod csv_feed;
pub mod dhl;
pub mod direct;
pub mod event;
pub mod fedex;
pub mod format;
pub mod identity;
pub mod mapping;
pub mod render;
pub mod royalmail;
pub mod time;
pub mod ups;
pub mod usps;
pub mod x12;

pub use format::{
    CarrierFormat, ParseError, Parsed, ParsedRecord, ParsedUpdate, RawInput, ShipmentSplit,
    SkipReason, Skipped, FORMATS,
};

/// Validates every embedded mapping table; services call it at start-up so a broken table is a
/// start-up error, not a stream of dead letters.
pub fn validate_mappings() -> Result<(), mapping::MappingError> {
    FORMATS.iter().try_for_each(|f| f.mapping().map(|_| ()))
}

/// The format with this name (e.g. `fedex.aiv`), if we have it.
pub fn format(name: &str) -> Option<&'static dyn CarrierFormat> {
    FORMATS.iter().copied().find(|f| f.name() == name)
}
