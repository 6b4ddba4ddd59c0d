//! The USPS `eventCode` → canonical table, `mappings/usps.json`: codes normalised (upper-cased,
//! leading zeros stripped, so `"01"` and `"1"` are one code), `08` Missent flagged as an incident.

use std::sync::LazyLock;

use crate::mapping::{MappingError, MappingTable};

static TABLE: LazyLock<Result<MappingTable, MappingError>> = LazyLock::new(|| {
    MappingTable::from_json("usps.json", include_str!("../../mappings/usps.json"))
});

pub(crate) fn table() -> Result<&'static MappingTable, MappingError> {
    TABLE.as_ref().map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{Outcome, RawCode};
    use gluey_contract::Status;

    fn classify(code: &str) -> Option<(Status, Vec<String>)> {
        match table().ok()?.lookup(RawCode {
            code,
            ..RawCode::default()
        }) {
            Some((_, Outcome::Event(c))) => Some((c.status, c.flags.clone())),
            _ => None,
        }
    }

    #[test]
    fn zero_padding_does_not_matter_and_missent_is_flagged() {
        let table = table().unwrap();
        assert_eq!(table.len(), 54, "one row per code in CARRIERS.md 1.9");
        assert_eq!(classify("01"), Some((Status::Delivered, vec![])));
        assert_eq!(classify("1"), classify("01"));
        assert_eq!(classify(" of "), Some((Status::OutForDelivery, vec![])));
        assert_eq!(
            classify("08"),
            Some((Status::InTransit, vec!["missent".to_string()]))
        );
        assert_eq!(classify("A1").map(|c| c.0), Some(Status::InTransit));
        assert_eq!(classify("99"), None);
        assert_eq!(table.normalise_code("01"), "1");
    }
}
