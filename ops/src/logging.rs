//! Structured logs: fields first, message last; JSON when asked for. Filter with `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// Installs the process-wide subscriber (the one global a process has; call once from `main`).
pub fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn,warp=warn,hyper=warn"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
