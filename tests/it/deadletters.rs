//! `gluey deadletter list|replay` against the real services: a shipment nobody registered is
//! dead-lettered after the park window; once it is registered, replaying the dead letter
//! publishes its events exactly once, however often it is replayed. And the selection is
//! handled gracefully: nothing matching, a dry run, letters that cannot be replayed.

use crate::support;

use std::process::Output;

use crate::support::pipeline::{scan, Pipeline};
use crate::support::{topics, Receiver};
use chrono::Utc;
use gluey_contract::{CanonicalRecord, Codec, DeadLetter};
use gluey_kafka::deadletters::REPLAYED_FROM;
use gluey_kafka::headers::header_str;
use rdkafka::Message;

/// Runs `gluey deadletter <args>` against the pipeline's broker and topics.
async fn deadletter(p: &Pipeline, args: &[&str]) -> Output {
    let mut all: Vec<String> = ["deadletter"]
        .iter()
        .chain(args)
        .map(|s| s.to_string())
        .collect();
    all.extend([
        "--kafka-bootstrap".into(),
        p.broker.bootstrap().into(),
        "--topic-prefix".into(),
        p.prefix.clone(),
    ]);
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gluey"))
            .args(&all)
            .env_remove("SCHEMA_REGISTRY_URL")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    assert!(o.status.success(), "{}{}", stdout(o), stderr(o));
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_dead_letter_publishes_its_events_exactly_once() {
    let customer = Receiver::customer().await;
    let p = Pipeline::new("deadletter-replay", &customer);
    let mut ingest = p.ingest();
    let mut normalizer = p
        .normalizer()
        .arg("--park-window", "1s")
        .arg("--park-sweep-interval", "100ms");
    ingest.start().await;
    normalizer.start().await;
    let (raw, events, dead) = (
        p.topics().raw(),
        p.topics().events(),
        p.topics().deadletter(),
    );
    let bootstrap = p.broker.bootstrap().to_string();

    // Scans for a shipment nobody registered: parked, then dead-lettered (stage join).
    let number = "794900000077".to_string();
    p.push_scans(
        &number,
        &[
            scan("PU", "Picked up", None, "2024-04-24T10:00:00-07:00"),
            scan(
                "AR",
                "Arrived at FedEx location",
                None,
                "2024-04-25T11:00:00-07:00",
            ),
        ],
    )
    .await;
    let stored = topics::read_all_async(&bootstrap, &dead, 1).await;
    let letter = topics::decode_all::<DeadLetter>(&stored).await.remove(0);
    assert_eq!(letter.stage, "join");
    let position = format!("{dead}/{}/{}", stored[0].partition(), stored[0].offset());

    // The operator sees it, without its payload.
    let listed = json_lines(&deadletter(&p, &["list", "--stage", "join"]).await);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let line = &listed[0];
    assert_eq!(line["stage"], "join");
    assert_eq!(line["carrier"], "fedex");
    assert_eq!(line["source_topic"].as_str(), Some(raw.as_str()));
    assert_eq!(line["partition"], stored[0].partition());
    assert_eq!(line["offset"], stored[0].offset());
    assert_eq!(line["payload_bytes"], letter.payload.len());
    assert!(line["reason"]
        .as_str()
        .unwrap()
        .contains("no shipment registered for fedex:794900000077"));
    assert!(line.get("payload").is_none(), "never the payload: {line}");
    assert!(json_lines(&deadletter(&p, &["list", "--stage", "parse"]).await).is_empty());

    // Fix the cause, then replay.
    p.register(std::slice::from_ref(&number)).await;
    let replay = deadletter(&p, &["replay", "--stage", "join"]).await;
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert!(
        stdout(&replay).contains(&format!("replayed {position} to {raw}/")),
        "{}",
        stdout(&replay)
    );
    assert!(stdout(&replay).contains("replayed 1 dead letters"));

    let published = topics::decode_all::<CanonicalRecord>(
        &topics::read_all_async(&bootstrap, &events, 2).await,
    )
    .await;
    let codes: Vec<&str> = published
        .iter()
        .map(|r| r.event.as_ref().unwrap().carrier_code.as_str())
        .collect();
    assert_eq!(codes, ["PU", "AR"]);
    assert!(published.iter().all(|r| r.tracking_number == number));

    // The replayed raw record: the original bytes, under the original key, naming its letter.
    let raw_records = topics::read_all_async(&bootstrap, &raw, 2).await;
    assert_eq!(raw_records.len(), 2, "the original and the replay");
    let replayed = raw_records
        .iter()
        .find(|m| header_str(m.headers(), REPLAYED_FROM).is_some())
        .expect("a replayed raw record");
    assert_eq!(
        header_str(replayed.headers(), REPLAYED_FROM),
        Some(position.as_str())
    );
    assert_eq!(replayed.payload(), Some(letter.payload.as_slice()));
    assert_eq!(replayed.key(), letter.source_key.as_deref());
    assert_eq!(
        header_str(replayed.headers(), "traceparent"),
        letter.trace_id.as_deref()
    );

    // Replaying again is harmless: the normalizer sees a duplicate and publishes nothing.
    let again = deadletter(&p, &["replay", "--stage", "join"]).await;
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).contains("replayed 1 dead letters"));
    let series = "normalizer_raw_records_total{carrier=\"fedex\",outcome=\"duplicate\"}";
    support::wait_for(
        "the second replay seen as a duplicate",
        support::DEADLINE,
        || {
            let normalizer = &normalizer;
            async move { (metric(&normalizer.metrics().await, series) >= 1).then_some(()) }
        },
    )
    .await;
    assert_eq!(topics::count(&bootstrap, &raw), 3);
    assert_eq!(topics::count(&bootstrap, &events), 2, "no event twice");
    assert_eq!(
        topics::count(&bootstrap, &dead),
        1,
        "nothing dead-lettered anew"
    );
}

fn letter(stage: &str, source_topic: String, reason: &str) -> DeadLetter {
    DeadLetter {
        stage: stage.into(),
        reason: reason.into(),
        carrier: Some("fedex".into()),
        format: Some("fedex.aiv".into()),
        source_topic,
        source_partition: 0,
        source_offset: 0,
        source_key: Some(b"fedex:794900000088".to_vec()),
        payload: b"original bytes".to_vec(),
        envelope_id: None,
        trace_id: None,
        failed_at: Utc::now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_handles_empty_selections_dry_runs_and_letters_it_cannot_replay() {
    let customer = Receiver::customer().await;
    let p = Pipeline::new("deadletter-select", &customer);
    let (raw, events, dead) = (
        p.topics().raw(),
        p.topics().events(),
        p.topics().deadletter(),
    );
    let bootstrap = p.broker.bootstrap().to_string();
    let codec = Codec::without_registry().unwrap();
    let producer = gluey_kafka::RecordProducer::new(
        &gluey_kafka::KafkaSettings::new(&bootstrap),
        std::time::Duration::from_secs(30),
    )
    .unwrap();
    for l in [
        letter("parse", raw.clone(), "unknown FedEx event type ZZ"),
        letter("dispatch", events.clone(), "customer endpoint answered 410"),
    ] {
        let bytes = codec.encode(&dead, &l).await.unwrap();
        producer
            .send(
                &dead,
                l.source_key.as_deref(),
                &bytes,
                rdkafka::message::OwnedHeaders::new(),
            )
            .await
            .unwrap();
    }

    // Listing and its filters.
    assert_eq!(json_lines(&deadletter(&p, &["list"]).await).len(), 2);
    let parse = json_lines(
        &deadletter(
            &p,
            &[
                "list",
                "--carrier",
                "fedex",
                "--reason-contains",
                "event type ZZ",
            ],
        )
        .await,
    );
    assert_eq!(parse.len(), 1);
    assert_eq!(parse[0]["stage"], "parse");
    let tomorrow = (Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    assert!(json_lines(&deadletter(&p, &["list", "--since", &tomorrow]).await).is_empty());
    let bad_since = deadletter(&p, &["list", "--since", "yesterday"]).await;
    assert!(!bad_since.status.success());
    assert!(
        stderr(&bad_since).contains("--since"),
        "{}",
        stderr(&bad_since)
    );

    // Nothing selected: not an error.
    let none = deadletter(&p, &["replay", "--stage", "no-such-stage"]).await;
    assert!(none.status.success(), "{}", stderr(&none));
    assert!(
        stdout(&none).contains("nothing to replay"),
        "{}",
        stdout(&none)
    );

    // A dry run says what it would do and produces nothing.
    let dry = deadletter(&p, &["replay", "--stage", "parse", "--dry-run"]).await;
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(
        stdout(&dry).contains(&format!("would replay {dead}/")),
        "{}",
        stdout(&dry)
    );
    assert!(stdout(&dry).contains("1 dead letters would be replayed"));

    // A dispatch letter points at the events topic: refused, naming it, before anything is
    // produced (even the replayable letter selected with it).
    for args in [&["replay", "--stage", "dispatch"][..], &["replay"][..]] {
        let refused = deadletter(&p, args).await;
        assert!(!refused.status.success(), "{args:?}: {}", stdout(&refused));
        assert!(
            stderr(&refused).contains(&format!("came from {events}, which cannot be replayed")),
            "{args:?}: {}",
            stderr(&refused)
        );
    }
    assert_eq!(topics::count(&bootstrap, &raw), 0, "nothing replayed");
    assert_eq!(topics::count(&bootstrap, &events), 0);
}
