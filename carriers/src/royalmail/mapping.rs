//! The Royal Mail `eventCode` → canonical table, `mappings/royalmail.json`: one row per EVxxx code
//! of CARRIERS.md 1.2, missort-type codes flagged `missort`, and the customer-side redelivery
//! requests (`R*RXS`, `ASRXS`) as no-status-change rows. Codes are upper-cased before lookup.

use std::sync::LazyLock;

use crate::mapping::{MappingError, MappingTable};

static TABLE: LazyLock<Result<MappingTable, MappingError>> = LazyLock::new(|| {
    MappingTable::from_json(
        "royalmail.json",
        include_str!("../../mappings/royalmail.json"),
    )
});

pub(crate) fn table() -> Result<&'static MappingTable, MappingError> {
    TABLE.as_ref().map_err(Clone::clone)
}
