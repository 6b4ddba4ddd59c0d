//! `gluey bench takeover`: what it costs a normalizer to take a partition over, for the same live
//! shipments with 1× and 10× the history, next to the ceiling of the old way measured in the same
//! run: reading the whole events topic (what a restore from the output alone had to read).
//!
//! For each history length: the raw topic is loaded (every shipment registered, one FedEx scan per
//! raw record), the real `gluey normalize` drains it until its snapshots cover every event, and
//! is stopped; the state topic is compacted for real (its segments roll quickly and the cleaner is
//! nudged by writes to keys nobody tracks); then a second `gluey normalize` in a new group takes
//! every partition over. Its restores report their time and the records they read
//! (`normalizer_restore_seconds`, `normalizer_restore_records_total`). Needs a real broker (the
//! mock does not compact).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::dev::fedex_simulator::{aiv_payload, FedexScan};
use anyhow::Context;
use chrono::{DateTime, FixedOffset, Utc};
use clap::Args;
use gluey_contract::{
    shipment_key, Codec, RawEnvelope, Route, ShipmentState, SourceReference, TopicNames,
};
use gluey_kafka::{KafkaSettings, RecordProducer};
use rdkafka::Message;

#[derive(Debug, Clone, Args)]
pub struct TakeoverArgs {
    /// Live shipments.
    #[arg(long, default_value_t = 2_000)]
    pub shipments: usize,
    /// Scans per shipment in the 1× history (the 10× run has ten times as many).
    #[arg(long, default_value_t = 3)]
    pub scans: usize,
    #[arg(long, env = "KAFKA_BOOTSTRAP")]
    pub kafka_bootstrap: String,
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    #[arg(long, default_value_t = 1)]
    pub replication: i32,
}

/// One history length, measured.
struct Measured {
    multiplier: usize,
    events: usize,
    snapshots_read: f64,
    events_read: f64,
    /// Summed over the partitions' restores (they run concurrently).
    restore_seconds: f64,
    /// Reading the whole events topic, as a restore from the output alone had to.
    ceiling_seconds: f64,
    /// Approximate heap bytes per shipment, live and compacted (`normalizer_state_bytes`).
    live_bytes: f64,
    compacted_bytes: f64,
}

pub async fn run(args: TakeoverArgs) -> anyhow::Result<()> {
    let kafka = KafkaSettings::new(args.kafka_bootstrap.clone());
    let exe = std::env::current_exe().context("cannot find the gluey binary")?;
    println!(
        "gluey bench takeover: {} live shipments, {} and {} scans each, {} partitions, broker {}",
        args.shipments,
        args.scans,
        args.scans * 10,
        args.partitions,
        args.kafka_bootstrap
    );
    let mut rows = Vec::new();
    for multiplier in [1, 10] {
        rows.push(measure(&args, &kafka, &exe, multiplier).await?);
    }
    for m in &rows {
        println!(
            "  {:>2}x history: {} events; takeover restore read {} snapshots + {} events in {:.3} s \
             (summed over partitions); reading the whole events topic took {:.3} s; ratio {:.1} %",
            m.multiplier,
            m.events,
            m.snapshots_read,
            m.events_read,
            m.restore_seconds,
            m.ceiling_seconds,
            100.0 * m.restore_seconds / m.ceiling_seconds.max(f64::EPSILON)
        );
        println!(
            "      state in memory: {:.0} bytes per live shipment, {:.0} per compacted one",
            m.live_bytes, m.compacted_bytes
        );
    }
    if let [one, ten] = rows.as_slice() {
        println!(
            "  10x / 1x: restore time {:.2}, records read {:.2}; the full read grew {:.2}x",
            ten.restore_seconds / one.restore_seconds.max(f64::EPSILON),
            (ten.snapshots_read + ten.events_read)
                / (one.snapshots_read + one.events_read).max(1.0),
            ten.ceiling_seconds / one.ceiling_seconds.max(f64::EPSILON)
        );
    }
    Ok(())
}

async fn measure(
    args: &TakeoverArgs,
    kafka: &KafkaSettings,
    exe: &std::path::Path,
    multiplier: usize,
) -> anyhow::Result<Measured> {
    let topics = TopicNames::new(format!(
        "bench-takeover-{}-{multiplier}x.",
        std::process::id()
    ));
    gluey_kafka::create_topics(kafka, &topics, args.partitions, args.replication).await?;
    // Compaction within the run: quick segments and an eager cleaner on the state topic.
    alter_topic(
        kafka,
        &topics.state(),
        &[
            ("cleanup.policy", "compact"),
            ("segment.ms", "1000"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    )
    .await?;
    let codec = std::sync::Arc::new(Codec::without_registry()?);
    let numbers: Vec<String> = (0..args.shipments).map(|i| format!("7960{i:08}")).collect();
    let registry = gluey_kafka::ShipmentRegistry::new(kafka, codec.clone(), &topics)?;
    for number in &numbers {
        registry
            .register(&gluey_kafka::Registration {
                customer_id: "bench".into(),
                carrier: "fedex".into(),
                tracking_numbers: vec![number.clone()],
                ..gluey_kafka::Registration::default()
            })
            .await?;
    }
    let scans = args.scans * multiplier;
    let raw_topic = topics.raw();
    let mut raw = Vec::with_capacity(scans * numbers.len());
    for i in 0..scans {
        let at =
            DateTime::<FixedOffset>::from(Utc::now() - chrono::Duration::hours((scans - i) as i64));
        for number in &numbers {
            // The last scan delivers the shipment (so it can be compacted later).
            let delivered = i + 1 == scans;
            raw.push(fedex_raw_record(&codec, &raw_topic, number, at, i, delivered).await?);
        }
    }
    let producer = RecordProducer::new(kafka, Duration::from_secs(60))?;
    super::produce_all(&producer, &raw_topic, &raw).await?;
    let events = raw.len();
    println!(
        "  {multiplier}x: loaded {events} raw records for {} shipments",
        numbers.len()
    );

    // The owner drains the raw topic and writes its snapshots; then it stops.
    let mut owner = Normalizer::spawn(exe, &args.kafka_bootstrap, &topics, "owner", &[])?;
    let until = Instant::now() + Duration::from_secs(600);
    while super::accounted(&owner.http, &owner.metrics_url()).await < events as u64 {
        owner.ensure_running()?;
        anyhow::ensure!(
            Instant::now() < until,
            "the normalizer did not drain the raw topic in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let until = Instant::now() + Duration::from_secs(300);
    while !snapshots_cover_events(kafka, &topics, &codec).await? {
        owner.ensure_running()?;
        anyhow::ensure!(
            Instant::now() < until,
            "the snapshots did not cover the events in 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    owner.kill().await;

    compact_state(kafka, &topics, &codec, &numbers).await?;

    // The ceiling: the whole events topic, read.
    let started = Instant::now();
    let read = {
        let (kafka, topic) = (kafka.clone(), topics.events());
        tokio::task::spawn_blocking(move || {
            let mut n = 0usize;
            gluey_kafka::read_to_end(&kafka, &topic, Duration::from_secs(120), |_| n += 1)?;
            Ok::<usize, anyhow::Error>(n)
        })
        .await??
    };
    let ceiling_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(read == events, "read {read} events, {events} published");

    // The takeover.
    let mut taker = Normalizer::spawn(
        exe,
        &args.kafka_bootstrap,
        &topics,
        "taker",
        &["--sweep-interval", "1s"],
    )?;
    let until = Instant::now() + Duration::from_secs(300);
    loop {
        taker.ensure_running()?;
        let ready = taker
            .http
            .get(format!("http://{}/readyz", taker.ops))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        if ready {
            break;
        }
        anyhow::ensure!(
            Instant::now() < until,
            "the takeover did not finish in 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Once restored, the next sweep (every second here) reports the state's size.
    let text = loop {
        taker.ensure_running()?;
        let text = taker
            .http
            .get(taker.metrics_url())
            .send()
            .await?
            .text()
            .await?;
        if gauge(&text, "normalizer_state_shipments", "live") >= numbers.len() as f64 {
            break text;
        }
        anyhow::ensure!(
            Instant::now() < until,
            "the takeover's state size was not reported in 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    taker.kill().await;
    // Memory per shipment: live as restored, then compacted by a normalizer whose grace is a
    // second.
    let live_bytes = gauge(&text, "normalizer_state_bytes", "live")
        / gauge(&text, "normalizer_state_shipments", "live").max(1.0);
    let mut compactor = Normalizer::spawn(
        exe,
        &args.kafka_bootstrap,
        &topics,
        "compactor",
        &["--compact-after", "1s", "--sweep-interval", "1s"],
    )?;
    let until = Instant::now() + Duration::from_secs(300);
    let compacted_bytes = loop {
        compactor.ensure_running()?;
        let text = match compactor.http.get(compactor.metrics_url()).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let compacted = gauge(&text, "normalizer_state_shipments", "compacted");
        if compacted >= numbers.len() as f64 {
            break gauge(&text, "normalizer_state_bytes", "compacted") / compacted;
        }
        anyhow::ensure!(
            Instant::now() < until,
            "the shipments were not compacted in 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    compactor.kill().await;
    let sum = |name: &str, label: Option<&str>| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter(|l| label.is_none_or(|label| l.contains(label)))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    };
    Ok(Measured {
        multiplier,
        events,
        snapshots_read: sum(
            "normalizer_restore_records_total",
            Some("kind=\"snapshot\""),
        ),
        events_read: sum("normalizer_restore_records_total", Some("kind=\"event\"")),
        restore_seconds: sum("normalizer_restore_seconds_sum", None),
        ceiling_seconds,
        live_bytes,
        compacted_bytes,
    })
}

/// A raw FedEx push of one scan of `number` (key and value, encoded for `topic`), as ingest
/// writes it.
pub async fn fedex_raw_record(
    codec: &Codec,
    topic: &str,
    number: &str,
    at: DateTime<FixedOffset>,
    serial: usize,
    delivered: bool,
) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let (event_type, description) = if delivered {
        ("DL", "Delivered")
    } else {
        ("AR", "Arrived at FedEx location")
    };
    let scan = FedexScan {
        event_type,
        description,
        exception_code: None,
        exception_description: None,
        at,
        city: "MEMPHIS",
        state: "TN",
        postal_code: "38118",
        country: "US",
    };
    let key = shipment_key("fedex", number);
    let envelope = RawEnvelope {
        envelope_id: format!("takeover-{number}-{serial}"),
        carrier: "fedex".into(),
        format: "fedex.aiv".into(),
        route: Route::Webhook,
        received_at: Utc::now(),
        content_type: Some("application/json".into()),
        payload: aiv_payload(number, &[scan], None, None),
        source: SourceReference::default(),
        context: BTreeMap::new(),
        shipment_key: Some(key.clone()),
        trace_id: gluey_ops::trace::new_traceparent(),
    };
    Ok((key.into_bytes(), codec.encode(topic, &envelope).await?))
}

/// The value of gauge `name{form="<form>"}` in a metrics text (0 when absent).
fn gauge(text: &str, name: &str, form: &str) -> f64 {
    let series = format!("{name}{{form=\"{form}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series)?.parse().ok())
        .unwrap_or(0.0)
}

/// Whether, on every partition, the latest snapshots' coverage reaches the end of the events.
async fn snapshots_cover_events(
    kafka: &KafkaSettings,
    topics: &TopicNames,
    codec: &std::sync::Arc<Codec>,
) -> anyhow::Result<bool> {
    let (kafka, state, events, codec) = (
        kafka.clone(),
        topics.state(),
        topics.events(),
        codec.clone(),
    );
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut covered: HashMap<i32, i64> = HashMap::new();
        gluey_kafka::read_to_end(&kafka, &state, Duration::from_secs(60), |m| {
            if let Ok(s) =
                handle.block_on(codec.decode::<ShipmentState>(m.payload().unwrap_or_default()))
            {
                let c = covered.entry(m.partition()).or_default();
                *c = (*c).max(s.events_covered_to.unwrap_or(0));
            }
        })?;
        let ends = gluey_kafka::read_partitions_to_end(
            &kafka,
            &[&events],
            None,
            Duration::from_secs(60),
            |_, _| {},
        )?;
        Ok(ends
            .iter()
            .all(|((_, partition), end)| *end == 0 || covered.get(partition) == Some(end)))
    })
    .await?
}

/// Waits until every tracked shipment has one snapshot left on the state topic, writing
/// snapshots of keys nobody tracks (no coverage) at most every 1.5 s so segments roll.
async fn compact_state(
    kafka: &KafkaSettings,
    topics: &TopicNames,
    codec: &Codec,
    numbers: &[String],
) -> anyhow::Result<()> {
    let producer = RecordProducer::new(kafka, Duration::from_secs(30))?;
    let state = topics.state();
    let rollers: Vec<String> = (0..24).map(|i| format!("bench:roller-{i}")).collect();
    let tracked: Vec<String> = numbers.iter().map(|n| shipment_key("fedex", n)).collect();
    let until = Instant::now() + Duration::from_secs(600);
    let mut last_round: Option<Instant> = None;
    loop {
        if last_round.is_none_or(|at| at.elapsed() > Duration::from_millis(1500)) {
            for key in &rollers {
                let snapshot = untracked_snapshot(key);
                let bytes = codec.encode(&state, &snapshot).await?;
                producer
                    .send(&state, Some(key.as_bytes()), &bytes, Default::default())
                    .await?;
            }
            last_round = Some(Instant::now());
        }
        let per_key = {
            let (kafka, state) = (kafka.clone(), state.clone());
            tokio::task::spawn_blocking(move || {
                let mut per_key: HashMap<Vec<u8>, usize> = HashMap::new();
                gluey_kafka::read_to_end(&kafka, &state, Duration::from_secs(60), |m| {
                    *per_key
                        .entry(m.key().unwrap_or_default().to_vec())
                        .or_default() += 1;
                })?;
                Ok::<_, anyhow::Error>(per_key)
            })
            .await??
        };
        if tracked
            .iter()
            .all(|k| per_key.get(k.as_bytes()) == Some(&1))
        {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < until,
            "the state topic did not compact in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A snapshot of a key nobody tracks, with no coverage (a restore is not misled by it): written
/// to make a state topic's segments roll so the cleaner can compact the rest.
pub fn untracked_snapshot(key: &str) -> ShipmentState {
    ShipmentState {
        shipment_key: key.to_string(),
        status: gluey_contract::Status::Unknown,
        last_sequence: 0,
        seen: Vec::new(),
        eta: None,
        terminal: false,
        tracking_numbers: Vec::new(),
        updated_at: Utc::now(),
        latest_event_at: None,
        last_activity: None,
        current_tracking_number: None,
        seen_hashes: Vec::new(),
        events_covered_to: None,
    }
}

/// Sets `topic`'s configs to exactly `configs` (AlterConfigs replaces the whole set).
async fn alter_topic(
    kafka: &KafkaSettings,
    topic: &str,
    configs: &[(&str, &str)],
) -> anyhow::Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> =
        kafka.client_config().create()?;
    let mut change = AlterConfig::new(ResourceSpecifier::Topic(topic));
    for (key, value) in configs {
        change = change.set(key, value);
    }
    for result in admin.alter_configs(&[change], &AdminOptions::new()).await? {
        result.map_err(|(resource, code)| anyhow::anyhow!("altering {resource:?}: {code}"))?;
    }
    Ok(())
}

/// A `gluey normalize` child of the bench.
struct Normalizer {
    child: tokio::process::Child,
    ops: std::net::SocketAddr,
    http: reqwest::Client,
}

impl Normalizer {
    fn spawn(
        exe: &std::path::Path,
        bootstrap: &str,
        topics: &TopicNames,
        group: &str,
        extra: &[&str],
    ) -> anyhow::Result<Normalizer> {
        let dir = std::env::temp_dir().join(format!("gluey-bench-takeover-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("gluey.toml");
        std::fs::write(&config, "")?;
        let ops = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let child = tokio::process::Command::new(exe)
            .args(["normalize", "--kafka-bootstrap", bootstrap])
            .args(["--topic-prefix", topics.prefix()])
            .args(["--config", &config.display().to_string()])
            .args(["--ops-listen", &ops.to_string()])
            .args(["--group-id", &format!("{}{group}", topics.prefix())])
            .args([
                "--max-batch",
                "2000",
                "--produce-timeout",
                "30s",
                "--retry-backoff",
                "200ms",
            ])
            .args(extra)
            .env("RUST_LOG", "error")
            .kill_on_drop(true)
            .spawn()
            .context("cannot start gluey normalize")?;
        Ok(Normalizer {
            child,
            ops,
            http: reqwest::Client::new(),
        })
    }

    fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.ops)
    }

    fn ensure_running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            Some(status) => anyhow::bail!("the normalizer exited with {status}"),
            None => Ok(()),
        }
    }

    async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}
