//! Carrier formats: one module per format, each a pure function from a raw record to canonical
//! records or a typed error (no I/O), plus a pure key/split function ingest uses to key raw
//! records by shipment. Adding a carrier means adding one module, its mapping file and fixtures.

pub mod fedex;
pub mod format;
pub mod identity;

pub use format::{
    CarrierFormat, ParseError, ParsedRecord, ParsedUpdate, RawInput, ShipmentSplit, FORMATS,
};

/// The format with this name (e.g. `fedex.aiv`), if we have it.
pub fn format(name: &str) -> Option<&'static dyn CarrierFormat> {
    FORMATS.iter().copied().find(|f| f.name() == name)
}
