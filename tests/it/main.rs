//! The integration tests of the `gluey` binary, in one test binary: the services run as
//! separate `gluey` processes against a real Kafka broker (see `support`), so one build links
//! everything once and the shared harness needs no `dead_code` allowances.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken assumptions

mod support;

mod carriers_cli;
mod cli;
mod deadletters;
mod dev;
mod docs;
mod faults;
mod ingest;
mod kafka;
mod normalizer;
mod normalizer_audit;
mod pipeline;
mod registry_outage;
mod subscriptions;
mod takeover;
mod webhooks;
