//! The UPS statusCode → canonical table, `mappings/ups.json`, shared by `ups.track` and
//! `ups.alert`: codes stripped of leading zeros (`"021"` is `21`), the two-letter activity code
//! as a reason, the activity type only where UPS reuses a code, description rules last.

use std::sync::LazyLock;

use crate::mapping::{MappingError, MappingTable};

static TABLE: LazyLock<Result<MappingTable, MappingError>> =
    LazyLock::new(|| MappingTable::from_json("ups.json", include_str!("../../mappings/ups.json")));

pub(crate) fn table() -> Result<&'static MappingTable, MappingError> {
    TABLE.as_ref().map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{Outcome, RawCode};
    use gluey_contract::Status;

    fn status(raw: RawCode<'_>) -> Option<Status> {
        match table().unwrap().lookup(raw) {
            Some((_, Outcome::Event(c))) => Some(c.status),
            _ => None,
        }
    }

    #[test]
    fn padding_reasons_types_and_descriptions_decide_as_documented() {
        let code = |code| RawCode {
            code,
            ..RawCode::default()
        };
        assert_eq!(table().unwrap().len(), 172);
        assert_eq!(status(code("021")), Some(Status::OutForDelivery));
        assert_eq!(status(code("21")), Some(Status::OutForDelivery));
        assert_eq!(status(code("011")), Some(Status::Delivered));
        assert_eq!(status(code("001")), None, "1 is not in the table");
        let access_point = RawCode {
            code: "011",
            description: Some("Delivered to UPS Access Point™. Awaiting customer pickup"),
            ..RawCode::default()
        };
        assert_eq!(status(access_point), Some(Status::AvailableForPickup));
        let not_home = RawCode {
            code: "013",
            kind: Some("X"),
            description: Some("The receiver was not available for delivery."),
            ..RawCode::default()
        };
        assert_eq!(status(not_home), Some(Status::FailedAttempt));
        assert_eq!(status(code("013")), Some(Status::Exception));
        let dp = |kind| RawCode {
            code: "DP",
            kind,
            ..RawCode::default()
        };
        assert_eq!(status(dp(Some("M"))), Some(Status::InfoReceived));
        assert_eq!(status(dp(Some("I"))), Some(Status::InTransit));
        assert_eq!(status(dp(None)), None, "DP alone is ambiguous");
        for no_change in ["000", "153", "154", "UP"] {
            assert!(matches!(
                table().unwrap().lookup(code(no_change)),
                Some((_, Outcome::NoStatusChange))
            ));
        }
    }
}
