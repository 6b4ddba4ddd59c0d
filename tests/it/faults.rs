//! The pipeline on real brokers that are broken on purpose, each test on a cluster of its own
//! (`scripts/kafka-broker`), so no other test is disturbed; and the TLS and SASL settings the
//! README promises, passed through `GLUEY_KAFKA_PROPERTIES` to a SASL_SSL (SCRAM) listener.

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::pipeline::{history_payload, Pipeline};
use crate::support::{self, topics, wait_for, Receiver, DEADLINE};
use gluey::dev::fedex_simulator::sign;
use gluey_contract::CanonicalRecord;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_runs_over_sasl_ssl_and_wrong_credentials_fail_at_start_up() {
    let customer = Receiver::customer().await;
    let number = "794600000001".to_string();
    let p = Pipeline::builder("sasl").customer(&customer).sasl().start();
    p.register(std::slice::from_ref(&number)).await;
    let (mut ingest, mut normalizer, mut dispatcher) = (p.ingest(), p.normalizer(), p.dispatcher());
    ingest.start().await;
    normalizer.start().await;
    dispatcher.start().await;
    p.push_history(&number, &[("OD", "On FedEx vehicle for delivery")], 1)
        .await;
    let delivered = customer.wait_for(1).await;
    assert_eq!(
        delivered[0].json()["data"]["shipment"]["tracking_number"],
        number
    );
    for service in [&ingest, &normalizer, &dispatcher] {
        assert!(
            !service.log().contains("sasl.password"),
            "no credential in the log"
        );
    }

    // The same listener with a wrong password: the service stops at start-up and says why.
    let sasl = p.broker.sasl().unwrap();
    let wrong = sasl
        .gluey_kafka_properties()
        .split(';')
        .map(|kv| {
            if kv.starts_with("sasl.password=") {
                "sasl.password=not-the-password".to_string()
            } else {
                kv.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(";");
    let out = Command::new(env!("CARGO_BIN_EXE_gluey"))
        .args(["normalize", "--kafka-bootstrap", &sasl.bootstrap])
        .args(["--topic-prefix", &p.prefix])
        .args(["--config", &p.config.display().to_string()])
        .args(["--ops-listen", "127.0.0.1:0"])
        .envs(support::carriers::environment())
        .env("GLUEY_KAFKA_PROPERTIES", &wrong)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused to start: {err}");
    assert!(
        err.contains("gluey: error: the topics this service relies on: Kafka refused this client's credentials")
            && err.contains("SASL authentication error"),
        "the service's own error names the refused authentication: {err}"
    );
    assert!(
        !err.contains("not-the-password"),
        "never the password: {err}"
    );
}

/// What a fault run saw, for the assertions and for the report each test prints.
struct Ledger {
    /// Pushes carriers made, retries of refused ones included.
    pushed: usize,
    /// Pushes answered 503 (Kafka did not acknowledge in time), each retried until accepted.
    refused: usize,
    /// Distinct scans the customer received; the expectation is every scan pushed.
    delivered: usize,
    /// Webhook requests beyond the first per `webhook-id` (at-least-once delivery retries).
    duplicate_webhook_ids: usize,
    /// The longest stretch in which no push was accepted: how long the pipeline took to recover.
    longest_gap: Duration,
    /// From the fault to the last scan reaching the customer.
    fault_to_all_delivered: Duration,
}

const HISTORY: [(&str, &str); 4] = [
    ("PU", "Picked up"),
    ("AR", "Arrived at FedEx location"),
    ("DP", "Departed FedEx location"),
    ("OD", "On FedEx vehicle for delivery"),
];

/// Runs the whole pipeline on `p` while carriers push the growing FedEx history of `shipments`
/// numbers (a snapshot per push, each refused push retried until accepted), and injects `fault`
/// once the customer has received a quarter of the scans. Asserts that every scan reached the
/// customer and that nothing was published twice on `tracking.events.v1`.
async fn stream_through<F, Fut>(
    p: &Pipeline,
    customer: &Receiver,
    shipments: usize,
    fault: F,
) -> Ledger
where
    F: FnOnce(Arc<AtomicUsize>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let numbers: Vec<String> = (0..shipments).map(|i| format!("7948{i:08}")).collect();
    p.register(&numbers).await;
    let (mut ingest, mut normalizer, mut dispatcher) = (p.ingest(), p.normalizer(), p.dispatcher());
    ingest.start().await;
    normalizer.start().await;
    dispatcher.start().await;
    let expected = numbers.len() * HISTORY.len();
    let accepted_at = std::sync::Mutex::new(Vec::<Instant>::new());
    let mut pushed = 0;
    let refused = Arc::new(AtomicUsize::new(0));
    let pushing = async {
        for step in 0..HISTORY.len() {
            for number in &numbers {
                let body = history_payload(number, &HISTORY, step + 1);
                loop {
                    pushed += 1;
                    let status = p
                        .push(&body, &sign(support::FEDEX_SECRET, &body))
                        .await
                        .status();
                    if status == 200 {
                        accepted_at.lock().unwrap().push(Instant::now());
                        break;
                    }
                    assert_eq!(status, 503, "a refused push is 503, never another error");
                    refused.fetch_add(1, Ordering::SeqCst);
                    // The carrier's retry, compressed.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    };
    let injecting = async {
        wait_for("a quarter of the scans delivered", DEADLINE, || {
            let n = customer.distinct_scans();
            async move { (n >= expected / 4).then_some(()) }
        })
        .await;
        let at = Instant::now();
        fault(refused.clone()).await;
        at
    };
    let ((), fault_at) = tokio::join!(pushing, injecting);
    // Delivery after a fault may take the dispatcher's retries: a generous bound.
    wait_for("every scan delivered", Duration::from_secs(180), || {
        let n = customer.distinct_scans();
        async move { (n >= expected).then_some(()) }
    })
    .await;
    let fault_to_all_delivered = fault_at.elapsed();

    let events = topics::decode_all::<CanonicalRecord>(
        &topics::read_all_async(p.broker.bootstrap(), &p.topics().events(), expected as i64).await,
    )
    .await;
    let mut seen = HashSet::new();
    for r in &events {
        assert!(
            seen.insert((r.record_id.clone(), r.revision)),
            "published twice on tracking.events.v1: {} r{}",
            r.record_id,
            r.revision
        );
    }
    assert_eq!(events.len(), expected, "every scan published exactly once");
    assert_eq!(
        customer.distinct_scans(),
        expected,
        "no scan the carrier did not send"
    );
    let mut ids: HashMap<String, usize> = HashMap::new();
    for r in customer.requests() {
        *ids.entry(r.header("webhook-id").to_string()).or_default() += 1;
    }
    let accepted = accepted_at.into_inner().unwrap();
    let longest_gap = accepted
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    for service in [&mut dispatcher, &mut normalizer, &mut ingest] {
        assert!(
            service.running(),
            "the service carried on through the fault without a restart:\n{}",
            service.log()
        );
        service.kill();
    }
    Ledger {
        pushed,
        refused: refused.load(Ordering::SeqCst),
        delivered: customer.distinct_scans(),
        duplicate_webhook_ids: ids.values().map(|n| n - 1).sum(),
        longest_gap,
        fault_to_all_delivered,
    }
}

/// One line per fault run, for the record (nextest shows it with `--no-capture` or on failure).
fn report(test: &str, l: &Ledger) {
    eprintln!(
        "FAULT LEDGER {test}: pushed {} (refused 503: {}), scans delivered {}, duplicate webhook-ids {}, longest gap between accepted pushes {:.1?}, fault to all delivered {:.1?}",
        l.pushed, l.refused, l.delivered, l.duplicate_webhook_ids, l.longest_gap, l.fault_to_all_delivered
    );
}

/// The node leading the most partitions of the raw and events topics.
fn busiest_leader(p: &Pipeline) -> i32 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", p.broker.bootstrap())
        .create()
        .unwrap();
    let metadata = c.fetch_metadata(None, Duration::from_secs(30)).unwrap();
    let mut led: HashMap<i32, usize> = HashMap::new();
    for topic in metadata.topics() {
        if topic.name() == p.topics().raw() || topic.name() == p.topics().events() {
            for partition in topic.partitions() {
                *led.entry(partition.leader()).or_default() += 1;
            }
        }
    }
    led.into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(id, _)| id)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_broker_restarted_loses_no_push_and_publishes_nothing_twice() {
    let customer = Receiver::customer().await;
    let p = Pipeline::builder("fault-kill1")
        .customer(&customer)
        .cluster(1, &[])
        .start();
    let broker = &p.broker;
    let ledger = stream_through(&p, &customer, 20, |refused| async move {
        broker.node("kill", 1);
        // Down until ingest has answered 503 (its produce timeout is 2 s) to a few pushes.
        let before = refused.load(Ordering::SeqCst);
        wait_for("ingest refusing while the broker is down", DEADLINE, || {
            let n = refused.load(Ordering::SeqCst);
            async move { (n >= before + 3).then_some(()) }
        })
        .await;
        broker.node("restart", 1);
    })
    .await;
    report("single node SIGKILL + restart", &ledger);
    assert!(
        ledger.refused > 0,
        "pushes were refused (503) while it was down"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partition_leader_sigkilled_in_a_three_node_cluster_loses_nothing() {
    let customer = Receiver::customer().await;
    let p = Pipeline::builder("fault-leader")
        .customer(&customer)
        .cluster(3, &[])
        .start();
    let ledger = stream_through(&p, &customer, 20, |_| async {
        let leader = tokio::task::block_in_place(|| busiest_leader(&p));
        p.broker.node("kill", leader);
    })
    .await;
    report("three nodes, leader SIGKILL", &ledger);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_paused_for_30_seconds_in_a_three_node_cluster_loses_nothing() {
    let customer = Receiver::customer().await;
    let p = Pipeline::builder("fault-pause")
        .customer(&customer)
        .cluster(3, &[])
        .start();
    let ledger = stream_through(&p, &customer, 20, |_| async {
        let leader = tokio::task::block_in_place(|| busiest_leader(&p));
        p.broker.node("pause", leader);
        // The fault is defined by its length: the broker is frozen for 30 s while the pipeline
        // goes on without it.
        tokio::time::sleep(Duration::from_secs(30)).await;
        p.broker.node("resume", leader);
    })
    .await;
    report("three nodes, SIGSTOP 30 s + SIGCONT", &ledger);
}

/// Registers `numbers` for `rounds` rounds, each round overwriting the last (a new shipment id;
/// the customer is `acme` only in the last round), so compaction has superseded values to drop.
async fn register_rounds(p: &Pipeline, numbers: &[String], rounds: usize) {
    let codec = Arc::new(gluey_contract::Codec::without_registry().unwrap());
    let kafka = gluey_kafka::KafkaSettings::new(p.broker.bootstrap());
    let registry = gluey_kafka::ShipmentRegistry::new(&kafka, codec, &p.topics()).unwrap();
    for round in 0..rounds {
        for number in numbers {
            let last = round + 1 == rounds;
            registry
                .register(&gluey_kafka::Registration {
                    customer_id: if last { "acme" } else { "someone-before" }.into(),
                    carrier: "fedex".into(),
                    tracking_numbers: vec![number.clone()],
                    shipment_id: Some(format!("shp-{number}-{round}")),
                    ..gluey_kafka::Registration::default()
                })
                .await
                .unwrap();
        }
    }
}

/// Values per key on the shipments topic, as a reader sees them now.
async fn shipments_per_key(p: &Pipeline) -> HashMap<String, usize> {
    p.values_per_key(p.topics().shipments()).await
}

/// What one restore published for the next scan: (tracking number, sequence, shipment id,
/// customer id) each; and how many events it read from the events topic while restoring.
struct Restored {
    published: Vec<(String, i64, Option<String>, Option<String>)>,
    events_read: f64,
    snapshots_read: f64,
}

/// A normalizer in a new consumer group reads the raw topic from the start, restores from the
/// snapshots and the output after them, and must recognise every raw record as published; then
/// the next scan of each shipment is published once, on its latest registration.
async fn restore_and_publish_next(
    p: &Pipeline,
    group: &str,
    numbers: &[String],
    step: usize,
) -> Restored {
    let events_before = topics::count(p.broker.bootstrap(), &p.topics().events());
    let mut normalizer = p.normalizer().arg("--group-id", group);
    normalizer.start().await;
    let raw = topics::count(p.broker.bootstrap(), &p.topics().raw());
    let duplicates =
        format!("normalizer_raw_records_total{{carrier=\"fedex\",outcome=\"duplicate\"}} {raw}");
    wait_for("every raw record recognised as published", DEADLINE, || {
        let normalizer = &normalizer;
        let duplicates = duplicates.clone();
        async move {
            normalizer
                .metrics()
                .await
                .contains(&duplicates)
                .then_some(())
        }
    })
    .await;
    assert_eq!(
        topics::count(p.broker.bootstrap(), &p.topics().events()),
        events_before,
        "a restored normalizer publishes nothing again"
    );
    let metrics = normalizer.metrics().await;
    let restored = |kind| {
        crate::support::webhooks::metric(
            &metrics,
            "normalizer_restore_records_total",
            &[("kind", kind)],
        )
    };
    let (events_read, snapshots_read) = (restored("event"), restored("snapshot"));
    for number in numbers {
        p.push_history(number, &HISTORY, step).await;
    }
    let records = topics::decode_all::<CanonicalRecord>(
        &topics::read_all_async(
            p.broker.bootstrap(),
            &p.topics().events(),
            events_before + numbers.len() as i64,
        )
        .await,
    )
    .await;
    // Killed only once its snapshots cover everything it published, so the next restore can
    // start from them.
    p.wait_for_snapshots_to_cover_the_events().await;
    normalizer.kill();
    // The events of the scan just pushed (records of all partitions come interleaved).
    let code = HISTORY[step - 1].0;
    let mut published: Vec<_> = records
        .iter()
        .filter(|r| r.event.as_ref().is_some_and(|e| e.carrier_code == code))
        .map(|r| {
            (
                r.tracking_number.clone(),
                r.sequence,
                r.shipment_id.clone(),
                r.customer_id.clone(),
            )
        })
        .collect();
    published.sort();
    Restored {
        published,
        events_read,
        snapshots_read,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normalizer_restored_after_compaction_behaves_as_one_restored_before() {
    let customer = Receiver::customer().await;
    let p = Pipeline::builder("fault-compaction")
        .customer(&customer)
        .compacting_cluster()
        .start();
    p.compact_state_topic_quickly().await;
    let numbers: Vec<String> = (0..10).map(|i| format!("7949{i:08}")).collect();
    register_rounds(&p, &numbers, 5).await;
    let mut ingest = p.ingest();
    ingest.start().await;
    let mut first = p.normalizer();
    first.start().await;
    for number in &numbers {
        p.push_history(number, &HISTORY, 1).await;
    }
    topics::read_all_async(p.broker.bootstrap(), &p.topics().events(), 10).await;
    first.kill();
    let before_compaction = shipments_per_key(&p).await;
    assert!(
        numbers
            .iter()
            .all(|n| before_compaction[&format!("fedex:{n}")] == 5),
        "every round is still on the topic before compaction: {before_compaction:?}"
    );

    let before = restore_and_publish_next(&p, "restored-before", &numbers, 2).await;

    // Keep appending (registrations and snapshots of other numbers, enough to reach every
    // partition) so the active segments roll, until the cleaner has left one value per key.
    let roller: Vec<String> = (0..12).map(|i| format!("7949999999{i:02}")).collect();
    let roller_keys: Vec<String> = roller.iter().map(|n| format!("fedex:{n}")).collect();
    wait_for(
        "the shipments and state topics compacted",
        Duration::from_secs(120),
        || {
            let (p, numbers, roller, roller_keys) = (&p, &numbers, &roller, &roller_keys);
            async move {
                register_rounds(p, roller, 1).await;
                p.roll_state_topic(roller_keys).await;
                let registrations = shipments_per_key(p).await;
                let snapshots = p.values_per_key(p.topics().state()).await;
                numbers
                    .iter()
                    .map(|n| format!("fedex:{n}"))
                    .all(|k| registrations.get(&k) == Some(&1) && snapshots.get(&k) == Some(&1))
                    .then_some(())
            }
        },
    )
    .await;

    // Offsets never shrink: more snapshots were written than there are keys left, so the
    // cleaner really removed superseded ones.
    let snapshots_written = topics::count(p.broker.bootstrap(), &p.topics().state());
    let keys_left = p.values_per_key(p.topics().state()).await.len();
    assert!(
        snapshots_written > keys_left as i64,
        "{snapshots_written} snapshots written, {keys_left} keys left"
    );

    let after = restore_and_publish_next(&p, "restored-after", &numbers, 3).await;
    assert!(
        after.snapshots_read >= numbers.len() as f64 && after.events_read == 0.0,
        "restored from the compacted snapshots alone ({} read), none of the events read again ({} read)",
        after.snapshots_read,
        after.events_read
    );
    let (before, after) = (before.published, after.published);
    assert_eq!(
        before.len(),
        numbers.len(),
        "each shipment's scan once: {before:?}"
    );
    assert_eq!(
        after.len(),
        numbers.len(),
        "each shipment's scan once: {after:?}"
    );
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a.0, b.0);
        assert_eq!(
            (b.1, a.1),
            (2, 3),
            "the sequence goes on: {a:?} after {b:?}"
        );
        assert_eq!(
            (&a.2, &a.3),
            (&b.2, &b.3),
            "the same (latest) registration before and after compaction"
        );
        assert_eq!(a.2.as_deref(), Some(format!("shp-{}-4", a.0).as_str()));
        assert_eq!(a.3.as_deref(), Some("acme"));
    }
}
