//! The FedEx `eventType` → canonical table, `mappings/fedex.json`: case-sensitive codes (FedEx
//! has `Ow`), `DE` split by `exceptionCode` (reason rows before the catch-all).

use std::sync::LazyLock;

use crate::mapping::{MappingError, MappingTable};

static TABLE: LazyLock<Result<MappingTable, MappingError>> = LazyLock::new(|| {
    MappingTable::from_json("fedex.json", include_str!("../../mappings/fedex.json"))
});

pub(crate) fn table() -> Result<&'static MappingTable, MappingError> {
    TABLE.as_ref().map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{Outcome, RawCode};
    use gluey_contract::Status;

    #[test]
    fn lookup_is_case_sensitive_and_reason_rows_win() {
        let table = table().unwrap();
        assert_eq!(
            table.len(),
            54,
            "one row per code in CARRIERS.md's FedEx table"
        );
        let status = |code: &str, reason: Option<&str>| match table.lookup(RawCode {
            code,
            reason,
            ..RawCode::default()
        }) {
            Some((_, Outcome::Event(c))) => Some(c.status),
            _ => None,
        };
        assert_eq!(status("Ow", None), Some(Status::InTransit));
        assert_eq!(status("OW", None), None);
        assert_eq!(status("DE", Some("08")), Some(Status::FailedAttempt));
        assert_eq!(status("DE", Some("15")), Some(Status::FailedAttempt));
        assert_eq!(status("DE", Some("03")), Some(Status::Exception));
        assert_eq!(status("DE", None), Some(Status::Exception));
        assert!(matches!(
            table.lookup(RawCode {
                code: "RR",
                ..RawCode::default()
            }),
            Some((_, Outcome::NoStatusChange))
        ));
    }
}
