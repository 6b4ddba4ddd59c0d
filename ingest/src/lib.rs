//! Ingest: turns what carriers send into raw records on `tracking.raw.v1` and nothing more. It
//! authenticates, bounds, frames and produces; interpreting content is the normalizer's job. For
//! the carriers that push only on subscription (UPS Track Alert, DHL Unified Push) it also keeps
//! those subscriptions alive (`subscriptions`).

pub mod auth;
pub mod config;
pub mod metrics;
pub mod subscriptions;
pub mod webhook;

pub use config::{CarrierPushSection, PushLimits, WebhookIngestConfig};
pub use subscriptions::{run_subscriptions, SubscriptionsConfig};
pub use webhook::{run_webhook_ingest, WebhookIngest};
