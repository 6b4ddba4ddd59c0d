//! Ingest: turns what carriers send into raw records on `tracking.raw.v1` and nothing more. It
//! authenticates, bounds, frames and produces; interpreting content is the normalizer's job.

pub mod auth;
pub mod config;
pub mod metrics;
pub mod webhook;

pub use config::{CarrierPushSection, PushLimits, WebhookIngestConfig};
pub use webhook::{run_webhook_ingest, WebhookIngest};
