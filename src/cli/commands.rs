//! What each subcommand does: build the service's typed config from flags and the config file,
//! start the operations endpoints, run the service until SIGTERM, drain, exit.

use std::future::Future;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use gluey_contract::{Codec, TopicNames, TOPICS};
use gluey_kafka::{BrokerCommand, DevBroker, KafkaSettings};
use gluey_ops::{Health, OpsServer, Reloadable, Reloader};
use prometheus::Registry;
use tokio_util::sync::CancellationToken;

use super::{
    Cli, Command, CommonArgs, ConfigFile, DispatchCommand, IngestCommand, KafkaArgs, TopicsCommand,
};

pub use gluey_ops::duration::parse_duration;

#[derive(Debug, Args)]
pub struct IngestWebhookArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Where carriers push.
    #[arg(long, env = "GLUEY_INGEST_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Larger pushes are refused with 413. With the raw record around it, it must fit the Kafka
    /// producer's message.max.bytes (1,000,000 unless set), which is checked at start-up.
    #[arg(long, env = "GLUEY_INGEST_MAX_BODY_BYTES", default_value_t = 960 * 1024)]
    pub max_body_bytes: usize,
    /// How long to wait for Kafka's ack before answering 503 (keep it well inside carrier deadlines).
    #[arg(long, env = "GLUEY_INGEST_PRODUCE_TIMEOUT", default_value = "4s", value_parser = parse_duration)]
    pub produce_timeout: Duration,
    /// `Retry-After` sent with 503.
    #[arg(long, env = "GLUEY_INGEST_RETRY_AFTER", default_value = "5s", value_parser = parse_duration)]
    pub retry_after: Duration,
}

#[derive(Debug, Args)]
pub struct NormalizeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[arg(
        long,
        env = "GLUEY_NORMALIZER_GROUP_ID",
        default_value = "gluey-normalizer"
    )]
    pub group_id: String,
    #[arg(long, env = "GLUEY_NORMALIZER_PRODUCE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub produce_timeout: Duration,
    /// Pause before retrying a record while Kafka is unavailable.
    #[arg(long, env = "GLUEY_NORMALIZER_RETRY_BACKOFF", default_value = "1s", value_parser = parse_duration)]
    pub retry_backoff: Duration,
    /// How long a record waits for its shipment to register before it is dead-lettered.
    #[arg(long, env = "GLUEY_NORMALIZER_PARK_WINDOW", default_value = "7d", value_parser = parse_duration)]
    pub park_window: Duration,
    /// How often parked records and quiet shipments are checked.
    #[arg(long, alias = "sweep-interval", env = "GLUEY_NORMALIZER_PARK_SWEEP_INTERVAL", default_value = "1m", value_parser = parse_duration)]
    pub park_sweep_interval: Duration,
    /// A shipment with no new scan for this long, not delivered or returned, is published as expired.
    #[arg(long, env = "GLUEY_NORMALIZER_EXPIRE_AFTER", default_value = "30d", value_parser = parse_duration)]
    pub expire_after: Duration,
    /// A delivered, returned or expired shipment quiet for this long is compacted: only 8-byte
    /// hashes of its record ids stay in memory (a re-poll of its history still dedupes).
    #[arg(long, env = "GLUEY_NORMALIZER_COMPACT_AFTER", default_value = "7d", value_parser = parse_duration)]
    pub compact_after: Duration,
    /// Records handled before their acknowledgements are awaited together.
    #[arg(long, env = "GLUEY_NORMALIZER_MAX_BATCH", default_value_t = 500)]
    pub max_batch: usize,
}

#[derive(Debug, Args)]
pub struct DispatchWebhookArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[arg(
        long,
        env = "GLUEY_DISPATCH_WEBHOOK_GROUP_ID",
        default_value = "gluey-dispatch-webhook"
    )]
    pub group_id: String,
    /// Time limit of one delivery attempt.
    #[arg(long, env = "GLUEY_DISPATCH_ATTEMPT_TIMEOUT", default_value = "15s", value_parser = parse_duration)]
    pub attempt_timeout: Duration,
    /// Multiplies every pause of the retry ladder, the 60 s floor, `Retry-After` values, breaker
    /// cool-downs and the disable-after window: 1 in production; tests compress three days into
    /// seconds with e.g. 0.0001.
    #[arg(long, env = "GLUEY_DISPATCH_RETRY_TIME_SCALE", default_value_t = 1.0)]
    pub retry_time_scale: f64,
    /// Refuse plain-http endpoint URLs.
    #[arg(long, env = "GLUEY_DISPATCH_REQUIRE_HTTPS")]
    pub require_https: bool,
    /// Allow endpoints on loopback addresses (127.0.0.0/8, ::1) — for tests and local
    /// development only. Deliberately a command-line switch with no environment variable or
    /// config-file setting, so a deployment cannot turn it on by accident; private, link-local
    /// and metadata addresses stay refused regardless.
    #[arg(long)]
    pub allow_loopback_endpoints: bool,
    /// Retry records read ahead of their due time, per retry topic.
    #[arg(long, env = "GLUEY_DISPATCH_READ_AHEAD", default_value_t = 2000)]
    pub read_ahead: usize,
    /// Input records being delivered at once before reading pauses.
    #[arg(long, env = "GLUEY_DISPATCH_MAX_IN_FLIGHT", default_value_t = 10_000)]
    pub max_in_flight: usize,
}

#[derive(Debug, Args)]
pub struct DevBrokerArgs {
    #[arg(long, env = "GLUEY_DEV_BROKERS", default_value_t = 1)]
    pub brokers: i32,
    /// Partitions of the co-partitioned topics.
    #[arg(long, env = "GLUEY_DEV_PARTITIONS", default_value_t = 6)]
    pub partitions: i32,
    /// Prefix of the topics created at start.
    #[arg(long, env = "GLUEY_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// Do not read control commands on stdin; run until SIGTERM.
    #[arg(long)]
    pub no_stdin: bool,
}

#[derive(Debug, Args)]
pub struct TopicsCreateArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Partitions of the co-partitioned topics (raw, events, shipments, state).
    #[arg(long, env = "GLUEY_TOPIC_PARTITIONS", default_value_t = 12)]
    pub partitions: i32,
    #[arg(long, env = "GLUEY_TOPIC_REPLICATION", default_value_t = 3)]
    pub replication: i32,
}

#[derive(Debug, Args)]
pub struct TopicsListArgs {
    #[arg(long, env = "GLUEY_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    #[arg(long, default_value_t = 12)]
    pub partitions: i32,
}

pub use crate::dev::DevArgs;

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        // The mock cluster is not Send; it lives on this thread, with no async runtime.
        Command::DevBroker(args) => dev_broker(args),
        Command::Carriers(command) => {
            if super::carriers::run(command)? {
                Ok(())
            } else {
                // The error line is printed; the exit code says the payload did not parse.
                std::process::exit(3)
            }
        }
        command => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(run_async(command))
        }
    }
}

async fn run_async(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Ingest(IngestCommand::Webhook(args)) => ingest_webhook(args).await,
        Command::Ingest(IngestCommand::Subscriptions(args)) => {
            super::subscriptions::run(args).await
        }
        Command::Normalize(args) => normalize(args).await,
        Command::Dispatch(DispatchCommand::Webhook(args)) => dispatch_webhook(args).await,
        Command::Dev(args) => crate::dev::run_dev(args).await,
        Command::Shipments(command) => super::shipments::run(command).await,
        Command::Bench(super::BenchCommand::Normalize(args)) => crate::bench::run(args).await,
        Command::Bench(super::BenchCommand::Load(args)) => crate::bench::load(args).await,
        Command::Bench(super::BenchCommand::Takeover(args)) => {
            crate::bench::takeover::run(args).await
        }
        Command::Bench(super::BenchCommand::Passthrough(args)) => {
            crate::bench::passthrough_child(args).await
        }
        Command::Deadletter(command) => super::deadletter::run(command).await,
        Command::Webhooks(command) => super::webhooks::run(command).await,
        Command::Topics(TopicsCommand::Create(args)) => topics_create(args).await,
        Command::Topics(TopicsCommand::List(args)) => {
            topics_list(args);
            Ok(())
        }
        Command::DevBroker(_) | Command::Carriers(_) => unreachable_sync_command(),
    }
}

fn unreachable_sync_command() -> anyhow::Result<()> {
    anyhow::bail!("dev-broker and carriers run without an async runtime")
}

/// What every service gets.
pub struct ServiceContext {
    pub kafka: KafkaSettings,
    pub topics: TopicNames,
    pub codec: Arc<Codec>,
    pub registry: Registry,
    pub health: Health,
    pub shutdown: CancellationToken,
    /// The config file, reloaded on SIGHUP (validated before it replaces the running one).
    pub config: Reloadable<ConfigFile>,
}

impl ServiceContext {
    /// A section of the config file that follows its reloads. `section` cannot fail here: the
    /// whole file was validated before it was published.
    pub fn section<T, F>(&self, section: F) -> anyhow::Result<Reloadable<T>>
    where
        T: Send + Sync + 'static,
        F: Fn(&ConfigFile) -> anyhow::Result<T> + Send + 'static,
    {
        let mut files = self.config.clone();
        let (reloader, reloadable) = Reloadable::new(section(&files.current())?);
        tokio::spawn(async move {
            while files.changed().await {
                match section(&files.current()) {
                    Ok(value) => reloader.replace(value),
                    Err(e) => tracing::error!(
                        error = format!("{e:#}"),
                        "config section refused on reload"
                    ),
                }
            }
        });
        Ok(reloadable)
    }
}

/// Re-reads the config file on every SIGHUP; a file that does not validate is refused with the
/// reason and the running config stays.
fn reload_on_sighup(
    path: std::path::PathBuf,
    reloader: Reloader<ConfigFile>,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match ConfigFile::load(&path) {
                Ok(file) => {
                    reloader.replace(file);
                    tracing::info!(config = %path.display(), "config file reloaded");
                }
                Err(e) => {
                    tracing::error!(config = %path.display(), error = format!("{e:#}"), "config reload refused; keeping the running config")
                }
            }
        }
    });
    Ok(())
}

/// How long a service waits at start-up for the cluster's metadata (the topics it relies on).
const STARTUP_METADATA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Loads the config file, builds the codec, starts the ops endpoints and signal handling, then
/// runs the service to completion.
pub(super) async fn service<F, Fut>(
    name: &'static str,
    common: CommonArgs,
    body: F,
) -> anyhow::Result<()>
where
    F: FnOnce(ServiceContext) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let (reloader, config) = Reloadable::new(ConfigFile::load(&common.config)?);
    reload_on_sighup(common.config.clone(), reloader)?;
    let codec = Arc::new(Codec::new(common.registry.settings().as_ref()).context("schemas")?);
    let shutdown = CancellationToken::new();
    gluey_ops::shutdown_on_signals(shutdown.clone()).context("cannot install signal handlers")?;
    let registry = Registry::new();
    let health = Health::new();
    let ops_shutdown = CancellationToken::new();
    let ops = OpsServer::start(
        common.ops_listen,
        registry.clone(),
        health.clone(),
        ops_shutdown.clone(),
    )
    .await
    .with_context(|| format!("cannot bind --ops-listen {}", common.ops_listen))?;
    tracing::info!(service = name, ops = %ops.addr, kafka = common.kafka.bootstrap, topic_prefix = common.kafka.topic_prefix, registry = codec.uses_registry(), "starting");
    let kafka = common.kafka.settings();
    let topics = common.kafka.topics();
    // The topics are checked while the service starts: a config error (found by the service
    // itself, at once) is reported first, and a cluster whose co-partitioned topics are missing
    // or unequal stops the service long before its consumer group has assigned it a partition.
    let check = {
        let (kafka, topics) = (kafka.clone(), topics.clone());
        async move {
            gluey_kafka::admin::check_co_partitioning(&kafka, &topics, STARTUP_METADATA_TIMEOUT)
                .await
        }
    };
    let context = ServiceContext {
        kafka,
        topics,
        codec,
        registry,
        health,
        shutdown,
        config,
    };
    let body = body(context);
    tokio::pin!(body, check);
    let result = tokio::select! {
        result = &mut body => result,
        checked = &mut check => match checked {
            Ok(partitions) => {
                tracing::debug!(service = name, partitions, "co-partitioned topics checked");
                body.await
            }
            Err(e) => Err(anyhow::Error::new(e).context("the topics this service relies on")),
        },
    };
    ops_shutdown.cancel();
    let _ = ops.task.await;
    tracing::info!(service = name, "stopped");
    result
}

async fn ingest_webhook(args: IngestWebhookArgs) -> anyhow::Result<()> {
    service("ingest-webhook", args.common, |cx| async move {
        let config = gluey_ingest::WebhookIngestConfig {
            listen: args.listen,
            max_body_bytes: args.max_body_bytes,
            produce_timeout: args.produce_timeout,
            retry_after: args.retry_after,
            topics: cx.topics.clone(),
            // A reloaded file whose body limits Kafka could not carry is refused like any other
            // invalid file: the running limits stay.
            carriers: cx.section({
                let (kafka, max_body_bytes) = (cx.kafka.clone(), args.max_body_bytes);
                move |f| {
                    gluey_ingest::webhook::check_body_limits(&f.carriers, max_body_bytes, &kafka)?;
                    Ok(f.carriers.clone())
                }
            })?,
        };
        let ingest = gluey_ingest::run_webhook_ingest(
            config,
            &cx.kafka,
            cx.codec,
            &cx.registry,
            cx.health,
            cx.shutdown,
        )
        .await?;
        ingest.task.await.context("ingest task")?;
        Ok(())
    })
    .await
}

async fn normalize(args: NormalizeArgs) -> anyhow::Result<()> {
    service("normalizer", args.common, |cx| async move {
        let config = gluey_normalizer::NormalizerConfig {
            topics: cx.topics.clone(),
            group_id: args.group_id,
            produce_timeout: args.produce_timeout,
            retry_backoff: args.retry_backoff,
            park_window: args.park_window,
            park_sweep_interval: args.park_sweep_interval,
            expire_after: args.expire_after,
            compact_after: args.compact_after,
            max_batch: args.max_batch,
        };
        gluey_normalizer::run_normalizer(
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

async fn dispatch_webhook(args: DispatchWebhookArgs) -> anyhow::Result<()> {
    service("dispatch-webhook", args.common, |cx| async move {
        if !(args.retry_time_scale > 0.0 && args.retry_time_scale <= 1.0) {
            anyhow::bail!("--retry-time-scale must be in (0, 1]: 1 in production, less to compress time in tests");
        }
        let policy = gluey_dispatcher::ssrf::AddressPolicy {
            require_https: args.require_https,
            allow_loopback: args.allow_loopback_endpoints,
        };
        if policy.allow_loopback {
            tracing::warn!("--allow-loopback-endpoints: endpoints on loopback addresses are allowed (tests and local development only)");
        }
        let config = gluey_dispatcher::DispatcherConfig {
            topics: cx.topics.clone(),
            group_id: args.group_id,
            endpoints: cx.section(move |f| {
                Ok(gluey_dispatcher::config::endpoints(&f.customers, &policy)?)
            })?,
            attempt_timeout: args.attempt_timeout,
            retry: gluey_dispatcher::config::RetryPolicy::standard()
                .scaled(args.retry_time_scale),
            time_scale: args.retry_time_scale,
            address_policy: policy,
            read_ahead: args.read_ahead.max(1),
            max_in_flight: args.max_in_flight.max(1),
        };
        gluey_dispatcher::run_webhook_dispatcher(
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

async fn topics_create(args: TopicsCreateArgs) -> anyhow::Result<()> {
    let results = gluey_kafka::create_topics(
        &args.kafka.settings(),
        &args.kafka.topics(),
        args.partitions,
        args.replication,
    )
    .await?;
    use gluey_kafka::admin::TopicOutcome;
    let mut differing = Vec::new();
    for (topic, outcome) in results {
        match outcome {
            TopicOutcome::Created => println!("{topic}: created"),
            TopicOutcome::AlreadyExists => println!("{topic}: already exists as declared"),
            TopicOutcome::Differs(differences) => {
                println!(
                    "{topic}: already exists but DIFFERS: {} (left as it is)",
                    differences.join("; ")
                );
                differing.push(topic);
            }
        }
    }
    if !differing.is_empty() {
        anyhow::bail!(
            "{} topic(s) differ from their declaration: {} (a partition count cannot be changed in place without moving keys; fix the topic or the flags)",
            differing.len(),
            differing.join(", ")
        );
    }
    Ok(())
}

fn topics_list(args: TopicsListArgs) {
    let names = TopicNames::new(args.topic_prefix);
    println!(
        "{:<36} {:>10} {:>8} {:>10}  key",
        "topic", "partitions", "cleanup", "retention"
    );
    for spec in TOPICS {
        let retention = spec
            .retention_days()
            .map(|d| format!("{d}d"))
            .unwrap_or_else(|| "forever".into());
        println!(
            "{:<36} {:>10} {:>8} {:>10}  {}",
            names.name(spec),
            spec.partitions(args.partitions),
            spec.cleanup.as_str(),
            retention,
            spec.key
        );
    }
}

/// Runs the mock cluster; prints `KAFKA_BOOTSTRAP=<addr>` then answers each stdin command with
/// `ok` or `error: <reason>`. Exits on stdin EOF (the parent went away) or SIGTERM.
fn dev_broker(args: DevBrokerArgs) -> anyhow::Result<()> {
    let broker = DevBroker::start(args.brokers).context("cannot start the mock cluster")?;
    broker
        .create_topics(&TopicNames::new(args.topic_prefix.clone()), args.partitions)
        .context("cannot create the declared topics")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "KAFKA_BOOTSTRAP={}", broker.bootstrap())?;
    stdout.flush()?;
    tracing::info!(
        bootstrap = broker.bootstrap(),
        brokers = args.brokers,
        partitions = args.partitions,
        "dev broker running"
    );
    if args.no_stdin {
        let terminated = Arc::new(std::sync::atomic::AtomicBool::new(false));
        for signal in [15, 2] {
            signal_flag(signal, terminated.clone())?;
        }
        while !terminated.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
        }
        return Ok(());
    }
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let answer =
            BrokerCommand::parse(&line, args.partitions).and_then(|c| broker.apply(&c).map(|()| c));
        match answer {
            Ok(command) => {
                tracing::info!(?command, "control command applied");
                writeln!(stdout, "ok")?;
            }
            Err(e) => writeln!(stdout, "error: {e}")?,
        }
        stdout.flush()?;
    }
    Ok(())
}

/// Sets `flag` when `signal` arrives, without an async runtime.
fn signal_flag(signal: i32, flag: Arc<std::sync::atomic::AtomicBool>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            use tokio::signal::unix::{signal as listen, SignalKind};
            if let Ok(mut s) = listen(SignalKind::from_raw(signal)) {
                s.recv().await;
            }
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    });
    Ok(())
}
