//! The DHL `statusCode` → canonical table, `mappings/dhl.json`. DHL Unified has only five coarse
//! codes, so `transit` and `failure` are refined by ordered description rules (CARRIERS.md 1.1),
//! each before the catch-all row of its code. Codes are upper-cased before lookup: the API sends
//! `pre-transit`, push filters spell it `Pre-Transit`.

use std::sync::LazyLock;

use crate::mapping::{MappingError, MappingTable};

static TABLE: LazyLock<Result<MappingTable, MappingError>> =
    LazyLock::new(|| MappingTable::from_json("dhl.json", include_str!("../../mappings/dhl.json")));

pub(crate) fn table() -> Result<&'static MappingTable, MappingError> {
    TABLE.as_ref().map_err(Clone::clone)
}
