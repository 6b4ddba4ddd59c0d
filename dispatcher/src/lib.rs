//! Dispatchers deliver `tracking.events.v1` to customers, each channel in its own consumer group.
//! This crate holds the webhook channel: Standard Webhooks signed POSTs to the endpoints in the
//! config file, with the input offset stored only once every endpoint has the record.

pub mod config;
pub mod delivery;
pub mod endpoint;
pub mod endpoint_state;
pub mod metrics;
pub mod offsets;
pub mod payload;
pub mod retry;
pub mod signing;
pub mod ssrf;
pub mod webhook;

pub use config::{CustomerSection, DispatcherConfig, EndpointConfig};
pub use signing::{SigningSecret, WebhookSigner};
pub use webhook::run_webhook_dispatcher;
