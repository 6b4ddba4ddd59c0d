//! Taking over a partition costs what its live shipments cost, not what their history does: the
//! restore reads the compacted snapshots (`tracking.state.v1`) and only the events published
//! after their coverage. The same live shipments, once with a history of 2 scans each and once
//! with 20, are taken over from no more records. The state topic is compacted for real (a
//! cluster of the test's own whose segments roll every second).

use std::time::{Duration, Instant};

use crate::support::pipeline::{scan, Pipeline};
use crate::support::webhooks::metric;
use crate::support::{topics, wait_for, Receiver};

/// Pushes scans `from..to` of every shipment (one scan an hour), through the running pipeline,
/// and waits until the events are published and covered by snapshots.
async fn grow_history(p: &Pipeline, numbers: &[String], from: usize, to: usize) {
    for i in from..to {
        let at = format!("2024-04-{:02}T{:02}:00:00-07:00", 1 + i / 24, i % 24);
        for number in numbers {
            let arrived = scan("AR", "Arrived at FedEx location", None, &at);
            p.push_scans(number, &[arrived]).await;
        }
    }
    topics::read_all_async(
        p.broker.bootstrap(),
        &p.topics().events(),
        (numbers.len() * to) as i64,
    )
    .await;
    p.wait_for_snapshots_to_cover_the_events().await;
}

/// Waits until the cleaner has left one snapshot per tracked shipment on the state topic,
/// writing snapshots of `rollers` (keys nobody tracks) so the active segments roll (a round at
/// most every 1.5 s; segments roll after 1 s). Returns how many roller snapshots are left (the
/// cleaner never takes the newest segments, so a roller key keeps two or three).
async fn compact_state(p: &Pipeline, numbers: &[String], rollers: &[String]) -> f64 {
    let last_round = std::sync::Mutex::new(None::<Instant>);
    wait_for(
        "the state topic compacted",
        Duration::from_secs(120),
        || async {
            let due = last_round
                .lock()
                .unwrap()
                .is_none_or(|at| at.elapsed() > Duration::from_millis(1500));
            if due {
                p.roll_state_topic(rollers).await;
                *last_round.lock().unwrap() = Some(Instant::now());
            }
            let per_key = p.values_per_key(p.topics().state()).await;
            let compacted = numbers
                .iter()
                .all(|n| per_key.get(&format!("fedex:{n}")) == Some(&1));
            let rollers_left: usize = rollers.iter().filter_map(|k| per_key.get(k)).sum();
            (compacted && per_key.len() == numbers.len() + rollers.len())
                .then_some(rollers_left as f64)
        },
    )
    .await
}

/// A normalizer in a new group takes every partition over; what its restore read.
async fn take_over(p: &Pipeline, group: &str) -> (f64, f64) {
    let mut taker = p.normalizer().arg("--group-id", group);
    taker.start().await;
    let text = taker.metrics().await;
    taker.kill();
    let kind = |k| metric(&text, "normalizer_restore_records_total", &[("kind", k)]);
    (kind("snapshot"), kind("event"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_reads_no_more_records_with_ten_times_the_history() {
    // The customer is there for the config file (carrier secrets); nothing is dispatched.
    let customer = Receiver::customer().await;
    let p = Pipeline::builder("takeover")
        .customer(&customer)
        .compacting_cluster()
        .start();
    p.compact_state_topic_quickly().await;
    let numbers: Vec<String> = (0..10).map(|i| format!("7951{i:08}")).collect();
    let rollers: Vec<String> = (0..12).map(|i| format!("fedex:79519999{i:04}")).collect();
    p.register(&numbers).await;
    let mut ingest = p.ingest();
    ingest.start().await;

    let mut owner = p.normalizer();
    owner.start().await;
    grow_history(&p, &numbers, 0, 2).await;
    owner.kill();
    let rollers_1x = compact_state(&p, &numbers, &rollers).await;
    let (snapshots_1x, events_1x) = take_over(&p, "takeover-1x").await;
    let snapshots_1x = snapshots_1x - rollers_1x;

    owner.start().await;
    grow_history(&p, &numbers, 2, 20).await;
    owner.kill();
    let rollers_10x = compact_state(&p, &numbers, &rollers).await;
    let (snapshots_10x, events_10x) = take_over(&p, "takeover-10x").await;
    let snapshots_10x = snapshots_10x - rollers_10x;

    assert_eq!(
        topics::count(p.broker.bootstrap(), &p.topics().events()),
        200,
        "ten times the history: 20 scans of each of 10 shipments"
    );
    assert!(
        snapshots_1x >= numbers.len() as f64,
        "restored from a snapshot per shipment: {snapshots_1x}"
    );
    assert!(
        snapshots_10x + events_10x <= snapshots_1x + events_1x,
        "the restore read {snapshots_10x} snapshots of tracked shipments and {events_10x} events \
         with 10x the history, {snapshots_1x} and {events_1x} with 1x"
    );
    eprintln!(
        "TAKEOVER restore read: 1x history {snapshots_1x} snapshots + {events_1x} events; \
         10x history {snapshots_10x} snapshots + {events_10x} events"
    );
    ingest.kill();
}
