//! The CSV feed table, `mappings/csv_feed.json`: rows typed by carrier slug (DPD, Evri, Yodel), codes
//! kept with their leading zeros, Yodel by ordered description rules only.

use std::sync::LazyLock;

use crate::mapping::{MappingError, MappingTable};

static TABLE: LazyLock<Result<MappingTable, MappingError>> = LazyLock::new(|| {
    MappingTable::from_json(
        "csv_feed.json",
        include_str!("../../mappings/csv_feed.json"),
    )
});

pub(crate) fn table() -> Result<&'static MappingTable, MappingError> {
    TABLE.as_ref().map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{Outcome, RawCode};
    use gluey_contract::Status;

    fn status(carrier: &str, code: &str, description: Option<&str>) -> Option<Status> {
        match table().ok()?.lookup(RawCode {
            code,
            kind: Some(carrier),
            description,
            ..RawCode::default()
        }) {
            Some((_, Outcome::Event(c))) => Some(c.status),
            _ => None,
        }
    }

    #[test]
    fn rows_are_per_carrier_and_zeros_are_kept() {
        assert_eq!(table().unwrap().len(), 27);
        assert_eq!(status("dpd", "015", None), Some(Status::OutForDelivery));
        assert_eq!(status("dpd", "15", None), None, "015 is a string, not 15");
        assert_eq!(status("dpd", "pickedup", None), Some(Status::InTransit));
        assert_eq!(status("evri", "015", None), None, "DPD's codes are DPD's");
        assert_eq!(
            status("evri", "4_courier", None),
            Some(Status::OutForDelivery)
        );
        assert_eq!(
            status("yodel", "", Some("Sorry, your parcel was not delivered")),
            Some(Status::FailedAttempt)
        );
        assert_eq!(
            status("yodel", "X1", Some("Your parcel has been delivered")),
            Some(Status::Delivered)
        );
        assert_eq!(status("yodel", "X1", Some("Something new")), None);
        assert_eq!(
            status("dpd", "", Some("Your parcel has been delivered")),
            None
        );
    }
}
