//! Ingest: turns what carriers send into raw records on `tracking.raw.v1` and nothing more. It
//! authenticates, bounds, frames and produces; interpreting content is the normalizer's job.

pub mod config;
pub mod fedex_signature;
pub mod metrics;
pub mod webhook;

pub use config::{CarrierPushSection, WebhookIngestConfig};
pub use webhook::{run_webhook_ingest, WebhookIngest};
