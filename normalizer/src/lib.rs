//! The normalizer: consume raw records, parse them with the carrier's module, apply per-shipment
//! state (dedupe by `event_id`, `sequence`, sticky terminal status), attach the customer, and
//! produce canonical records; what it cannot process goes to the dead-letter topic with a reason,
//! on the first attempt. An input offset is stored only after its outputs are acknowledged.

pub mod acks;
pub mod config;
pub mod metrics;
pub mod parking;
pub mod pipeline;
pub mod registrations;
pub mod restore;
pub mod shipment_book;
pub mod snapshots;
pub mod transform;
pub mod upkeep;
pub mod work;

pub use config::NormalizerConfig;
pub use pipeline::run_normalizer;
