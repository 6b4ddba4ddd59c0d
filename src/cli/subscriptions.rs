//! `gluey ingest subscriptions`: keeps UPS Track Alert and DHL push subscriptions alive for the
//! registered shipments (see `gluey_ingest::subscriptions`).

use std::time::Duration;

use clap::Args;

use super::commands::{parse_duration, service};
use super::CommonArgs;

#[derive(Debug, Args)]
pub struct IngestSubscriptionsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Consumer group on tracking.events.v1 (terminal statuses stop subscriptions).
    #[arg(
        long,
        env = "GLUEY_SUBSCRIPTIONS_GROUP_ID",
        default_value = "gluey-ingest-subscriptions"
    )]
    pub group_id: String,
    /// How often due subscriptions, renewals and lapses are looked at.
    #[arg(long, env = "GLUEY_SUBSCRIPTIONS_TICK", default_value = "1s", value_parser = parse_duration)]
    pub tick: Duration,
    /// Pauses before the 1st, 2nd, … retry of a failed subscription (comma-separated); the last
    /// repeats while calls fail, and a number the carrier refuses is given up after the last.
    #[arg(
        long,
        env = "GLUEY_SUBSCRIPTIONS_RETRY_SCHEDULE",
        default_value = "1m,5m,30m,2h,6h",
        value_delimiter = ',',
        value_parser = parse_duration
    )]
    pub retry_schedule: Vec<Duration>,
    /// Time limit of one carrier call.
    #[arg(long, env = "GLUEY_SUBSCRIPTIONS_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// How long to wait for Kafka's ack of a state record.
    #[arg(long, env = "GLUEY_SUBSCRIPTIONS_PRODUCE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub produce_timeout: Duration,
    /// Limit of the start-up read of the state topic and the registry.
    #[arg(long, env = "GLUEY_SUBSCRIPTIONS_RESTORE_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    pub restore_timeout: Duration,
}

pub async fn run(args: IngestSubscriptionsArgs) -> anyhow::Result<()> {
    service("ingest-subscriptions", args.common, |cx| async move {
        let config = gluey_ingest::SubscriptionsConfig {
            topics: cx.topics.clone(),
            group_id: args.group_id,
            tick: args.tick,
            retry_schedule: args.retry_schedule,
            request_timeout: args.request_timeout,
            produce_timeout: args.produce_timeout,
            restore_timeout: args.restore_timeout,
            carriers: cx.section(|f| Ok(f.carriers.subscriptions()))?,
        };
        gluey_ingest::run_subscriptions(
            config,
            &cx.kafka,
            cx.codec,
            &cx.registry,
            cx.health,
            cx.shutdown,
        )
        .await?;
        Ok(())
    })
    .await
}
