//! `gluey webhooks …`: the operator's view of the webhook channel. Which endpoints are disabled
//! (a 410, or days of failures), enabling one again, and listing and replaying the deliveries
//! dead-lettered for an endpoint. Never prints a payload: it may hold personal data.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use gluey_contract::Codec;
use gluey_dispatcher::endpoint_state::EndpointState;
use gluey_dispatcher::operator;
use gluey_kafka::RecordProducer;

use super::deadletter::parse_rfc3339;
use super::{KafkaArgs, RegistryArgs};

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Print the recorded state of every endpoint ever disabled or enabled, one JSON line each.
    Endpoints(EndpointsArgs),
    /// Enable a disabled endpoint again (running dispatchers pick it up within seconds).
    Enable(EnableArgs),
    /// Print dead-lettered deliveries, one JSON line each.
    Deadletters(DeadlettersArgs),
    /// Put an endpoint's dead-lettered deliveries back on the retry path, due now, with a fresh
    /// ladder and the same webhook-id.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
pub struct EndpointsArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

#[derive(Debug, Args)]
pub struct EnableArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// The endpoint's id (from the config file).
    #[arg(long)]
    pub endpoint: String,
}

#[derive(Debug, Args)]
pub struct DeadlettersArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Only this endpoint's.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Only those dead-lettered at or after this instant (RFC 3339).
    #[arg(long, value_parser = parse_rfc3339)]
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[arg(long)]
    pub endpoint: String,
    /// Only those dead-lettered at or after this instant (RFC 3339).
    #[arg(long, value_parser = parse_rfc3339)]
    pub since: Option<DateTime<Utc>>,
    /// Print what would be replayed; produce nothing.
    #[arg(long)]
    pub dry_run: bool,
}

fn producer(kafka: &KafkaArgs) -> anyhow::Result<RecordProducer> {
    RecordProducer::new(&kafka.settings(), Duration::from_secs(30)).context("kafka producer")
}

pub async fn run(command: WebhooksCommand) -> anyhow::Result<()> {
    match command {
        WebhooksCommand::Endpoints(args) => {
            let states =
                operator::endpoint_states(&args.kafka.settings(), &args.kafka.topics()).await?;
            let mut ids: Vec<&String> = states.keys().collect();
            ids.sort();
            for id in ids {
                let line = match &states[id] {
                    EndpointState::Disabled { reason, at } => serde_json::json!({
                        "endpoint": id, "state": "disabled", "reason": reason, "at": at,
                    }),
                    EndpointState::Enabled { by, at } => serde_json::json!({
                        "endpoint": id, "state": "enabled", "by": by, "at": at,
                    }),
                };
                println!("{line}");
            }
            Ok(())
        }
        WebhooksCommand::Enable(args) => {
            let by = std::env::var("USER").unwrap_or_else(|_| "operator".into());
            operator::enable(
                &producer(&args.kafka)?,
                &args.kafka.topics(),
                &args.endpoint,
                &by,
            )
            .await?;
            println!("endpoint {} enabled", args.endpoint);
            Ok(())
        }
        WebhooksCommand::Deadletters(args) => {
            let codec = Codec::new(args.registry.settings().as_ref()).context("schemas")?;
            let dead = operator::dead_deliveries(
                &args.kafka.settings(),
                &codec,
                &args.kafka.topics(),
                args.endpoint.as_deref(),
                args.since,
            )
            .await?;
            for d in &dead {
                let line = serde_json::json!({
                    "partition": d.partition,
                    "offset": d.offset,
                    "endpoint": d.endpoint,
                    "webhook_id": d.webhook_id,
                    "reason": d.reason,
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                    "at": d.at,
                });
                println!("{line}");
            }
            Ok(())
        }
        WebhooksCommand::Replay(args) => {
            let codec = Codec::new(args.registry.settings().as_ref()).context("schemas")?;
            let topics = args.kafka.topics();
            let dead = operator::dead_deliveries(
                &args.kafka.settings(),
                &codec,
                &topics,
                Some(&args.endpoint),
                args.since,
            )
            .await?;
            if args.dry_run {
                println!(
                    "dry run: {} dead-lettered deliveries of {} would be replayed; nothing was produced",
                    dead.len(),
                    args.endpoint
                );
                return Ok(());
            }
            let replayed =
                operator::replay(&producer(&args.kafka)?, &codec, &topics, &dead).await?;
            println!(
                "replayed {replayed} dead-lettered deliveries of {}",
                args.endpoint
            );
            Ok(())
        }
    }
}
