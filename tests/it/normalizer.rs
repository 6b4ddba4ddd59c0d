//! The normalizer across instances: partitions move between processes on rebalance, and the
//! instance that takes a partition over restores that partition's shipment state from the output
//! topic before processing, so nothing is published twice and nothing is lost.

use crate::support;

use std::collections::{HashMap, HashSet};

use crate::support::pipeline::{scan, Pipeline};
use crate::support::{topics, Receiver};
use gluey::dev::fedex_simulator::{aiv_payload, sign};
use gluey_contract::CanonicalRecord;

const STEPS: [(&str, &str); 4] = [
    ("PU", "Picked up"),
    ("AR", "Arrived at FedEx location"),
    ("DP", "Departed FedEx location"),
    ("OD", "On FedEx vehicle for delivery"),
];

async fn push_steps(p: &Pipeline, numbers: &[String], steps: std::ops::Range<usize>) {
    for step in steps {
        for number in numbers {
            p.push_history(number, &STEPS, step + 1).await;
        }
    }
}

fn restored_records(log: &str) -> Vec<u64> {
    let field = |line: &str, name: &str| -> Option<u64> {
        line.split(&format!(" {name}="))
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    log.lines()
        .filter(|l| l.contains("shipment state restored"))
        .filter_map(|l| Some(field(l, "snapshots")? + field(l, "events")?))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normalizer_is_ready_once_assigned_and_restored_and_a_spare_one_says_so() {
    let customer = Receiver::customer().await;
    let p = Pipeline::new("readyz", &customer);
    // Four instances for three partitions: one of them is a spare.
    let mut instances: Vec<_> = (0..4)
        .map(|i| {
            p.service(&format!("normalizer-{i}"), &["normalize"])
                .arg("--kafka-property", "session.timeout.ms=3000")
                .arg("--kafka-property", "heartbeat.interval.ms=500")
        })
        .collect();
    for instance in &mut instances {
        // `start` returns at the first 200 from /readyz: by then the group has assigned this
        // instance its partitions (it used to say ready right after subscribing).
        instance.start().await;
        assert!(
            instance.log().contains("partitions assigned"),
            "ready before the group assigned anything:\n{}",
            instance.log()
        );
    }
    let answers = support::wait_for(
        "three partitions consumed and one spare, all ready",
        support::DEADLINE,
        || {
            let instances = &instances;
            async move {
                let mut answers = Vec::new();
                for instance in instances {
                    answers.push(instance.readyz().await);
                }
                let partitions: usize = answers
                    .iter()
                    .filter_map(|(_, body)| {
                        body.strip_prefix("ready: consuming ")?
                            .split(' ')
                            .next()?
                            .parse::<usize>()
                            .ok()
                    })
                    .sum();
                let spares = answers
                    .iter()
                    .filter(|(_, body)| body.contains("no partitions assigned"))
                    .count();
                let all_ready = answers.iter().all(|(status, _)| *status == 200);
                (all_ready && partitions == 3 && spares == 1).then_some(answers)
            }
        },
    )
    .await;
    assert_eq!(answers.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_move_between_instances_without_loss_or_duplicates() {
    let customer = Receiver::customer().await;
    let numbers: Vec<String> = (0..100).map(|i| format!("7948{i:08}")).collect();
    let p = Pipeline::new("rebalance", &customer);
    p.register(&numbers).await;
    let mut ingest = p.ingest();
    ingest.start().await;
    let quick = |name: &str| {
        p.service(name, &["normalize"])
            .arg("--kafka-property", "session.timeout.ms=3000")
            .arg("--kafka-property", "heartbeat.interval.ms=500")
    };
    let (mut a, mut b) = (quick("normalizer-a"), quick("normalizer-b"));
    let events = p.topics().events();
    let bootstrap = p.broker.bootstrap().to_string();
    let published = |at_least: i64| {
        let (bootstrap, events) = (bootstrap.clone(), events.clone());
        async move {
            support::wait_for(
                &format!("{at_least} events published"),
                support::DEADLINE,
                move || {
                    let (bootstrap, events) = (bootstrap.clone(), events.clone());
                    async move { (topics::count(&bootstrap, &events) >= at_least).then_some(()) }
                },
            )
            .await
        }
    };

    a.start().await;
    push_steps(&p, &numbers, 0..1).await;
    published(numbers.len() as i64 / 2).await;
    b.start().await; // the group rebalances: some partitions move to b
    b.wait_for_log("partitions assigned", 1).await;
    // Carriers keep pushing while a is stopped mid-run.
    let pushing = {
        let p = &p;
        let numbers = &numbers;
        async move { push_steps(p, numbers, 1..4).await }
    };
    let stopping = async {
        published(numbers.len() as i64 * 3 / 2).await;
        assert!(
            a.terminate().success(),
            "a stops cleanly, handing its partitions to b:\n{}",
            a.log()
        );
    };
    tokio::join!(pushing, stopping);

    let expected = numbers.len() * STEPS.len();
    let records = topics::decode_all::<CanonicalRecord>(
        &topics::read_all_async(&bootstrap, &events, expected as i64).await,
    )
    .await;
    let mut seen = HashSet::new();
    let mut last: HashMap<String, i64> = HashMap::new();
    for r in &records {
        assert!(
            seen.insert((r.record_id.clone(), r.revision)),
            "published twice: {}",
            r.record_id
        );
        let previous = last.insert(r.shipment_key.clone(), r.sequence).unwrap_or(0);
        assert!(r.sequence > previous, "sequence increases per shipment");
    }
    assert_eq!(records.len(), expected);
    assert!(last.values().all(|s| *s == STEPS.len() as i64));
    // b really took over partitions a had worked on (it restored published history), and both
    // did part of the work.
    assert!(
        restored_records(&b.log()).iter().any(|n| *n > 0),
        "b restored a's output:\n{}",
        b.log()
    );
    assert!(
        a.log().contains("partitions revoked"),
        "a handed partitions over:\n{}",
        a.log()
    );
}

fn parked_metric(log_metrics: &str) -> u64 {
    log_metrics
        .lines()
        .find(|l| {
            l.starts_with("normalizer_raw_records_total{carrier=\"fedex\",outcome=\"parked\"}")
        })
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_for_unregistered_shipments_wait_and_are_released_in_order_even_across_a_restart() {
    let customer = Receiver::customer().await;
    let p = Pipeline::new("parking", &customer);
    let (mut ingest, mut normalizer) = (p.ingest(), p.normalizer());
    ingest.start().await;
    normalizer.start().await;
    let early = "794900000001".to_string();
    let late = "794900000002".to_string();
    // The carrier scans before the shop registers: three growing snapshots per shipment.
    push_steps(&p, &[early.clone(), late.clone()], 0..3).await;
    let parked = support::wait_for("six parked raw records", support::DEADLINE, || {
        let normalizer = &normalizer;
        async move {
            let n = parked_metric(&normalizer.metrics().await);
            (n >= 6).then_some(n)
        }
    })
    .await;
    assert_eq!(parked, 6);
    let events = p.topics().events();
    assert_eq!(
        topics::count(p.broker.bootstrap(), &events),
        0,
        "nothing published for unregistered shipments"
    );

    // One registers while the normalizer runs; the other while it is down.
    p.register(std::slice::from_ref(&early)).await;
    let first = topics::read_all_async(p.broker.bootstrap(), &events, 3).await;
    normalizer.kill();
    p.register(std::slice::from_ref(&late)).await;
    normalizer.start().await;
    let all = topics::decode_all::<CanonicalRecord>(
        &topics::read_all_async(p.broker.bootstrap(), &events, 6).await,
    )
    .await;
    assert_eq!(first.len(), 3);
    assert_eq!(
        all.len(),
        6,
        "each real event once, though every parked snapshot repeats history"
    );
    for number in [&early, &late] {
        let mine: Vec<&CanonicalRecord> = all
            .iter()
            .filter(|r| &r.tracking_number == number)
            .collect();
        let codes: Vec<&str> = mine
            .iter()
            .map(|r| r.event.as_ref().unwrap().carrier_code.as_str())
            .collect();
        assert_eq!(codes, ["PU", "AR", "DP"], "released in order");
        assert_eq!(
            mine.iter().map(|r| r.sequence).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(
            mine[0].raw_ref.topic,
            p.topics().raw(),
            "outputs point at the original raw record"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_records_are_dead_lettered_after_the_window() {
    let customer = Receiver::customer().await;
    let p = Pipeline::new("park-expiry", &customer);
    let mut ingest = p.ingest();
    let mut normalizer = p
        .normalizer()
        .arg("--park-window", "1s")
        .arg("--park-sweep-interval", "100ms");
    ingest.start().await;
    normalizer.start().await;
    let number = "794900000009".to_string();
    push_steps(&p, std::slice::from_ref(&number), 0..1).await;
    let letters = topics::decode_all::<gluey_contract::DeadLetter>(
        &topics::read_all_async(p.broker.bootstrap(), &p.topics().deadletter(), 1).await,
    )
    .await;
    assert_eq!(letters[0].stage, "join");
    assert!(
        letters[0]
            .reason
            .contains("no shipment registered for fedex:794900000009"),
        "{}",
        letters[0].reason
    );
    assert_eq!(
        letters[0].source_topic,
        p.topics().raw(),
        "the dead letter names the original raw record"
    );
    // Resolved for good: a restart does not dead-letter it again, and a late registration does
    // not release it (an operator replays the dead letter instead).
    normalizer.kill();
    p.register(std::slice::from_ref(&number)).await;
    let restores = normalizer.log().matches("shipment state restored").count();
    normalizer.start().await;
    // The restarted instance restores all three partitions before it looks at parked records.
    normalizer
        .wait_for_log("shipment state restored", restores + 3)
        .await;
    assert_eq!(
        topics::count(p.broker.bootstrap(), &p.topics().deadletter()),
        1
    );
    assert_eq!(topics::count(p.broker.bootstrap(), &p.topics().events()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_shipments_expire_once_and_a_new_scan_revives_them() {
    let customer = Receiver::customer().await;
    let p = Pipeline::new("expiry", &customer);
    let number = "794900000042".to_string();
    p.register(std::slice::from_ref(&number)).await;
    let mut ingest = p.ingest();
    // Compressed time: "no news for 30 days" becomes one second.
    let mut normalizer = p
        .normalizer()
        .arg("--expire-after", "1s")
        .arg("--park-sweep-interval", "100ms");
    ingest.start().await;
    normalizer.start().await;
    let events = p.topics().events();
    push_steps(&p, std::slice::from_ref(&number), 0..1).await;
    let first = topics::decode_all::<CanonicalRecord>(
        &topics::read_all_async(p.broker.bootstrap(), &events, 2).await,
    )
    .await;
    let expired = &first[1];
    assert_eq!(
        expired.update.as_ref().map(|u| u.update_type),
        Some(gluey_contract::UpdateType::Expired)
    );
    assert_eq!(expired.shipment.status, gluey_contract::Status::Expired);
    assert_eq!(expired.sequence, 2);
    // A restart does not expire it again; a new scan revives it.
    normalizer.kill();
    let restores = normalizer.log().matches("shipment state restored").count();
    normalizer.start().await;
    normalizer
        .wait_for_log("shipment state restored", restores + 3)
        .await;
    push_steps(&p, std::slice::from_ref(&number), 1..2).await;
    let all = topics::decode_all::<CanonicalRecord>(
        &topics::read_all_async(p.broker.bootstrap(), &events, 3).await,
    )
    .await;
    let revived = all
        .iter()
        .find(|r| r.event.as_ref().is_some_and(|e| e.carrier_code == "AR"))
        .unwrap();
    assert_eq!(revived.shipment.status, gluey_contract::Status::InTransit);
    assert_eq!(revived.sequence, 3);
    let expiries = all
        .iter()
        .filter(|r| {
            r.update
                .as_ref()
                .is_some_and(|u| u.update_type == gluey_contract::UpdateType::Expired)
        })
        .count();
    assert!(
        expiries <= 2,
        "at most once per quiet period (the revived shipment may expire again later)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_under_an_alias_land_on_the_original_shipment() {
    let customer = Receiver::customer().await;
    let p = Pipeline::new("alias", &customer);
    // The carrier relabels the parcel at a hub: the second number is an alias of the first.
    let numbers: Vec<String> = (0..6).map(|i| format!("79491000000{i}")).collect();
    for pair in numbers.chunks(2) {
        p.register_with_aliases(pair).await;
    }
    let (mut ingest, mut normalizer) = (p.ingest(), p.normalizer());
    ingest.start().await;
    normalizer.start().await;
    for pair in numbers.chunks(2) {
        // Picked up under the original number, then scanned under the new one.
        push_steps(&p, std::slice::from_ref(&pair[0]), 0..1).await;
        let relabelled = aiv_payload(
            &pair[1],
            &[scan(
                "AR",
                "Arrived at FedEx location",
                None,
                "2024-04-25T10:00:00-07:00",
            )],
            None,
            None,
        );
        assert_eq!(
            p.push(&relabelled, &sign(support::FEDEX_SECRET, &relabelled))
                .await
                .status(),
            200
        );
    }
    let all = topics::decode_all::<CanonicalRecord>(
        &topics::read_all_async(p.broker.bootstrap(), &p.topics().events(), 9).await,
    )
    .await;
    assert_eq!(
        all.len(),
        9,
        "six scans and one tracking_number_changed per shipment"
    );
    for pair in numbers.chunks(2) {
        let changes: Vec<_> = all
            .iter()
            .filter(|r| r.shipment_key == format!("fedex:{}", pair[0]))
            .filter_map(|r| r.update.as_ref())
            .filter(|u| u.update_type == gluey_contract::UpdateType::TrackingNumberChanged)
            .collect();
        assert_eq!(changes.len(), 1);
        let mut change = [
            changes[0].previous_tracking_number.clone().unwrap(),
            changes[0].new_tracking_number.clone().unwrap(),
        ];
        change.sort();
        assert_eq!(change, [pair[0].clone(), pair[1].clone()]);
    }
    // tracking.state.v1 holds each shipment's state; the last snapshot per key is the current one.
    let state_topic = p.topics().state();
    let snapshots = support::wait_for("the latest snapshots", support::DEADLINE, || {
        let (bootstrap, topic, numbers) = (
            p.broker.bootstrap().to_string(),
            state_topic.clone(),
            numbers.clone(),
        );
        async move {
            let n = topics::count(&bootstrap, &topic);
            let all = topics::decode_all::<gluey_contract::ShipmentState>(
                &topics::read_all_async(&bootstrap, &topic, n).await,
            )
            .await;
            let complete = numbers.chunks(2).all(|pair| {
                all.iter()
                    .any(|s| s.shipment_key == format!("fedex:{}", pair[0]) && s.last_sequence == 3)
            });
            complete.then_some(all)
        }
    })
    .await;
    for pair in numbers.chunks(2) {
        let key = format!("fedex:{}", pair[0]);
        let latest = snapshots
            .iter()
            .filter(|s| s.shipment_key == key)
            .max_by_key(|s| s.last_sequence)
            .expect("a snapshot per shipment");
        assert_eq!(latest.last_sequence, 3);
        assert_eq!(latest.tracking_numbers, [pair[0].clone(), pair[1].clone()]);
        assert_eq!(latest.seen.len(), 3, "every published id with its revision");
    }
    let records: Vec<CanonicalRecord> = all.into_iter().filter(|r| r.event.is_some()).collect();
    assert_eq!(records.len(), 6);
    for pair in numbers.chunks(2) {
        let owner = format!("fedex:{}", pair[0]);
        let mine: Vec<&CanonicalRecord> =
            records.iter().filter(|r| r.shipment_key == owner).collect();
        assert_eq!(mine.len(), 2, "both scans on the original shipment {owner}");
        let mut sequences: Vec<i64> = mine.iter().map(|r| r.sequence).collect();
        sequences.sort_unstable();
        assert_eq!(
            sequences,
            [1, 3],
            "one sequence for the shipment (2 is the number change)"
        );
        let relabelled = mine
            .iter()
            .find(|r| r.tracking_number == pair[1])
            .expect("the scan keeps the number the carrier used");
        assert_eq!(relabelled.customer_id.as_deref(), Some("acme"));
        assert_eq!(
            relabelled.raw_ref.topic,
            p.topics().raw(),
            "and points at the raw record it came from"
        );
    }
    assert!(
        records.iter().all(|r| numbers
            .chunks(2)
            .any(|pair| r.shipment_key == format!("fedex:{}", pair[0]))),
        "nothing under an alias key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_raw_topic_from_the_start_publishes_nothing_twice() {
    let customer = Receiver::customer().await;
    let p = Pipeline::new("raw-replay", &customer);
    let numbers: Vec<String> = (0..10).map(|i| format!("79492000000{i}")).collect();
    p.register(&numbers).await;
    let (mut ingest, mut normalizer) = (p.ingest(), p.normalizer());
    ingest.start().await;
    normalizer.start().await;
    push_steps(&p, &numbers, 0..3).await;
    let events = p.topics().events();
    let expected = (numbers.len() * 3) as i64;
    topics::read_all_async(p.broker.bootstrap(), &events, expected).await;
    assert!(normalizer.terminate().success());
    // An operator re-normalizes history: a new consumer group reads the raw topic from the start.
    let raw = topics::count(p.broker.bootstrap(), &p.topics().raw());
    let mut replay = p.normalizer().arg("--group-id", "gluey-normalizer-replay");
    replay.start().await;
    let duplicates = support::wait_for("every raw record re-read", support::DEADLINE, || {
        let replay = &replay;
        async move {
            let metrics = replay.metrics().await;
            let n: i64 = metrics
                .lines()
                .filter(|l| l.starts_with("normalizer_raw_records_total{"))
                .filter_map(|l| l.split_whitespace().last()?.parse::<i64>().ok())
                .sum();
            (n >= raw).then_some(metrics)
        }
    })
    .await;
    assert!(
        duplicates.contains(&format!(
            "normalizer_raw_records_total{{carrier=\"fedex\",outcome=\"duplicate\"}} {raw}"
        )),
        "{duplicates}"
    );
    assert_eq!(
        topics::count(p.broker.bootstrap(), &events),
        expected,
        "no canonical record published again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivered_shipment_is_compacted_and_a_repoll_of_its_history_still_dedupes() {
    let customer = Receiver::customer().await;
    let p = Pipeline::new("compact-entry", &customer);
    let number = "794900000043".to_string();
    p.register(std::slice::from_ref(&number)).await;
    let mut ingest = p.ingest();
    // Compressed time: the seven days' grace after delivery becomes one second.
    let args = [
        ("--compact-after", "1s"),
        ("--park-sweep-interval", "200ms"),
    ];
    let mut normalizer = p.normalizer();
    for (flag, value) in args {
        normalizer = normalizer.arg(flag, value);
    }
    ingest.start().await;
    normalizer.start().await;
    let history = [
        ("PU", "Picked up"),
        ("AR", "Arrived at FedEx location"),
        ("DL", "Delivered"),
    ];
    p.push_history(&number, &history, 3).await;
    let events = p.topics().events();
    topics::read_all_async(p.broker.bootstrap(), &events, 3).await;
    let compacted = |text: &str| {
        support::webhooks::metric(text, "normalizer_state_shipments", &[("form", "compacted")])
    };
    support::wait_for(
        "the delivered shipment compacted",
        support::DEADLINE,
        || async { (compacted(&normalizer.metrics().await) == 1.0).then_some(()) },
    )
    .await;
    let text = normalizer.metrics().await;
    let bytes =
        support::webhooks::metric(&text, "normalizer_state_bytes", &[("form", "compacted")]);
    assert!(bytes > 0.0, "its size is reported:\n{text}");

    // The carrier re-sends the whole history: nothing is published again, by this instance or
    // by one restored from the compacted snapshot.
    let duplicates = |text: &str| {
        support::webhooks::metric(
            text,
            "normalizer_raw_records_total",
            &[("outcome", "duplicate")],
        )
    };
    let before = duplicates(&text);
    p.push_history(&number, &history, 3).await;
    support::wait_for(
        "the re-poll counted as a duplicate",
        support::DEADLINE,
        || async { (duplicates(&normalizer.metrics().await) > before).then_some(()) },
    )
    .await;
    p.wait_for_snapshots_to_cover_the_events().await;
    normalizer.kill();
    let mut restored = p.normalizer().arg("--group-id", "compact-entry-restored");
    for (flag, value) in args {
        restored = restored.arg(flag, value);
    }
    restored.start().await;
    // It reads both pushes from the start of the raw topic: both are duplicates.
    support::wait_for("both pushes recognised", support::DEADLINE, || async {
        (duplicates(&restored.metrics().await) >= 2.0).then_some(())
    })
    .await;
    support::wait_for("restored compacted", support::DEADLINE, || async {
        (compacted(&restored.metrics().await) == 1.0).then_some(())
    })
    .await;
    assert_eq!(
        topics::count(p.broker.bootstrap(), &events),
        3,
        "each scan published once"
    );
    restored.kill();
    ingest.kill();
}
