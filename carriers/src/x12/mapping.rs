//! The AT7 status code → canonical table, `mappings/x12_214.json`: the standard's codes, shared by
//! every carrier that sends 214s; reason rows (AT7-02) before catch-alls, appointment rows typed
//! `appointment`.

use std::sync::LazyLock;

use crate::mapping::{MappingError, MappingTable};

static TABLE: LazyLock<Result<MappingTable, MappingError>> = LazyLock::new(|| {
    MappingTable::from_json("x12_214.json", include_str!("../../mappings/x12_214.json"))
});

pub(crate) fn table() -> Result<&'static MappingTable, MappingError> {
    TABLE.as_ref().map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{Outcome, RawCode};
    use gluey_contract::Status;

    fn status(code: &str, reason: Option<&str>, kind: Option<&str>) -> Option<Status> {
        match table().ok()?.lookup(RawCode {
            code,
            reason,
            kind,
            ..RawCode::default()
        }) {
            Some((_, Outcome::Event(c))) => Some(c.status),
            _ => None,
        }
    }

    #[test]
    fn reasons_and_appointments_select_their_rows() {
        assert_eq!(table().unwrap().len(), 62);
        assert_eq!(status("D1", Some("NS"), None), Some(Status::Delivered));
        assert_eq!(
            status("d1", Some("BT"), None),
            Some(Status::ReturnedToSender)
        );
        assert_eq!(status("AH", Some("B1"), None), Some(Status::FailedAttempt));
        assert_eq!(status("X6", None, None), Some(Status::InTransit));
        assert_eq!(status("ZZ", None, None), None);
        for (code, kind) in [
            ("AG", None),
            ("AA", None),
            ("AA", Some("appointment")),
            ("AB", Some("appointment")),
        ] {
            assert!(
                matches!(
                    table().unwrap().lookup(RawCode {
                        code,
                        kind,
                        ..RawCode::default()
                    }),
                    Some((_, Outcome::NoStatusChange))
                ),
                "{code} {kind:?}"
            );
        }
    }
}
