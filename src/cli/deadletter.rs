//! `gluey deadletter list|replay`: what was dead-lettered, and putting it back once the cause is
//! fixed (a mapping corrected, a shipment registered). `list` never prints a payload: it may hold
//! personal data.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use gluey_contract::Codec;
use gluey_kafka::deadletters::{self, DeadLetterFilter, DeadLetterListing};
use gluey_kafka::RecordProducer;

use super::{KafkaArgs, RegistryArgs};

/// How long reading the whole dead-letter topic may take before it gives up.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a replayed record may wait for Kafka's ack.
const REPLAY_DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Subcommand)]
pub enum DeadletterCommand {
    /// Print the dead letters, one JSON line each (never the payload).
    List(ListArgs),
    /// Re-produce the selected dead letters' original records to their source topic.
    Replay(ReplayArgs),
}

/// Which dead letters; every filter given must match.
#[derive(Debug, Args)]
pub struct SelectionArgs {
    /// Stage that failed: decode, parse, join, dispatch.
    #[arg(long)]
    pub stage: Option<String>,
    /// Carrier slug, e.g. fedex.
    #[arg(long)]
    pub carrier: Option<String>,
    /// Text the reason contains.
    #[arg(long)]
    pub reason_contains: Option<String>,
    /// Only letters that failed at or after this instant (RFC 3339, e.g. 2024-05-01T00:00:00Z).
    #[arg(long, value_parser = parse_rfc3339)]
    pub since: Option<DateTime<Utc>>,
}

impl SelectionArgs {
    fn filter(&self) -> DeadLetterFilter {
        DeadLetterFilter {
            stage: self.stage.clone(),
            carrier: self.carrier.clone(),
            reason_contains: self.reason_contains.clone(),
            since: self.since,
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Print what would be replayed; produce nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub(super) fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 instant like 2024-05-01T00:00:00Z: {e}"))
}

pub async fn run(command: DeadletterCommand) -> anyhow::Result<()> {
    match command {
        DeadletterCommand::List(args) => {
            let listing = read(&args.kafka, &args.registry, &args.selection).await?;
            for entry in &listing.selected {
                let l = &entry.letter;
                let line = serde_json::json!({
                    "topic": listing.topic,
                    "partition": entry.partition,
                    "offset": entry.offset,
                    "stage": l.stage,
                    "reason": l.reason,
                    "carrier": l.carrier,
                    "format": l.format,
                    "source_topic": l.source_topic,
                    "source_partition": l.source_partition,
                    "source_offset": l.source_offset,
                    "failed_at": l.failed_at.to_rfc3339(),
                    "envelope_id": l.envelope_id,
                    "payload_bytes": l.payload.len(),
                });
                println!("{line}");
            }
            Ok(())
        }
        DeadletterCommand::Replay(args) => {
            let listing = read(&args.kafka, &args.registry, &args.selection).await?;
            let topics = args.kafka.topics();
            if listing.selected.is_empty() {
                println!(
                    "nothing to replay: no dead letter matches the filters ({} on {})",
                    listing.total, listing.topic
                );
                return Ok(());
            }
            deadletters::check_replayable(&topics, &listing.topic, &listing.selected)?;
            if args.dry_run {
                for entry in &listing.selected {
                    println!(
                        "would replay {} to {}",
                        entry.position(&listing.topic),
                        entry.letter.source_topic
                    );
                }
                println!(
                    "dry run: {} dead letters would be replayed; nothing was produced",
                    listing.selected.len()
                );
                return Ok(());
            }
            let producer = RecordProducer::new(&args.kafka.settings(), REPLAY_DELIVERY_TIMEOUT)
                .context("kafka producer")?;
            let replayed = deadletters::replay(&producer, &topics, &listing.selected).await?;
            for r in &replayed {
                println!(
                    "replayed {} to {}/{}/{}",
                    r.from, r.topic, r.partition, r.offset
                );
            }
            println!("replayed {} dead letters", replayed.len());
            Ok(())
        }
    }
}

/// Reads and filters the dead-letter topic; records that do not decode are named on stderr.
async fn read(
    kafka: &KafkaArgs,
    registry: &RegistryArgs,
    selection: &SelectionArgs,
) -> anyhow::Result<DeadLetterListing> {
    let codec = Codec::new(registry.settings().as_ref()).context("schemas")?;
    let listing = deadletters::list(
        &kafka.settings(),
        &codec,
        &kafka.topics(),
        &selection.filter(),
        READ_TIMEOUT,
    )
    .await?;
    for u in &listing.unreadable {
        eprintln!(
            "warning: {}/{}/{} is not a readable dead letter: {}",
            listing.topic, u.partition, u.offset, u.reason
        );
    }
    Ok(listing)
}
