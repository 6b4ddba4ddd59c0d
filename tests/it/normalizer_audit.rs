//! Audits of the normalizer's promises (DESIGN.md, "Delivery semantics"), end to end on a real
//! Kafka-protocol broker, with raw records produced straight to `tracking.raw.v1` as ingest would
//! write them: the same FedEx history arriving by webhook, poll and file, shuffled and repeated,
//! lands once per real event in increasing sequence, with the status sticky after delivery; and
//! ten thousand events survive repeated SIGKILLs with every raw record accounted for as the
//! source of a canonical record, a dead letter, or a duplicate of what was already published.

use crate::support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::support::pipeline::Pipeline;
use crate::support::{topics, Receiver};
use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, Utc};
use gluey::dev::fedex_simulator::{aiv_payload, FedexScan};
use gluey_carriers::{ParsedRecord, RawInput};
use gluey_contract::{
    shipment_key, CanonicalRecord, Codec, DeadLetter, RawEnvelope, Route, SourceReference, Status,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const POST_TERMINAL: &str = "post_terminal";
const OUT_OF_ORDER: &str = "out_of_order";

// ---------------------------------------------------------------------------------------------
// Carrier histories and the raw records ingest would write for them
// ---------------------------------------------------------------------------------------------

/// Where a scan happened, with the local UTC offset of the day.
#[derive(Clone, Copy)]
struct Place {
    city: &'static str,
    state: &'static str,
    postal_code: &'static str,
    offset_hours: i32,
}

const CLOVIS: Place = Place {
    city: "CLOVIS",
    state: "CA",
    postal_code: "93612",
    offset_hours: -7,
};
const MEMPHIS: Place = Place {
    city: "MEMPHIS",
    state: "TN",
    postal_code: "38118",
    offset_hours: -5,
};
const FRESNO: Place = Place {
    city: "FRESNO",
    state: "CA",
    postal_code: "93727",
    offset_hours: -7,
};

fn scan_at(
    event_type: &'static str,
    description: &'static str,
    place: Place,
    at: DateTime<Utc>,
) -> FedexScan {
    let offset = FixedOffset::east_opt(place.offset_hours * 3600).unwrap();
    FedexScan {
        event_type,
        description,
        exception_code: None,
        exception_description: None,
        at: at.with_timezone(&offset),
        city: place.city,
        state: place.state,
        postal_code: place.postal_code,
        country: "US",
    }
}

/// One shipment's history in the order FedEx reveals it. Every snapshot FedEx sends (push, poll
/// answer or file line) holds the first `k` reported scans, newest first on the wire; a scan
/// reported late may be older than scans already reported.
struct History {
    number: String,
    reported: Vec<FedexScan>,
}

impl History {
    fn key(&self) -> String {
        shipment_key("fedex", &self.number)
    }

    /// The `trackResult` after the first `k` reported scans, as an AIV push body.
    fn snapshot(&self, k: usize) -> Vec<u8> {
        let mut scans = self.reported[..k].to_vec();
        scans.sort_by_key(|s| s.at);
        let delivered = scans.iter().any(|s| s.event_type == "DL");
        aiv_payload(&self.number, &scans, None, delivered.then_some("J. DOE"))
    }
}

/// How a snapshot reached ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// An AIV push (`fedex.aiv`, route webhook).
    Webhook,
    /// A Track API poll answer (`fedex.track`, route api).
    Poll,
    /// A line of a file of Track API results picked up from sFTP (`fedex.track`, route sftp).
    File,
}

/// The Track API response around one `trackResult`.
fn track_response(number: &str, track_result: &[u8]) -> Vec<u8> {
    let result: serde_json::Value = serde_json::from_slice(track_result).unwrap();
    serde_json::to_vec(&serde_json::json!({
        "transactionId": "audit",
        "output": {"completeTrackResults": [{"trackingNumber": number, "trackResults": [result]}]},
    }))
    .unwrap()
}

/// The raw envelope ingest writes for snapshot `k` of `history` arriving as `shape`; `n` makes
/// the envelope and source ids unique.
fn envelope(history: &History, k: usize, shape: Shape, n: usize) -> RawEnvelope {
    let snapshot = history.snapshot(k);
    let (format, route, source, payload) = match shape {
        Shape::Webhook => (
            "fedex.aiv",
            Route::Webhook,
            SourceReference {
                request_id: Some(format!("req-{n:06}")),
                ..SourceReference::default()
            },
            snapshot,
        ),
        Shape::Poll => (
            "fedex.track",
            Route::Api,
            SourceReference {
                poll_id: Some(format!("poll-{n:06}")),
                ..SourceReference::default()
            },
            track_response(&history.number, &snapshot),
        ),
        Shape::File => (
            "fedex.track",
            Route::Sftp,
            SourceReference {
                file: Some(format!("/outbound/fedex-track-{:04}.jsonl", n / 100)),
                line: Some((n % 100) as i64 + 1),
                ..SourceReference::default()
            },
            track_response(&history.number, &snapshot),
        ),
    };
    RawEnvelope {
        envelope_id: format!("audit-{n:06}"),
        carrier: "fedex".into(),
        format: format.into(),
        route,
        received_at: Utc::now(),
        content_type: Some("application/json".into()),
        payload,
        source,
        context: BTreeMap::new(),
        shipment_key: Some(history.key()),
        trace_id: gluey_ops::trace::new_traceparent(),
    }
}

/// A raw record to produce: key and value bytes.
struct RawRecord {
    key: String,
    value: Vec<u8>,
}

async fn encode(codec: &Codec, topic: &str, envelope: &RawEnvelope) -> RawRecord {
    RawRecord {
        key: envelope.shipment_key.clone().unwrap(),
        value: codec.encode(topic, envelope).await.unwrap(),
    }
}

/// Produces `records` to `topic` in this order (one idempotent producer keeps each partition in
/// send order) and waits for every acknowledgement.
async fn produce<'a>(
    bootstrap: &str,
    topic: &str,
    records: impl IntoIterator<Item = &'a RawRecord>,
) {
    let producer: FutureProducer = gluey_kafka::KafkaSettings::new(bootstrap)
        .producer_config(Duration::from_secs(60))
        .create()
        .unwrap();
    let mut deliveries = Vec::new();
    for record in records {
        let future = producer
            .send_result(
                FutureRecord::to(topic)
                    .key(record.key.as_str())
                    .payload(record.value.as_slice()),
            )
            .map_err(|(e, _)| e)
            .expect("the producer queue holds every raw record");
        deliveries.push(future);
    }
    for delivery in deliveries {
        delivery
            .await
            .expect("delivery report")
            .expect("raw record acknowledged");
    }
}

/// Registers FedEx shipments of the customer `acme` through the product's registry, concurrently
/// (one at a time would take minutes for thousands).
async fn register_all(p: &Pipeline, numbers: &[String]) {
    let codec = std::sync::Arc::new(Codec::without_registry().unwrap());
    let kafka = gluey_kafka::KafkaSettings::new(p.broker.bootstrap());
    let registry = gluey_kafka::ShipmentRegistry::new(&kafka, codec, &p.topics()).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for number in numbers {
        let (registry, number) = (registry.clone(), number.clone());
        tasks.spawn(async move {
            let registration = gluey_kafka::Registration {
                customer_id: "acme".into(),
                carrier: "fedex".into(),
                tracking_numbers: vec![number],
                ..gluey_kafka::Registration::default()
            };
            registry.register(&registration).await.unwrap();
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// The event ids the FedEx parser derives from a raw envelope (`None`: it does not parse).
fn derived_event_ids(envelope: &RawEnvelope) -> Option<Vec<String>> {
    let format = gluey_carriers::format(&envelope.format)?;
    let parsed = format
        .parse(RawInput {
            carrier: &envelope.carrier,
            payload: &envelope.payload,
            context: &envelope.context,
            received_at: envelope.received_at,
        })
        .ok()?;
    Some(
        parsed
            .records
            .into_iter()
            .filter_map(|r| match r {
                ParsedRecord::Event { event_id, .. } => Some(event_id),
                ParsedRecord::Update { .. } => None,
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// Reading the topics
// ---------------------------------------------------------------------------------------------

/// Every record on `topic`, in (partition, offset) order.
async fn read_sorted(bootstrap: &str, topic: &str, at_least: i64) -> Vec<OwnedMessage> {
    let mut messages = topics::read_all_async(bootstrap, topic, at_least).await;
    messages.sort_by_key(|m| (m.partition(), m.offset()));
    messages
}

fn events_on(p: &Pipeline) -> i64 {
    topics::count(p.broker.bootstrap(), &p.topics().events())
}

/// The offset `group` has committed on each partition of `topic` (`None`: nothing yet), with the
/// partition's high watermark.
fn committed_offsets(bootstrap: &str, group: &str, topic: &str) -> Vec<(Option<i64>, i64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(topic), timeout).unwrap();
    let mut wanted = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        wanted.add_partition(topic, partition.id());
    }
    let committed = consumer.committed_offsets(wanted, timeout).unwrap();
    let mut out: Vec<(i32, Option<i64>, i64)> = committed
        .elements()
        .iter()
        .map(|e| {
            let (_, high) = consumer
                .fetch_watermarks(topic, e.partition(), timeout)
                .unwrap();
            let offset = match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            };
            (e.partition(), offset, high)
        })
        .collect();
    out.sort_by_key(|(p, _, _)| *p);
    out.into_iter().map(|(_, o, h)| (o, h)).collect()
}

/// Waits until the normalizer's group has committed, on every partition of the raw topic, the
/// offset after the last record (every raw record processed); on timeout, says where each
/// partition's commit stands. Returns (committed, high watermark) per partition.
async fn all_raw_committed(
    p: &Pipeline,
    group: &str,
    deadline: Duration,
) -> Result<Vec<(Option<i64>, i64)>, String> {
    let until = Instant::now() + deadline;
    loop {
        let (bootstrap, raw, group) = (
            p.broker.bootstrap().to_string(),
            p.topics().raw(),
            group.to_string(),
        );
        let offsets =
            tokio::task::spawn_blocking(move || committed_offsets(&bootstrap, &group, &raw))
                .await
                .unwrap();
        if offsets
            .iter()
            .all(|(committed, high)| committed.unwrap_or(0) >= *high)
        {
            return Ok(offsets);
        }
        if Instant::now() >= until {
            return Err(format!(
                "raw records not all committed within {deadline:?}; (committed, high watermark) \
                 per partition: {offsets:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sum of `normalizer_raw_records_total` by outcome.
fn raw_outcomes(metrics: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("normalizer_raw_records_total{"))
    {
        let outcome = line
            .split("outcome=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default()
            .to_string();
        let value: u64 = line
            .split_whitespace()
            .last()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        *out.entry(outcome).or_insert(0) += value;
    }
    out
}

/// Records of each shipment, in topic order (a shipment lives in one partition).
fn by_shipment(records: &[CanonicalRecord]) -> BTreeMap<String, Vec<&CanonicalRecord>> {
    let mut out: BTreeMap<String, Vec<&CanonicalRecord>> = BTreeMap::new();
    for r in records {
        out.entry(r.shipment_key.clone()).or_default().push(r);
    }
    out
}

/// Violations of "each real event once, in order": a (record_id, revision) twice, a revision
/// above 1 (every copy of a scan is identical, so nothing is ever republished), a `sequence` not
/// strictly increasing per shipment in topic order.
fn once_and_ordered(records: &[CanonicalRecord]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for r in records {
        let at = (r.raw_ref.partition, r.raw_ref.offset);
        if !seen.insert((r.record_id.clone(), r.revision)) {
            problems.push(format!(
                "published twice: {} r{} ({}, from raw {at:?})",
                r.record_id, r.revision, r.shipment_key
            ));
        }
        if r.revision != 1 {
            problems.push(format!(
                "{} republished at revision {} although every copy of the scan is identical",
                r.record_id, r.revision
            ));
        }
        if r.shipment.sequence != r.sequence {
            problems.push(format!(
                "{}: summary sequence {} on record sequence {}",
                r.record_id, r.shipment.sequence, r.sequence
            ));
        }
    }
    for (key, mine) in by_shipment(records) {
        let sequences: Vec<i64> = mine.iter().map(|r| r.sequence).collect();
        if !(sequences.windows(2).all(|w| w[0] < w[1]) && sequences[0] > 0) {
            problems.push(format!(
                "{key}: sequence not strictly increasing in topic order: {sequences:?}"
            ));
        }
    }
    problems
}

/// Fails with every violation found (the first 40 spelled out).
fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} violations, first {}:\n{}",
        problems.len(),
        problems.len().min(40),
        problems[..problems.len().min(40)].join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// 1. One history through webhook, poll and file
// ---------------------------------------------------------------------------------------------

/// What the scenario of test 1 holds for one shipment.
struct Scenario {
    history: History,
    /// An in-transit scan after the delivery (in carrier time and in reporting).
    late_scan: bool,
}

fn scenario(i: usize) -> Scenario {
    let number = format!("7949{:08}", 10_000 + i);
    let start = DateTime::parse_from_rfc3339("2024-05-06T07:00:00-07:00")
        .unwrap()
        .with_timezone(&Utc)
        + ChronoDuration::minutes(37 * i as i64);
    let h = ChronoDuration::hours;
    let mut reported = vec![
        scan_at("PU", "Picked up", CLOVIS, start),
        scan_at("AR", "Arrived at FedEx location", MEMPHIS, start + h(9)),
        scan_at("DP", "Departed FedEx location", MEMPHIS, start + h(12)),
    ];
    if i % 4 == 1 {
        // Backfilled by FedEx after the departure, though it happened before the arrival.
        reported.push(scan_at("IT", "In transit", CLOVIS, start + h(3)));
    }
    reported.extend([
        scan_at("OD", "On FedEx vehicle for delivery", FRESNO, start + h(20)),
        scan_at("DL", "Delivered", FRESNO, start + h(24)),
    ]);
    let late_scan = i % 3 == 0;
    if late_scan {
        reported.push(scan_at(
            "AR",
            "Arrived at FedEx location",
            FRESNO,
            start + h(26),
        ));
    }
    Scenario {
        history: History { number, reported },
        late_scan,
    }
}

/// Checks the status rules (transform.rs, docs/topics.md) on one shipment's records in topic
/// order: an event older than the latest known one is flagged `out_of_order` and keeps the
/// status; after delivery a newer scan is flagged `post_terminal` and keeps it; any other event
/// sets the status. Returns (out_of_order, post_terminal) counts.
fn assert_status_rules(key: &str, mine: &[&CanonicalRecord]) -> (usize, usize) {
    let (mut latest, mut terminal, mut status) = (None::<DateTime<Utc>>, false, None::<Status>);
    let (mut out_of_order, mut post_terminal) = (0, 0);
    for r in mine {
        let event = r
            .event
            .as_ref()
            .expect("only tracking events in this history");
        let flagged = |f: &str| event.flags.iter().any(|x| x == f);
        let code = &event.carrier_code;
        if latest.is_some_and(|t| event.occurred_at < t) {
            assert!(
                flagged(OUT_OF_ORDER) || (terminal && flagged(POST_TERMINAL)),
                "{key}: {code} at {} is older than the latest event ({latest:?}) but flagged {:?}",
                event.occurred_at,
                event.flags
            );
            assert_eq!(
                Some(r.shipment.status),
                status,
                "{key}: an older event keeps the status"
            );
            out_of_order += usize::from(flagged(OUT_OF_ORDER));
            post_terminal += usize::from(flagged(POST_TERMINAL));
        } else if terminal {
            assert!(
                flagged(POST_TERMINAL),
                "{key}: {code} after delivery must be flagged post_terminal: {:?}",
                event.flags
            );
            assert_eq!(
                r.shipment.status,
                Status::Delivered,
                "{key}: a scan after delivery does not move the status"
            );
            post_terminal += 1;
        } else {
            assert!(
                event.flags.is_empty(),
                "{key}: {code} is the newest event yet flagged {:?}",
                event.flags
            );
            assert_eq!(
                r.shipment.status, event.status,
                "{key}: the newest event sets the status"
            );
            latest = Some(event.occurred_at);
        }
        terminal = r.shipment.terminal;
        status = Some(r.shipment.status);
    }
    (out_of_order, post_terminal)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_history_through_webhook_poll_and_file_lands_once() {
    let started = Instant::now();
    let customer = Receiver::customer().await;
    let p = Pipeline::new("audit-routes", &customer);
    let scenarios: Vec<Scenario> = (0..20).map(scenario).collect();
    let numbers: Vec<String> = scenarios.iter().map(|s| s.history.number.clone()).collect();
    p.register(&numbers).await;

    // Every push after each scan, two polls and two file lines per shipment, some snapshots sent
    // twice, all shuffled.
    let mut rng = StdRng::seed_from_u64(0x5eed_0001);
    let mut planned: Vec<(usize, usize, Shape)> = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        let n = s.history.reported.len();
        planned.extend((1..=n).map(|k| (i, k, Shape::Webhook)));
        planned.extend([(i, 2, Shape::Poll), (i, n, Shape::Poll)]);
        planned.extend([(i, 3, Shape::File), (i, n - 1, Shape::File)]);
        if i % 2 == 0 {
            planned.extend([(i, n, Shape::Webhook), (i, 2, Shape::Poll)]);
        }
    }
    planned.shuffle(&mut rng);
    let codec = Codec::without_registry().unwrap();
    let raw_topic = p.topics().raw();
    let mut raw = Vec::new();
    for (n, (i, k, shape)) in planned.iter().enumerate() {
        let envelope = envelope(&scenarios[*i].history, *k, *shape, n);
        raw.push(encode(&codec, &raw_topic, &envelope).await);
    }
    produce(p.broker.bootstrap(), &raw_topic, &raw).await;

    // Ground truth: the distinct real scans, by the ids the parser derives from full histories.
    let mut expected_ids: HashSet<String> = HashSet::new();
    for s in &scenarios {
        let full = envelope(&s.history, s.history.reported.len(), Shape::Webhook, 0);
        expected_ids.extend(derived_event_ids(&full).unwrap());
    }
    let scans: usize = scenarios.iter().map(|s| s.history.reported.len()).sum();
    assert_eq!(
        expected_ids.len(),
        scans,
        "every generated scan has its own id"
    );

    let group = format!("{}normalizer", p.prefix);
    let mut normalizer = p.normalizer().arg("--group-id", &group);
    normalizer.start().await;
    if let Err(stuck) = all_raw_committed(&p, &group, support::DEADLINE).await {
        panic!("{stuck}");
    }

    let outcomes = raw_outcomes(&normalizer.metrics().await);
    assert_eq!(
        outcomes.values().sum::<u64>(),
        raw.len() as u64,
        "every raw record processed once in this run: {outcomes:?}"
    );
    assert!(
        outcomes
            .keys()
            .all(|o| o == "published" || o == "duplicate"),
        "nothing parked or dead-lettered: {outcomes:?}"
    );
    let raw_messages = read_sorted(p.broker.bootstrap(), &raw_topic, raw.len() as i64).await;
    let envelopes: HashMap<(i32, i64), RawEnvelope> = raw_messages
        .iter()
        .zip(topics::decode_all::<RawEnvelope>(&raw_messages).await)
        .map(|(m, e)| ((m.partition(), m.offset()), e))
        .collect();
    let events = p.topics().events();
    let records: Vec<CanonicalRecord> =
        topics::decode_all(&read_sorted(p.broker.bootstrap(), &events, 0).await).await;

    assert_no_problems("events topic", &once_and_ordered(&records));
    let published: HashSet<String> = records.iter().map(|r| r.record_id.clone()).collect();
    let missing: Vec<&String> = expected_ids.difference(&published).collect();
    let foreign: Vec<&String> = published.difference(&expected_ids).collect();
    assert!(
        missing.is_empty() && foreign.is_empty(),
        "{} scans never published (e.g. {:?}); {} published ids are no scan (e.g. {:?})",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        foreign.len(),
        foreign.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(records.len(), scans, "each real event exactly once");
    for r in &records {
        let source = &envelopes[&(r.raw_ref.partition, r.raw_ref.offset)];
        assert_eq!(r.raw_ref.topic, raw_topic);
        assert_eq!(
            r.raw_ref.envelope_id, source.envelope_id,
            "raw_ref points at its raw record"
        );
        assert_eq!(r.route, source.route, "the route is the raw record's");
        assert!(
            derived_event_ids(source).unwrap().contains(&r.record_id),
            "{} is in the raw record it names",
            r.record_id
        );
    }

    let (mut out_of_order, mut post_terminal) = (0, 0);
    let grouped = by_shipment(&records);
    for s in &scenarios {
        let key = s.history.key();
        let mine = &grouped[&key];
        assert_eq!(
            mine.len(),
            s.history.reported.len(),
            "{key}: one record per scan"
        );
        let (o, t) = assert_status_rules(&key, mine);
        out_of_order += o;
        post_terminal += t;
        let last = mine.last().unwrap();
        assert_eq!(
            last.shipment.status,
            Status::Delivered,
            "{key}: delivered in the end"
        );
        if s.late_scan {
            let delivered_at = mine
                .iter()
                .filter_map(|r| r.event.as_ref())
                .find(|e| e.carrier_code == "DL")
                .unwrap()
                .occurred_at;
            let late: Vec<&CanonicalRecord> = mine
                .iter()
                .copied()
                .filter(|r| {
                    r.event
                        .as_ref()
                        .is_some_and(|e| e.carrier_code == "AR" && e.occurred_at > delivered_at)
                })
                .collect();
            assert_eq!(late.len(), 1, "{key}: the late scan is published once");
            let flags = &late[0].event.as_ref().unwrap().flags;
            assert!(
                flags
                    .iter()
                    .any(|f| f == POST_TERMINAL || f == OUT_OF_ORDER),
                "{key}: the scan after delivery is flagged: {flags:?}"
            );
            assert_eq!(late[0].shipment.status, Status::Delivered);
            assert!(late[0].shipment.terminal);
        }
    }
    assert!(
        post_terminal >= scenarios.iter().filter(|s| s.late_scan).count(),
        "every late scan recorded as post-terminal ({post_terminal})"
    );
    assert!(
        out_of_order > 0,
        "the seeded shuffle delivers some backfilled scan after a newer one"
    );
    let routes: HashSet<Route> = records.iter().map(|r| r.route).collect();
    for route in [Route::Webhook, Route::Api, Route::Sftp] {
        assert!(
            routes.contains(&route),
            "some event first arrived by {route:?}: {routes:?}"
        );
    }
    eprintln!(
        "audit-routes: {} raw records ({outcomes:?}) -> {} events ({out_of_order} out_of_order, \
         {post_terminal} post_terminal) in {:?}",
        raw.len(),
        records.len(),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Ten thousand events, repeated SIGKILLs, a full audit
// ---------------------------------------------------------------------------------------------

const SHIPMENTS: usize = 2_500;
const SCANS_PER_SHIPMENT: usize = 4;
const KILLS: usize = 5;
/// Bounds each stage of the run (about ten seconds alone on two cores; the whole suite may run
/// beside it).
const STAGE_DEADLINE: Duration = Duration::from_secs(120);

fn bulk_history(i: usize) -> History {
    let start = DateTime::parse_from_rfc3339("2024-06-03T06:00:00-07:00")
        .unwrap()
        .with_timezone(&Utc)
        + ChronoDuration::minutes(i as i64);
    let h = ChronoDuration::hours;
    History {
        number: format!("7950{:08}", 20_000 + i),
        reported: vec![
            scan_at("PU", "Picked up", CLOVIS, start),
            scan_at("AR", "Arrived at FedEx location", MEMPHIS, start + h(9)),
            scan_at("DP", "Departed FedEx location", MEMPHIS, start + h(12)),
            scan_at("OD", "On FedEx vehicle for delivery", FRESNO, start + h(20)),
        ],
    }
}

/// What a produced raw record is, for the audit's cross-checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Made {
    Snapshot,
    NotAnEnvelope,
    MalformedJson,
}

/// A raw record as the audit sees it.
enum Audited {
    /// An envelope that parses, with the event ids the parser derives from it.
    Real {
        envelope_id: String,
        ids: Vec<String>,
    },
    /// Not processable: the dead-letter stage it must end in.
    Garbage { stage: &'static str },
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_survive_repeated_sigkills_and_audit_clean() {
    let started = Instant::now();
    let customer = Receiver::customer().await;
    let p = Pipeline::new("audit-sigkill", &customer);
    let histories: Vec<History> = (0..SHIPMENTS).map(bulk_history).collect();
    let numbers: Vec<String> = histories.iter().map(|h| h.number.clone()).collect();
    register_all(&p, &numbers).await;
    let registered_in = started.elapsed();

    // A snapshot after every scan, arriving roughly as the histories grow; ~30% of them sent
    // again later; ~1% garbage in between.
    let mut rng = StdRng::seed_from_u64(0x5eed_0002);
    let mut planned: Vec<(u64, usize, usize, Shape)> = Vec::new();
    for i in 0..SHIPMENTS {
        for k in 1..=SCANS_PER_SHIPMENT {
            let shape = match rng.random_range(0..20) {
                0..12 => Shape::Webhook,
                12..17 => Shape::Poll,
                _ => Shape::File,
            };
            let at = k as u64 * 1_000 + rng.random_range(0..1_000);
            planned.push((at, i, k, shape));
            if rng.random_bool(0.3) {
                planned.push((at + rng.random_range(1..2_500), i, k, shape));
            }
        }
    }
    let garbage = planned.len() / 100;
    let codec = Codec::without_registry().unwrap();
    let raw_topic = p.topics().raw();
    let mut made: Vec<(u64, Made, RawRecord)> = Vec::new();
    for (n, (at, i, k, shape)) in planned.iter().enumerate() {
        let envelope = envelope(&histories[*i], *k, *shape, n);
        made.push((
            *at,
            Made::Snapshot,
            encode(&codec, &raw_topic, &envelope).await,
        ));
    }
    for g in 0..garbage {
        let n = planned.len() + g;
        let at = rng.random_range(1_000..5_500);
        let history = &histories[rng.random_range(0..SHIPMENTS)];
        if g % 2 == 0 {
            let record = RawRecord {
                key: history.key(),
                value: format!("garbage #{g}: these bytes are not an avro raw envelope")
                    .into_bytes(),
            };
            made.push((at, Made::NotAnEnvelope, record));
        } else {
            let mut envelope = envelope(history, SCANS_PER_SHIPMENT, Shape::Webhook, n);
            envelope.payload.truncate(envelope.payload.len() / 2);
            let record = encode(&codec, &raw_topic, &envelope).await;
            made.push((at, Made::MalformedJson, record));
        }
    }
    made.sort_by_key(|(at, _, _)| *at);
    produce(
        p.broker.bootstrap(),
        &raw_topic,
        made.iter().map(|(_, _, r)| r),
    )
    .await;
    let produced_in = started.elapsed();
    let expected = (SHIPMENTS * SCANS_PER_SHIPMENT) as i64;

    // Kill it mid-run again and again, each time once it has got a little further.
    let pr = &p;
    let group = format!("{}normalizer", p.prefix);
    let mut normalizer = p
        .normalizer()
        .arg("--group-id", &group)
        .arg("--kafka-property", "session.timeout.ms=3000")
        .arg("--kafka-property", "heartbeat.interval.ms=500");
    let mut at_kills = Vec::new();
    for kill in 1..=KILLS {
        normalizer.start().await;
        let target = expected * kill as i64 / (KILLS as i64 + 1);
        support::wait_for(
            &format!("{target} events published before kill {kill}"),
            STAGE_DEADLINE,
            move || async move { (events_on(pr) >= target).then_some(()) },
        )
        .await;
        normalizer.kill();
        let published = events_on(&p);
        assert!(
            published < expected,
            "kill {kill} happened mid-run ({published} of {expected} published)"
        );
        let committed = committed_offsets(p.broker.bootstrap(), &group, &raw_topic);
        at_kills.push(format!(
            "{published} events, raw committed to {committed:?}"
        ));
    }
    normalizer.start().await;
    let finished = all_raw_committed(&p, &group, 2 * STAGE_DEADLINE).await;
    let processed_in = started.elapsed();

    let bootstrap = p.broker.bootstrap();
    let raw_messages = read_sorted(bootstrap, &raw_topic, made.len() as i64).await;
    assert_eq!(raw_messages.len(), made.len());
    let events: Vec<CanonicalRecord> =
        topics::decode_all(&read_sorted(bootstrap, &p.topics().events(), 0).await).await;
    let letters: Vec<DeadLetter> =
        topics::decode_all(&read_sorted(bootstrap, &p.topics().deadletter(), 0).await).await;
    let audit = audit(&raw_topic, &raw_messages, &events, &letters).await;

    let made_count = |kind: Made| made.iter().filter(|(_, k, _)| *k == kind).count();
    assert_eq!(audit.garbage_at("decode"), made_count(Made::NotAnEnvelope));
    assert_eq!(audit.garbage_at("parse"), made_count(Made::MalformedJson));
    assert_eq!(
        audit.scans, expected as usize,
        "the raw records hold exactly the generated scans"
    );
    let summary = format!(
        "{} raw records = {} sources + {} duplicates + {} dead-lettered ({} dead letters); {} \
         events, {} distinct; at the kills: {at_kills:#?}",
        raw_messages.len(),
        audit.sources,
        audit.duplicates,
        audit.dead_lettered,
        letters.len(),
        events.len(),
        audit.distinct_published,
    );
    let mut problems = audit.problems;
    match finished {
        Err(stuck) => problems.insert(0, stuck),
        Ok(offsets) => {
            for (partition, (committed, high)) in offsets.iter().enumerate() {
                if committed.unwrap_or(0) != *high {
                    problems.insert(
                        0,
                        format!(
                            "raw partition {partition}: committed offset {committed:?} is past \
                             the high watermark {high} (the next start would skip a record)"
                        ),
                    );
                }
            }
        }
    }
    if audit.distinct_published != audit.scans {
        problems.insert(
            0,
            format!(
                "{} distinct events published, {} distinct real scans",
                audit.distinct_published, audit.scans
            ),
        );
    }
    for (key, mine) in by_shipment(&events) {
        let last = mine.last().map(|r| r.sequence).unwrap_or_default();
        if last != SCANS_PER_SHIPMENT as i64 {
            problems.push(format!("{key}: last sequence {last}"));
        }
    }
    assert_no_problems(&format!("audit ({summary})"), &problems);
    assert_eq!(
        events.len() as i64,
        expected,
        "each real event exactly once"
    );
    eprintln!(
        "audit-sigkill: {summary}; registered in {registered_in:?}, produced by {produced_in:?}, \
         processed by {processed_in:?}, audited by {:?}",
        started.elapsed()
    );
}

/// What the audit found.
struct Audit {
    /// Garbage raw records by the dead-letter stage they call for.
    garbage: BTreeMap<&'static str, usize>,
    /// Distinct real scans in the raw records, by the parser's ids.
    scans: usize,
    distinct_published: usize,
    sources: usize,
    duplicates: usize,
    dead_lettered: usize,
    problems: Vec<String>,
}

impl Audit {
    fn garbage_at(&self, stage: &str) -> usize {
        self.garbage.get(stage).copied().unwrap_or(0)
    }
}

/// Accounts for every raw record: the source of canonical records, a dead letter, or a
/// duplicate whose scans were all published from earlier raw records of its partition; and
/// checks the events and dead-letter topics against the raw records.
async fn audit(
    raw_topic: &str,
    raw: &[OwnedMessage],
    events: &[CanonicalRecord],
    letters: &[DeadLetter],
) -> Audit {
    let codec = Codec::without_registry().unwrap();
    let mut problems = once_and_ordered(events);
    let mut audited: BTreeMap<(i32, i64), (Audited, &OwnedMessage)> = BTreeMap::new();
    let mut scans: HashSet<String> = HashSet::new();
    let mut garbage = BTreeMap::new();
    for m in raw {
        let verdict = match codec
            .decode::<RawEnvelope>(m.payload().unwrap_or_default())
            .await
        {
            Err(_) => Audited::Garbage { stage: "decode" },
            Ok(envelope) => match derived_event_ids(&envelope) {
                None => Audited::Garbage { stage: "parse" },
                Some(ids) => {
                    scans.extend(ids.iter().cloned());
                    Audited::Real {
                        envelope_id: envelope.envelope_id,
                        ids,
                    }
                }
            },
        };
        if let Audited::Garbage { stage } = verdict {
            *garbage.entry(stage).or_insert(0) += 1;
        }
        audited.insert((m.partition(), m.offset()), (verdict, m));
    }

    // Each canonical record points at a real raw record that holds its scan.
    let mut published_from: HashMap<&str, (i32, i64)> = HashMap::new();
    let mut sources: HashSet<(i32, i64)> = HashSet::new();
    for r in events {
        let at = (r.raw_ref.partition, r.raw_ref.offset);
        match audited.get(&at) {
            Some((Audited::Real { envelope_id, ids }, _))
                if r.raw_ref.topic == raw_topic
                    && &r.raw_ref.envelope_id == envelope_id
                    && ids.contains(&r.record_id) => {}
            _ => problems.push(format!(
                "{} names raw {}/{at:?} ({}), which does not hold it",
                r.record_id, r.raw_ref.topic, r.raw_ref.envelope_id
            )),
        }
        published_from.entry(&r.record_id).or_insert(at);
        sources.insert(at);
    }

    let mut letters_at: BTreeMap<(i32, i64), Vec<&DeadLetter>> = BTreeMap::new();
    for letter in letters {
        if letter.source_topic != raw_topic {
            problems.push(format!("dead letter from {}", letter.source_topic));
        }
        letters_at
            .entry((letter.source_partition, letter.source_offset))
            .or_default()
            .push(letter);
    }

    let (mut as_source, mut as_duplicate, mut as_dead_letter) = (0, 0, 0);
    let mut lost: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for (at, (verdict, message)) in &audited {
        match verdict {
            Audited::Real { ids, .. } => {
                if let Some(mine) = letters_at.get(at) {
                    problems.push(format!(
                        "real raw record {at:?} dead-lettered: {}",
                        mine[0].reason
                    ));
                }
                // Every scan it holds was published from it or from an earlier raw record.
                for id in ids {
                    match published_from.get(id.as_str()) {
                        None => *lost.entry(*at).or_insert(0) += 1,
                        Some(from) if from.0 == at.0 && from.1 <= at.1 => {}
                        Some(from) => problems.push(format!(
                            "raw {at:?} unaccounted for: it holds {id}, first published from \
                             the later raw record {from:?}"
                        )),
                    }
                }
                if sources.contains(at) {
                    as_source += 1;
                } else {
                    as_duplicate += 1;
                }
            }
            Audited::Garbage { stage } => {
                let Some(mine) = letters_at.get(at) else {
                    problems.push(format!("garbage raw record {at:?} not dead-lettered"));
                    continue;
                };
                let first = mine[0];
                if first.stage != *stage
                    || (*stage == "parse" && !first.reason.contains("not valid JSON"))
                {
                    problems.push(format!(
                        "raw {at:?} dead-lettered at {} ({}), expected stage {stage}",
                        first.stage, first.reason
                    ));
                }
                if first.payload != message.payload().unwrap_or_default()
                    || first.source_key.as_deref() != message.key()
                {
                    problems.push(format!(
                        "dead letter of raw {at:?} does not keep its key and bytes"
                    ));
                }
                let same = |l: &&DeadLetter| {
                    (&l.stage, &l.reason, &l.payload, &l.source_key)
                        == (
                            &first.stage,
                            &first.reason,
                            &first.payload,
                            &first.source_key,
                        )
                };
                if !mine.iter().all(same) {
                    problems.push(format!("repeated dead letters for raw {at:?} differ"));
                }
                as_dead_letter += 1;
            }
        }
    }
    for at in letters_at.keys().filter(|at| !audited.contains_key(at)) {
        problems.push(format!("dead letter for {at:?}, which is no raw record"));
    }
    if !lost.is_empty() {
        problems.insert(
            0,
            format!(
                "{} scans of {} raw records never published; raw records losing scans, by \
                 partition: {}",
                lost.values().sum::<usize>(),
                lost.len(),
                ranges(lost.keys().copied())
            ),
        );
    }
    Audit {
        garbage,
        scans: scans.len(),
        distinct_published: published_from.len(),
        sources: as_source,
        duplicates: as_duplicate,
        dead_lettered: as_dead_letter,
        problems,
    }
}

/// `(partition, offset)`s as `p0: 10-12, 40; p1: 7` (ascending input).
fn ranges(at: impl Iterator<Item = (i32, i64)>) -> String {
    let mut out: BTreeMap<i32, Vec<(i64, i64)>> = BTreeMap::new();
    for (partition, offset) in at {
        let runs = out.entry(partition).or_default();
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == offset => *end = offset,
            _ => runs.push((offset, offset)),
        }
    }
    out.iter()
        .map(|(p, runs)| {
            let runs: Vec<String> = runs
                .iter()
                .map(|(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                })
                .collect();
            format!("p{p}: {}", runs.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}
