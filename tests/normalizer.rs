//! The normalizer across instances: partitions move between processes on rebalance, and the
//! instance that takes a partition over restores that partition's shipment state from the output
//! topic before processing, so nothing is published twice and nothing is lost.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken assumptions

mod support;

use std::collections::{HashMap, HashSet};

use gluey::dev::fedex_simulator::{aiv_payload, sign, FedexScan};
use gluey_contract::CanonicalRecord;
use support::pipeline::{scan, Pipeline};
use support::{topics, CustomerEndpoint};

const STEPS: [(&str, &str); 4] = [
    ("PU", "Picked up"),
    ("AR", "Arrived at FedEx location"),
    ("DP", "Departed FedEx location"),
    ("OD", "On FedEx vehicle for delivery"),
];

async fn push_steps(p: &Pipeline, numbers: &[String], steps: std::ops::Range<usize>) {
    for step in steps {
        for number in numbers {
            let scans: Vec<FedexScan> = STEPS[..=step]
                .iter()
                .enumerate()
                .map(|(i, (code, description))| {
                    scan(
                        code,
                        description,
                        None,
                        &format!("2024-04-2{}T1{i}:00:00-07:00", 4 + i),
                    )
                })
                .collect();
            let body = aiv_payload(number, &scans, None, None);
            assert_eq!(
                p.push(&body, &sign(support::FEDEX_SECRET, &body))
                    .await
                    .status(),
                200
            );
        }
    }
}

fn restored_records(log: &str) -> Vec<u64> {
    log.lines()
        .filter(|l| l.contains("shipment state restored"))
        .filter_map(|l| {
            l.split("records=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_move_between_instances_without_loss_or_duplicates() {
    let customer = CustomerEndpoint::start().await;
    let numbers: Vec<String> = (0..100).map(|i| format!("7948{i:08}")).collect();
    let p = Pipeline::new("rebalance", &customer, &numbers);
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
