//! `gluey bench normalize`: how fast the normalizer drains a realistic raw topic, next to the
//! ceiling measured in the same run on the same broker: a plain rdkafka consume → produce
//! passthrough that writes the same number and size of records. Prints both rates and the ratio,
//! and the CPU time (user + system) per raw record of each part. The loader, the normalizer (the
//! real `gluey normalize` service) and the passthrough each run as a child process of their own,
//! so each CPU time is that part's alone, even when the broker is the bottleneck.
//!
//! The mix: payloads of several carriers (FedEx push and poll, UPS, DHL, Royal Mail, USPS, the
//! direct format) taken from the carrier fixtures with fresh tracking numbers, every shipment
//! registered; about 30% of raw records are re-polled duplicates and about 1% garbage.

pub mod takeover;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use gluey_carriers::RawInput;
use gluey_contract::{
    shipment_key, Codec, RawEnvelope, Route, Shipment, SourceReference, TopicNames,
};
use gluey_kafka::headers::with_traceparent;
use gluey_kafka::{DevBroker, KafkaSettings, PendingAck, RecordProducer};
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message;

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Distinct raw records before duplicates and garbage are added.
    #[arg(long, default_value_t = 20_000)]
    pub records: usize,
    /// Use this broker instead of an embedded mock cluster.
    #[arg(long, env = "KAFKA_BOOTSTRAP")]
    pub kafka_bootstrap: Option<String>,
    /// Partitions of the co-partitioned topics.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// The normalizer's --max-batch.
    #[arg(long, default_value_t = 2000)]
    pub max_batch: usize,
    /// Replication of the bench's topics on a real cluster.
    #[arg(long, default_value_t = 1)]
    pub replication: i32,
}

/// `gluey bench load` (a child of `bench normalize`): registers the workload's shipments and
/// loads its raw records, then prints what it loaded and its CPU time.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    #[arg(long)]
    pub kafka_bootstrap: String,
    #[arg(long)]
    pub topic_prefix: String,
    #[arg(long)]
    pub records: usize,
}

/// `gluey bench passthrough` (a child of `bench normalize`): the ceiling.
#[derive(Debug, Clone, Args)]
pub struct PassthroughArgs {
    #[arg(long)]
    pub kafka_bootstrap: String,
    #[arg(long)]
    pub from: String,
    #[arg(long)]
    pub to: String,
    #[arg(long)]
    pub inputs: usize,
    #[arg(long)]
    pub outputs: usize,
    #[arg(long)]
    pub size: usize,
    /// Consume → produce in Kafka transactions of up to 500 inputs, the input offsets sent in
    /// each transaction (the shape of a transactional normalizer), instead of storing offsets
    /// once the outputs are acknowledged.
    #[arg(long)]
    pub transactional: bool,
}

/// (format, carrier, fixture) templates; each is copied with fresh tracking numbers.
const TEMPLATES: &[(&str, &str, &[u8])] = &[
    (
        "fedex.aiv",
        "fedex",
        include_bytes!("../../carriers/tests/fixtures/fedex.aiv/example_track_api.json"),
    ),
    (
        "fedex.track",
        "fedex",
        include_bytes!("../../carriers/tests/fixtures/fedex.track/example_track_api.json"),
    ),
    (
        "ups.track",
        "ups",
        include_bytes!("../../carriers/tests/fixtures/ups.track/example.json"),
    ),
    (
        "dhl.unified",
        "dhl",
        include_bytes!("../../carriers/tests/fixtures/dhl.unified/carriers_md_example.json"),
    ),
    (
        "royalmail.v2",
        "royalmail",
        include_bytes!("../../carriers/tests/fixtures/royalmail.v2/events_example.json"),
    ),
    (
        "usps.v3",
        "usps",
        include_bytes!("../../carriers/tests/fixtures/usps.v3/example_out_for_delivery.json"),
    ),
    (
        "direct.v1",
        "acme-couriers",
        include_bytes!("../../carriers/tests/fixtures/direct.v1/journey.json"),
    ),
];

/// Replaces the last run of at least 6 digits of `number` with `serial`, same width.
fn renumber(number: &str, serial: usize) -> String {
    let bytes = number.as_bytes();
    let mut end = bytes.len();
    while end > 0 && !bytes[end - 1].is_ascii_digit() {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && bytes[start - 1].is_ascii_digit() {
        start -= 1;
    }
    let width = end - start;
    if width < 6 {
        return format!("{number}{serial}");
    }
    let digits = format!("{serial:0width$}");
    format!(
        "{}{}{}",
        &number[..start],
        &digits[digits.len() - width..],
        &number[end..]
    )
}

struct Workload {
    raw: Vec<(Vec<u8>, Vec<u8>)>,
    shipments: Vec<Shipment>,
    expected_outputs: usize,
    garbage: usize,
}

async fn build_workload(
    codec: &Codec,
    topics: &TopicNames,
    distinct: usize,
) -> anyhow::Result<Workload> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x91_0e_e5);
    let mut raw = Vec::new();
    let mut shipments = Vec::new();
    let mut expected_outputs = 0;
    let context = BTreeMap::new();
    let topic = topics.raw();
    for serial in 0..distinct {
        let (format_name, carrier, template) = TEMPLATES[serial % TEMPLATES.len()];
        let format = gluey_carriers::format(format_name)
            .with_context(|| format!("bench template format {format_name}"))?;
        let numbers: Vec<String> = format
            .split(template)?
            .into_iter()
            .map(|s| s.tracking_number)
            .collect();
        let Some(first) = numbers.first() else {
            continue;
        };
        let fresh = renumber(first, serial);
        let payload = String::from_utf8_lossy(template)
            .replace(first.as_str(), &fresh)
            .into_bytes();
        let parsed = format.parse(RawInput {
            carrier,
            payload: &payload,
            context: &context,
            received_at: Utc::now(),
        })?;
        let mine: usize = parsed
            .records
            .iter()
            .filter(|r| r.tracking_number() == fresh)
            .count();
        if mine == 0 {
            continue;
        }
        expected_outputs += mine;
        let payload = {
            // A multi-shipment template keeps only its renumbered shipment.
            let splits = format.split(&payload)?;
            splits
                .into_iter()
                .find(|s| s.tracking_number == fresh)
                .map(|s| s.payload)
                .unwrap_or(payload)
        };
        shipments.push(Shipment {
            shipment_key: shipment_key(carrier, &fresh),
            alias_of: None,
            shipment_id: None,
            customer_id: "bench".into(),
            carrier: carrier.into(),
            tracking_numbers: vec![fresh.clone()],
            references: BTreeMap::new(),
            parcels: Vec::new(),
            registered_at: Utc::now(),
        });
        let envelope = RawEnvelope {
            envelope_id: format!("bench-{serial}"),
            carrier: carrier.into(),
            format: format_name.into(),
            route: Route::Api,
            received_at: Utc::now(),
            content_type: Some("application/json".into()),
            payload,
            source: SourceReference {
                poll_id: Some(format!("bench-{serial}")),
                ..SourceReference::default()
            },
            context: BTreeMap::new(),
            shipment_key: Some(shipment_key(carrier, &fresh)),
            trace_id: gluey_ops::trace::new_traceparent(),
        };
        let key = shipment_key(carrier, &fresh).into_bytes();
        let bytes = codec.encode(&topic, &envelope).await?;
        // About 30% of polls return the same history again.
        if rng.random_bool(0.3) {
            raw.push((key.clone(), bytes.clone()));
        }
        raw.push((key, bytes));
    }
    // About 1% garbage.
    let garbage = raw.len() / 100;
    for i in 0..garbage {
        let junk: Vec<u8> = (0..200).map(|_| rng.random()).collect();
        raw.insert(
            (i * 97) % raw.len().max(1),
            (format!("garbage-{i}").into_bytes(), junk),
        );
    }
    Ok(Workload {
        raw,
        shipments,
        expected_outputs,
        garbage,
    })
}

pub(crate) async fn produce_all(
    producer: &RecordProducer,
    topic: &str,
    records: &[(Vec<u8>, Vec<u8>)],
) -> anyhow::Result<()> {
    let mut pending: Vec<PendingAck> = Vec::with_capacity(records.len());
    for (key, value) in records {
        pending.push(
            producer
                .enqueue(
                    topic,
                    Some(key),
                    value,
                    with_traceparent(&gluey_ops::trace::new_traceparent()),
                )
                .await?,
        );
    }
    for ack in pending {
        ack.acked().await?;
    }
    Ok(())
}

fn topic_totals(kafka: &KafkaSettings, topic: &str) -> anyhow::Result<(i64, i64)> {
    use rdkafka::consumer::BaseConsumer;
    let consumer: BaseConsumer = kafka.client_config().create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut count = 0;
    for p in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (low, high) = consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
        count += high - low;
    }
    Ok((count, 0))
}

async fn wait_until(
    kafka: &KafkaSettings,
    topic: &str,
    at_least: i64,
    deadline: Duration,
) -> anyhow::Result<()> {
    let until = Instant::now() + deadline;
    loop {
        let (kafka, t) = (kafka.clone(), topic.to_string());
        let (n, _) = tokio::task::spawn_blocking(move || topic_totals(&kafka, &t)).await??;
        if n >= at_least {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < until,
            "{topic} reached only {n} of {at_least} records within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let embedded = match &args.kafka_bootstrap {
        Some(_) => None,
        None => Some(DevBroker::start(1).context("cannot start the embedded broker")?),
    };
    let bootstrap = args
        .kafka_bootstrap
        .clone()
        .or_else(|| embedded.as_ref().map(DevBroker::bootstrap))
        .unwrap_or_default();
    let kafka = KafkaSettings::new(bootstrap.clone());
    let topics = TopicNames::new(format!("bench-{}.", std::process::id()));
    let passthrough_topic = format!("{}bench.passthrough.v1", topics.prefix());
    match &embedded {
        Some(broker) => {
            broker.create_topics(&topics, args.partitions)?;
            broker.create_topic(&passthrough_topic, args.partitions)?;
        }
        None => {
            gluey_kafka::create_topics(&kafka, &topics, args.partitions, args.replication).await?;
            create_passthrough_topic(
                &kafka,
                &passthrough_topic,
                args.partitions,
                args.replication,
            )
            .await?;
        }
    }
    println!(
        "gluey bench normalize: {} distinct raw records, {} partitions, broker {}",
        args.records,
        args.partitions,
        if embedded.is_some() {
            "embedded librdkafka mock".to_string()
        } else {
            bootstrap.clone()
        }
    );
    let exe = std::env::current_exe().context("cannot find the gluey binary")?;

    // 1. The loader.
    let load = child_output(
        tokio::process::Command::new(&exe)
            .args(["bench", "load", "--kafka-bootstrap", &bootstrap])
            .args(["--topic-prefix", topics.prefix()])
            .args(["--records", &args.records.to_string()]),
        "bench load",
    )
    .await?;
    let loaded = |name: &str| -> anyhow::Result<f64> {
        field(&load, name).with_context(|| format!("bench load printed no {name}: {load}"))
    };
    let (raw, garbage, shipments, expected, load_cpu) = (
        loaded("raw")? as usize,
        loaded("garbage")? as usize,
        loaded("shipments")? as usize,
        loaded("expected")? as usize,
        loaded("cpu")?,
    );
    println!(
        "  loaded {raw} raw records ({garbage} garbage), {shipments} shipments registered; {expected} canonical records expected"
    );

    // 2. The normalizer: the real service, in its own process, until its own counter has
    // accounted for every raw record (each counted only after its outputs were acknowledged).
    let dir = std::env::temp_dir().join(format!("gluey-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("gluey.toml");
    std::fs::write(&config, "")?;
    let ops = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let started = Instant::now();
    let mut normalizer = tokio::process::Command::new(&exe)
        .args(["normalize", "--kafka-bootstrap", &bootstrap])
        .args(["--topic-prefix", topics.prefix()])
        .args(["--config", &config.display().to_string()])
        .args(["--ops-listen", &ops.to_string()])
        .args(["--group-id", &format!("{}normalizer", topics.prefix())])
        .args(["--max-batch", &args.max_batch.to_string()])
        .args([
            "--produce-timeout",
            "30s",
            "--retry-backoff",
            "200ms",
            "--park-window",
            "1h",
        ])
        // Its dead letters of the garbage records are expected; only errors are shown.
        .env("RUST_LOG", "error")
        .kill_on_drop(true)
        .spawn()
        .context("cannot start gluey normalize")?;
    let pid = normalizer.id().context("normalizer pid")?;
    let metrics = format!("http://{ops}/metrics");
    let http = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(status) = normalizer.try_wait()? {
            anyhow::bail!("the normalizer exited with {status} before draining the raw topic");
        }
        if accounted(&http, &metrics).await >= raw as u64 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < until,
            "the normalizer did not drain the raw topic within 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let normalizer_secs = started.elapsed().as_secs_f64();
    let normalizer_cpu = cpu_seconds(&pid.to_string()).context("the normalizer's CPU time")?;
    wait_until(
        &kafka,
        &topics.events(),
        expected as i64,
        Duration::from_secs(60),
    )
    .await?;
    if let Some(pid) = normalizer.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), normalizer.wait()).await;
    let _ = std::fs::remove_dir_all(&dir);

    // 3. The ceiling: consume the same raw records, write as many records of the same size as
    // the normalizer wrote, with the same producer settings.
    let output_bytes = read_sizes(&kafka, &topics.events()).await?;
    let avg = (output_bytes / expected.max(1)).max(1);
    let child = PassthroughChild {
        exe: &exe,
        bootstrap: &bootstrap,
        from: topics.raw(),
        inputs: raw,
        outputs: expected,
        size: avg,
    };
    let (passthrough_secs, passthrough_cpu) = child.run(&passthrough_topic, false).await?;
    // The same passthrough in Kafka transactions, to a topic of its own: what transactions cost
    // on this broker (evidence for the changelog-or-transactions decision).
    let transactional_topic = format!("{}bench.passthrough-tx.v1", topics.prefix());
    match &embedded {
        Some(broker) => broker.create_topic(&transactional_topic, args.partitions)?,
        None => {
            create_passthrough_topic(
                &kafka,
                &transactional_topic,
                args.partitions,
                args.replication,
            )
            .await?
        }
    }
    let (transactional_secs, transactional_cpu) = child.run(&transactional_topic, true).await?;

    let rate = |secs: f64| raw as f64 / secs.max(1e-9);
    let per_record = |cpu: f64| 1e6 * cpu / raw.max(1) as f64;
    println!(
        "  normalizer   {:>9.0} raw records/s  ({:.2} s)  CPU {:.2} s = {:.0} µs per raw record",
        rate(normalizer_secs),
        normalizer_secs,
        normalizer_cpu,
        per_record(normalizer_cpu)
    );
    println!(
        "  passthrough  {:>9.0} raw records/s  ({:.2} s)  CPU {:.2} s = {:.0} µs per raw record  ceiling: plain consume → produce, same records out",
        rate(passthrough_secs),
        passthrough_secs,
        passthrough_cpu,
        per_record(passthrough_cpu)
    );
    println!(
        "  passthrough in transactions {:>9.0} raw records/s  ({:.2} s)  CPU {:.2} s = {:.0} µs per raw record  ({:.1} % of the plain passthrough's rate)",
        rate(transactional_secs),
        transactional_secs,
        transactional_cpu,
        per_record(transactional_cpu),
        100.0 * passthrough_secs / transactional_secs.max(1e-9)
    );
    println!(
        "  loader       CPU {:.2} s = {:.0} µs per raw record (building and producing the workload)",
        load_cpu,
        per_record(load_cpu)
    );
    println!(
        "  ratio        {:>9.1} %  (target ≥ 70 %)",
        100.0 * passthrough_secs / normalizer_secs.max(1e-9)
    );
    Ok(())
}

/// `gluey bench load`.
pub async fn load(args: LoadArgs) -> anyhow::Result<()> {
    let kafka = KafkaSettings::new(args.kafka_bootstrap);
    let topics = TopicNames::new(args.topic_prefix);
    let codec = Arc::new(Codec::without_registry()?);
    let work = build_workload(&codec, &topics, args.records).await?;
    let producer = RecordProducer::new(&kafka, Duration::from_secs(60))?;
    let shipments_topic = topics.shipments();
    let mut registrations = Vec::with_capacity(work.shipments.len());
    for s in &work.shipments {
        registrations.push((
            s.shipment_key.clone().into_bytes(),
            codec.encode(&shipments_topic, s).await?,
        ));
    }
    produce_all(&producer, &shipments_topic, &registrations).await?;
    produce_all(&producer, &topics.raw(), &work.raw).await?;
    println!(
        "raw={} garbage={} shipments={} expected={} cpu={:.3}",
        work.raw.len(),
        work.garbage,
        work.shipments.len(),
        work.expected_outputs,
        cpu_seconds("self").unwrap_or(f64::NAN)
    );
    Ok(())
}

/// `gluey bench passthrough`.
pub async fn passthrough_child(args: PassthroughArgs) -> anyhow::Result<()> {
    let kafka = KafkaSettings::new(args.kafka_bootstrap);
    let started = Instant::now();
    let run = Passthrough {
        kafka: &kafka,
        from: &args.from,
        to: &args.to,
        inputs: args.inputs,
        outputs: args.outputs,
        size: args.size,
    };
    if args.transactional {
        run.transactional().await?;
    } else {
        passthrough(
            &kafka,
            &args.from,
            &args.to,
            args.inputs,
            args.outputs,
            args.size,
        )
        .await?;
    }
    println!(
        "secs={:.3} cpu={:.3}",
        started.elapsed().as_secs_f64(),
        cpu_seconds("self").unwrap_or(f64::NAN)
    );
    Ok(())
}

async fn create_passthrough_topic(
    kafka: &KafkaSettings,
    topic: &str,
    partitions: i32,
    replication: i32,
) -> anyhow::Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> =
        kafka.client_config().create()?;
    let results = admin
        .create_topics(
            &[NewTopic::new(
                topic,
                partitions,
                TopicReplication::Fixed(replication),
            )],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await?;
    for result in results {
        result.map_err(|(topic, code)| anyhow::anyhow!("creating {topic}: {code}"))?;
    }
    Ok(())
}

/// Runs a bench child to completion and returns its standard output.
async fn child_output(command: &mut tokio::process::Command, what: &str) -> anyhow::Result<String> {
    let out = command
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .with_context(|| format!("cannot run {what}"))?;
    anyhow::ensure!(out.status.success(), "{what} failed with {}", out.status);
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `name=value` from a child's output line.
fn field(text: &str, name: &str) -> Option<f64> {
    text.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

/// User + system CPU seconds of process `pid` (`"self"` for this one), from `/proc`.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is the first; utime and
    // stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless configured otherwise).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Raw records the normalizer has finished with, by its own counter on `/metrics`.
pub(crate) async fn accounted(http: &reqwest::Client, url: &str) -> u64 {
    let Ok(response) = http.get(url).timeout(Duration::from_secs(2)).send().await else {
        return 0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("normalizer_raw_records_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Bytes of every value on `topic`, read whole with the services' own reader.
async fn read_sizes(kafka: &KafkaSettings, topic: &str) -> anyhow::Result<usize> {
    let (kafka, topic) = (kafka.clone(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let mut bytes = 0;
        gluey_kafka::read_to_end(&kafka, &topic, Duration::from_secs(120), |m| {
            bytes += m.payload().map(<[u8]>::len).unwrap_or(0);
        })?;
        Ok(bytes)
    })
    .await?
}

async fn passthrough(
    kafka: &KafkaSettings,
    from: &str,
    to: &str,
    inputs: usize,
    outputs: usize,
    size: usize,
) -> anyhow::Result<()> {
    let consumer: StreamConsumer = kafka
        .consumer_config(&format!("bench-passthrough-{}", std::process::id()))
        .create()?;
    consumer.subscribe(&[from])?;
    let producer = RecordProducer::new(kafka, Duration::from_secs(30))?;
    let value = vec![b'x'; size];
    let mut written = 0;
    let mut pending = Vec::new();
    for consumed in 0..inputs {
        let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await??;
        // Spread the outputs over the inputs as the normalizer does (some inputs write none).
        let due = (consumed + 1) * outputs / inputs;
        while written < due {
            pending.push(
                producer
                    .enqueue(
                        to,
                        m.key(),
                        &value,
                        with_traceparent(&gluey_ops::trace::new_traceparent()),
                    )
                    .await?,
            );
            written += 1;
        }
        if pending.len() >= 500 {
            for ack in pending.drain(..) {
                ack.acked().await?;
            }
            consumer.store_offset_from_message(&m)?;
        }
    }
    for ack in pending {
        ack.acked().await?;
    }
    Ok(())
}

/// `gluey bench passthrough` as a child process, over the bench's raw records.
struct PassthroughChild<'a> {
    exe: &'a std::path::Path,
    bootstrap: &'a str,
    from: String,
    inputs: usize,
    outputs: usize,
    size: usize,
}

impl PassthroughChild<'_> {
    /// Runs it to `to` (in transactions if `transactional`); its seconds and CPU seconds.
    async fn run(&self, to: &str, transactional: bool) -> anyhow::Result<(f64, f64)> {
        let mut command = tokio::process::Command::new(self.exe);
        command
            .args(["bench", "passthrough", "--kafka-bootstrap", self.bootstrap])
            .args(["--from", &self.from, "--to", to])
            .args(["--inputs", &self.inputs.to_string()])
            .args(["--outputs", &self.outputs.to_string()])
            .args(["--size", &self.size.to_string()]);
        if transactional {
            command.arg("--transactional");
        }
        let out = child_output(&mut command, "bench passthrough").await?;
        Ok((
            field(&out, "secs").context("bench passthrough printed no secs")?,
            field(&out, "cpu").context("bench passthrough printed no cpu")?,
        ))
    }
}

/// One passthrough run's parameters.
struct Passthrough<'a> {
    kafka: &'a KafkaSettings,
    from: &'a str,
    to: &'a str,
    inputs: usize,
    outputs: usize,
    size: usize,
}

impl Passthrough<'_> {
    /// The transactional shape: each transaction takes up to 500 inputs, produces their outputs,
    /// sends the inputs' next offsets with the consumer's group metadata, and commits.
    async fn transactional(&self) -> anyhow::Result<()> {
        use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
        use rdkafka::TopicPartitionList;
        const PER_TRANSACTION: usize = 500;
        let timeout = Duration::from_secs(30);
        let producer: FutureProducer = self
            .kafka
            .producer_config(timeout)
            .set(
                "transactional.id",
                format!("bench-passthrough-tx-{}", std::process::id()),
            )
            .create()?;
        producer.init_transactions(timeout)?;
        let consumer: StreamConsumer = self
            .kafka
            .consumer_config(&format!("bench-passthrough-tx-{}", std::process::id()))
            .set("isolation.level", "read_committed")
            .create()?;
        consumer.subscribe(&[self.from])?;
        let value = vec![b'x'; self.size];
        let (mut consumed, mut written) = (0, 0);
        while consumed < self.inputs {
            producer.begin_transaction()?;
            let mut next: BTreeMap<i32, i64> = BTreeMap::new();
            let mut deliveries = Vec::new();
            while consumed < self.inputs && deliveries.len() < PER_TRANSACTION * 4 {
                let m = tokio::time::timeout(timeout, consumer.recv()).await??;
                consumed += 1;
                next.insert(m.partition(), m.offset() + 1);
                let due = consumed * self.outputs / self.inputs;
                while written < due {
                    loop {
                        let mut record = FutureRecord::<[u8], [u8]>::to(self.to).payload(&value);
                        if let Some(key) = m.key() {
                            record = record.key(key);
                        }
                        match producer.send_result(record) {
                            Ok(delivery) => {
                                deliveries.push(delivery);
                                break;
                            }
                            Err((e, _))
                                if e.rdkafka_error_code()
                                    == Some(rdkafka::error::RDKafkaErrorCode::QueueFull) =>
                            {
                                tokio::time::sleep(Duration::from_millis(2)).await;
                            }
                            Err((e, _)) => return Err(e.into()),
                        }
                    }
                    written += 1;
                }
                if consumed % PER_TRANSACTION == 0 {
                    break;
                }
            }
            for delivery in deliveries {
                delivery
                    .await?
                    .map_err(|(e, _)| anyhow::anyhow!("delivery: {e}"))?;
            }
            let mut offsets = TopicPartitionList::new();
            for (partition, offset) in &next {
                offsets.add_partition_offset(
                    self.from,
                    *partition,
                    rdkafka::Offset::Offset(*offset),
                )?;
            }
            let metadata = consumer
                .group_metadata()
                .context("the consumer has no group metadata")?;
            producer.send_offsets_to_transaction(&offsets, &metadata, timeout)?;
            producer.commit_transaction(timeout)?;
        }
        Ok(())
    }
}
