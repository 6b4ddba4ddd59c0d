//! `gluey bench normalize`: how fast the normalizer drains a realistic raw topic, next to the
//! ceiling measured in the same run on the same broker: a plain rdkafka consume → produce
//! passthrough that writes the same number and size of records. Prints both rates and the ratio.
//!
//! The mix: payloads of several carriers (FedEx push and poll, UPS, DHL, Royal Mail, USPS, the
//! direct format) taken from the carrier fixtures with fresh tracking numbers, every shipment
//! registered; about 30% of raw records are re-polled duplicates and about 1% garbage.

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
use gluey_ops::Health;
use prometheus::Registry;
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message;
use tokio_util::sync::CancellationToken;

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
}

/// (format, carrier, fixture) templates; each is copied with fresh tracking numbers.
const TEMPLATES: &[(&str, &str, &[u8])] = &[
    (
        "fedex.aiv",
        "fedex",
        include_bytes!("../carriers/tests/fixtures/fedex.aiv/example_track_api.json"),
    ),
    (
        "fedex.track",
        "fedex",
        include_bytes!("../carriers/tests/fixtures/fedex.track/example_track_api.json"),
    ),
    (
        "ups.track",
        "ups",
        include_bytes!("../carriers/tests/fixtures/ups.track/example.json"),
    ),
    (
        "dhl.unified",
        "dhl",
        include_bytes!("../carriers/tests/fixtures/dhl.unified/carriers_md_example.json"),
    ),
    (
        "royalmail.v2",
        "royalmail",
        include_bytes!("../carriers/tests/fixtures/royalmail.v2/events_example.json"),
    ),
    (
        "usps.v3",
        "usps",
        include_bytes!("../carriers/tests/fixtures/usps.v3/example_out_for_delivery.json"),
    ),
    (
        "direct.v1",
        "acme-couriers",
        include_bytes!("../carriers/tests/fixtures/direct.v1/journey.json"),
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
    output_bytes: usize,
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
        output_bytes: 0,
    })
}

async fn produce_all(
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
    match &embedded {
        Some(broker) => {
            broker.create_topics(&topics, args.partitions)?;
            broker.create_topic(
                &format!("{}bench.passthrough.v1", topics.prefix()),
                args.partitions,
            )?;
        }
        None => {
            gluey_kafka::create_topics(&kafka, &topics, args.partitions, 1).await?;
        }
    }
    let codec = Arc::new(Codec::without_registry()?);
    println!(
        "gluey bench normalize: {} distinct raw records, {} partitions, broker {bootstrap}",
        args.records, args.partitions
    );
    let mut work = build_workload(&codec, &topics, args.records).await?;
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
        "  loaded {} raw records ({} garbage), {} shipments registered; {} canonical records expected",
        work.raw.len(),
        work.garbage,
        work.shipments.len(),
        work.expected_outputs
    );

    // The normalizer, in this process, on the loaded topic.
    let shutdown = CancellationToken::new();
    let config = gluey_normalizer::NormalizerConfig {
        topics: topics.clone(),
        group_id: format!("{}normalizer", topics.prefix()),
        produce_timeout: Duration::from_secs(30),
        retry_backoff: Duration::from_millis(200),
        park_window: Duration::from_secs(3600),
        park_sweep_interval: Duration::from_secs(60),
        expire_after: Duration::from_secs(30 * 24 * 3600),
        max_batch: args.max_batch,
    };
    let registry = Registry::new();
    let started = Instant::now();
    let normalizer = tokio::spawn({
        let (kafka, codec, shutdown, registry) = (
            kafka.clone(),
            codec.clone(),
            shutdown.clone(),
            registry.clone(),
        );
        async move {
            gluey_normalizer::run_normalizer(
                config,
                &kafka,
                codec,
                &registry,
                Health::new(),
                shutdown,
            )
            .await
        }
    });
    // Done when every raw record is accounted for (counted only after its outputs are acked);
    // read from the in-process metrics so measuring costs nothing.
    let until = Instant::now() + Duration::from_secs(600);
    while accounted(&registry) < work.raw.len() as u64 {
        anyhow::ensure!(
            Instant::now() < until,
            "the normalizer did not drain the raw topic within 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let normalizer_secs = started.elapsed().as_secs_f64();
    wait_until(
        &kafka,
        &topics.events(),
        work.expected_outputs as i64,
        Duration::from_secs(60),
    )
    .await?;
    shutdown.cancel();
    let _ = normalizer.await;

    // The ceiling: consume the same raw records, write as many records of the same size as the
    // normalizer wrote, with the same producer settings.
    let events = read_sizes(&kafka, &topics.events()).await?;
    work.output_bytes = events;
    let avg = (work.output_bytes / work.expected_outputs.max(1)).max(1);
    let passthrough_topic = format!("{}bench.passthrough.v1", topics.prefix());
    let started = Instant::now();
    passthrough(
        &kafka,
        &topics.raw(),
        &passthrough_topic,
        work.raw.len(),
        work.expected_outputs,
        avg,
    )
    .await?;
    let passthrough_secs = started.elapsed().as_secs_f64();

    let rate = |secs: f64| work.raw.len() as f64 / secs.max(1e-9);
    println!(
        "  normalizer   {:>9.0} raw records/s  ({:.2} s)",
        rate(normalizer_secs),
        normalizer_secs
    );
    println!("  passthrough  {:>9.0} raw records/s  ({:.2} s)  ceiling: plain consume → produce, same records out", rate(passthrough_secs), passthrough_secs);
    println!(
        "  ratio        {:>9.1} %  (target ≥ 70 %)",
        100.0 * passthrough_secs / normalizer_secs.max(1e-9)
    );
    Ok(())
}

/// Raw records the normalizer has finished with, by its own counter.
fn accounted(registry: &Registry) -> u64 {
    registry
        .gather()
        .iter()
        .filter(|family| family.name() == "normalizer_raw_records_total")
        .flat_map(|family| family.get_metric())
        .map(|m| m.get_counter().get_value() as u64)
        .sum()
}

async fn read_sizes(kafka: &KafkaSettings, topic: &str) -> anyhow::Result<usize> {
    let consumer: StreamConsumer = kafka
        .consumer_config(&format!("bench-sizes-{}", std::process::id()))
        .create()?;
    consumer.subscribe(&[topic])?;
    let (total, _) = {
        let (kafka, t) = (kafka.clone(), topic.to_string());
        tokio::task::spawn_blocking(move || topic_totals(&kafka, &t)).await??
    };
    let mut bytes = 0;
    for _ in 0..total {
        let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await??;
        bytes += m.payload().map(<[u8]>::len).unwrap_or(0);
    }
    Ok(bytes)
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
