//! What every service does the same way: shutdown on SIGTERM, the operations endpoints
//! (`/metrics`, `/healthz`, `/readyz`), structured logs, the customer/carrier config file with
//! `${VAR}` substitution, durations written as `5m`, secrets that never print, and the
//! Standard Webhooks keys both ends of a signed webhook use.

pub mod backoff;
pub mod config_file;
pub mod duration;
pub mod health;
pub mod http;
pub mod logging;
pub mod reload;
pub mod secret;
pub mod shutdown;
pub mod standard_webhooks;
pub mod trace;

pub use backoff::Backoff;
pub use config_file::{load_config_file, ConfigFileError};
pub use duration::parse_duration;
pub use health::Health;
pub use http::{serve, OpsServer};
pub use logging::init_logging;
pub use reload::{Reloadable, Reloader};
pub use secret::Secret;
pub use shutdown::shutdown_on_signals;
