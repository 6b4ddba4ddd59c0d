//! Command line: every setting is a flag with an environment variable (`env =`), parsed into its
//! type at start-up, so a bad value is an error that names the flag.

mod carriers;
mod commands;
mod deadletter;
mod shipments;
mod subscriptions;
mod webhooks;
pub mod commands_support {
    //! Parsers shared with `dev`.
    pub use super::commands::parse_duration;
}
mod config_file;
mod settings;

use clap::{Parser, Subcommand};

pub use commands::run;
pub use config_file::ConfigFile;
pub use settings::{CommonArgs, KafkaArgs, RegistryArgs};

#[derive(Debug, Parser)]
#[command(
    name = "gluey",
    version,
    about = "Carrier tracking pipeline: carriers in, one canonical event stream, customers out"
)]
pub struct Cli {
    /// Log as JSON lines (one object per event) instead of text.
    #[arg(long, env = "GLUEY_LOG_JSON", global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Carrier intake routes.
    #[command(subcommand)]
    Ingest(IngestCommand),
    /// Raw records → canonical tracking events.
    Normalize(commands::NormalizeArgs),
    /// Delivery channels.
    #[command(subcommand)]
    Dispatch(DispatchCommand),
    /// The whole pipeline in one process on an embedded broker, with a simulated carrier and a
    /// sample customer.
    Dev(commands::DevArgs),
    /// A Kafka-protocol broker (librdkafka's mock cluster) for tests and local work; prints its
    /// bootstrap address and reads control commands on stdin.
    DevBroker(commands::DevBrokerArgs),
    /// Topic administration.
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The shipment registry (tracking.shipments.v1).
    #[command(subcommand)]
    Shipments(shipments::ShipmentsCommand),
    /// The dead-letter topic (tracking.deadletter.v1): list, and replay once the cause is fixed.
    #[command(subcommand)]
    Deadletter(deadletter::DeadletterCommand),
    /// The webhook channel: disabled endpoints, enabling them, dead-lettered deliveries and
    /// their replay.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// Carrier formats: list them, or parse a payload as the normalizer would.
    #[command(subcommand)]
    Carriers(carriers::CarriersCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The normalizer draining a realistic raw topic, against a plain passthrough.
    Normalize(crate::bench::BenchArgs),
    /// Loads the workload (a child process of `bench normalize`).
    #[command(hide = true)]
    Load(crate::bench::LoadArgs),
    /// Takeover time and records read for the same live shipments with 1x and 10x the history
    /// (a real broker: the state topic is compacted for real).
    Takeover(crate::bench::takeover::TakeoverArgs),
    /// The passthrough ceiling (a child process of `bench normalize`).
    #[command(hide = true)]
    Passthrough(crate::bench::PassthroughArgs),
}

#[derive(Debug, Subcommand)]
pub enum IngestCommand {
    /// HTTP endpoint for carrier pushes.
    Webhook(commands::IngestWebhookArgs),
    /// Keeps UPS Track Alert and DHL push subscriptions alive for registered shipments.
    Subscriptions(subscriptions::IngestSubscriptionsArgs),
}

#[derive(Debug, Subcommand)]
pub enum DispatchCommand {
    /// Signed webhooks to customer endpoints.
    Webhook(commands::DispatchWebhookArgs),
}

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Create every declared topic (idempotent).
    Create(commands::TopicsCreateArgs),
    /// Print the topic declaration.
    List(commands::TopicsListArgs),
}
