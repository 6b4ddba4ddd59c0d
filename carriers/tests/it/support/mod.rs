//! Helpers shared by the carrier tests.

pub mod byte_mutation;
pub mod json_mutation;
pub mod properties;
pub mod records;
