//! A Schema Registry outage loses nothing and publishes nothing twice. The services run with the
//! Confluent wire format through a real registry of the test's own (Apicurio Registry); the test
//! stops it mid-run, starts a normalizer and a dispatcher that have never seen the schemas (so
//! every decode needs the registry), pushes more scans, and starts the registry again.
//! Retryable codec errors are waited out with back-off, shown by `/readyz` and the retry
//! metrics, and never dead-lettered or skipped.

use std::collections::HashSet;

use crate::support::pipeline::Pipeline;
use crate::support::webhooks::metric;
use crate::support::{topics, wait_for, Receiver, DEADLINE};
use gluey_contract::{CanonicalRecord, DeadLetter};

const HISTORY: [(&str, &str); 3] = [
    ("PU", "Picked up"),
    ("AR", "Arrived at FedEx location"),
    ("OD", "On FedEx vehicle for delivery"),
];

/// Pushes the first `scans` of every number's history; asserts each push is accepted.
async fn push_all(p: &Pipeline, numbers: &[String], scans: usize) {
    for number in numbers {
        p.push_history(number, &HISTORY, scans).await;
    }
}

/// Records on `topic`, decoded through the pipeline's registry.
async fn decoded<T: gluey_contract::AvroRecord>(
    p: &Pipeline,
    topic: &str,
    at_least: i64,
) -> Vec<T> {
    let codec = p.codec();
    let mut out = Vec::new();
    for m in topics::read_all_async(p.broker.bootstrap(), topic, at_least).await {
        use rdkafka::Message;
        out.push(
            codec
                .decode::<T>(m.payload().unwrap_or_default())
                .await
                .unwrap(),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_registry_outage_loses_no_event_and_publishes_nothing_twice() {
    let customer = Receiver::customer().await;
    let p = Pipeline::builder("registry-outage")
        .customer(&customer)
        .schema_registry()
        .start();
    let registry = p.registry.as_ref().unwrap();
    let numbers: Vec<String> = (0..6).map(|i| format!("7949{i:08}")).collect();
    p.register(&numbers).await;
    let (mut ingest, mut normalizer, mut dispatcher) = (p.ingest(), p.normalizer(), p.dispatcher());
    ingest.start().await;
    normalizer.start().await;
    dispatcher.start().await;

    // Scan 1 of each shipment, delivered while everything is up.
    push_all(&p, &numbers, 1).await;
    let first = numbers.len();
    wait_for("the first scans delivered", DEADLINE, || {
        let n = customer.distinct_scans();
        async move { (n >= first).then_some(()) }
    })
    .await;
    // Scan 2 published but not yet delivered: the dispatcher is stopped.
    dispatcher.terminate();
    push_all(&p, &numbers, 2).await;
    let events = p.topics().events();
    topics::read_all_async(p.broker.bootstrap(), &events, 2 * numbers.len() as i64).await;

    // The outage. A new normalizer (its predecessor killed) and the dispatcher start with empty
    // schema caches: restoring, and decoding what is waiting for delivery, need the registry.
    registry.stop();
    normalizer.kill();
    normalizer.launch();
    dispatcher.launch();
    // Ingest kept its cached schema id: scan 3 is accepted and waits on the raw topic.
    push_all(&p, &numbers, 3).await;
    for (service, retries) in [
        (&normalizer, "normalizer_retries_total"),
        (&dispatcher, "dispatch_webhook_input_retries_total"),
    ] {
        let (status, reason) =
            wait_for("not ready while the registry is down", DEADLINE, || async {
                let (status, reason) = service.readyz().await;
                (status == 503 && reason.contains("schema registry")).then_some((status, reason))
            })
            .await;
        assert_eq!(status, 503, "{reason}");
        let text = service.metrics().await;
        assert!(
            metric(&text, retries, &[("dependency", "schema_registry")]) >= 1.0,
            "{retries} counts the waits:\n{text}"
        );
    }
    assert_eq!(
        customer.distinct_scans(),
        numbers.len(),
        "nothing could be delivered while no record could be decoded"
    );

    // The registry is back: everything flows, and nothing was dead-lettered or repeated.
    registry.restart();
    let expected = numbers.len() * HISTORY.len();
    wait_for(
        "every scan delivered after the outage",
        DEADLINE * 2,
        || {
            let n = customer.distinct_scans();
            async move { (n >= expected).then_some(()) }
        },
    )
    .await;
    for service in [&normalizer, &dispatcher] {
        wait_for("ready again", DEADLINE, || async {
            (service.readyz().await.0 == 200).then_some(())
        })
        .await;
    }
    let published: Vec<CanonicalRecord> = decoded(&p, &events, expected as i64).await;
    let mut seen = HashSet::new();
    for r in &published {
        assert!(
            seen.insert((r.record_id.clone(), r.revision)),
            "published twice on {events}: {} r{}",
            r.record_id,
            r.revision
        );
        assert_eq!(r.revision, 1, "no scan republished as a correction");
    }
    assert_eq!(
        published.len(),
        expected,
        "every scan published exactly once"
    );
    let letters: Vec<DeadLetter> = decoded(&p, &p.topics().deadletter(), 0).await;
    assert!(
        letters.is_empty(),
        "nothing dead-lettered for an outage: {:?}",
        letters
            .iter()
            .map(|l| (&l.stage, &l.reason))
            .collect::<Vec<_>>()
    );
    for service in [&mut dispatcher, &mut normalizer, &mut ingest] {
        assert!(
            service.running(),
            "carried on through the outage:\n{}",
            service.log()
        );
        service.kill();
    }
}

/// Registers `schema` (JSON text) under `subject` in the pipeline's registry; its id.
async fn register_schema(p: &Pipeline, subject: &str, schema: &str) -> u32 {
    let registry = p.registry.as_ref().unwrap();
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/subjects/{subject}/versions", registry.url))
        .basic_auth(&registry.user, Some(&registry.password))
        .header("content-type", "application/vnd.schemaregistry.v1+json")
        .json(&serde_json::json!({ "schema": schema }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["id"].as_u64().unwrap_or_else(|| panic!("{answer}")) as u32
}

/// A partition that fails mid-batch while outputs of earlier records of the batch are still in
/// the producer (here held back by `linger.ms`) is restored only once those outputs are
/// acknowledged, so the restore sees them and nothing is published twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_in_flight_when_a_partition_fails_are_not_published_again() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let customer = Receiver::customer().await;
    let p = Pipeline::builder("rewind-fence")
        .customer(&customer)
        .schema_registry()
        .start();
    let number = "794800000001".to_string();
    p.register(std::slice::from_ref(&number)).await;
    let codec = p.codec();
    let raw_topic = p.topics().raw();
    let at = |hour: i64| {
        chrono::DateTime::<chrono::FixedOffset>::from(
            chrono::Utc::now() - chrono::Duration::hours(10 - hour),
        )
    };
    let record = |hour: i64, serial: usize| {
        let (codec, raw_topic, number) = (codec.clone(), raw_topic.clone(), number.clone());
        async move {
            gluey::bench::takeover::fedex_raw_record(
                &codec,
                &raw_topic,
                &number,
                at(hour),
                serial,
                false,
            )
            .await
            .unwrap()
        }
    };
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", p.broker.bootstrap())
        .set("linger.ms", "200")
        .create()
        .unwrap();
    let send = |key: Vec<u8>, value: Vec<u8>| {
        producer
            .send_result(FutureRecord::to(&raw_topic).key(&key).payload(&value))
            .map_err(|(e, _)| e)
            .unwrap()
    };

    // The normalizer's producer holds outputs back for 3 s; its schema caches are warmed by a
    // first scan.
    let mut normalizer = p
        .normalizer()
        .arg("--kafka-property", "linger.ms=3000")
        .arg("--retry-backoff", "100ms");
    normalizer.start().await;
    let (key, first) = record(1, 1).await;
    send(key, first).await.unwrap().unwrap();
    let events = p.topics().events();
    topics::read_all_async(p.broker.bootstrap(), &events, 1).await;
    // Restarted while the registry is up, it has read every id a restore of this partition needs
    // (snapshot, registration): the restore can run while the registry is down.
    p.wait_for_snapshots_to_cover_the_events().await;
    normalizer.kill();
    normalizer.start().await;
    // A second scan through the restarted instance caches the raw schema's id again, and its
    // snapshot covers it, so the restore below reads no event it would have to decode.
    let (key, second) = record(2, 2).await;
    send(key, second).await.unwrap().unwrap();
    topics::read_all_async(p.broker.bootstrap(), &events, 2).await;
    p.wait_for_snapshots_to_cover_the_events().await;

    // Scan 3 is written with the raw schema's id; scan 4 with the id of the same schema under
    // another subject, which the normalizer has never seen. With the registry stopped, scan 4
    // cannot be decoded: its partition fails right after scan 3's output was handed over.
    let mut schema: serde_json::Value =
        serde_json::from_str(gluey_contract::schema::RAW_ENVELOPE.current).unwrap();
    schema["doc"] = "the raw envelope, registered again by the rewind test".into();
    let other_id = register_schema(&p, "rewind-test-value", &schema.to_string()).await;
    let (key, third) = record(3, 3).await;
    let (_, mut fourth) = record(4, 4).await;
    assert_eq!(fourth[0], 0, "Confluent wire format");
    fourth[1..5].copy_from_slice(&other_id.to_be_bytes());
    p.registry.as_ref().unwrap().stop();
    // One produce request: the normalizer reads both in one batch.
    let (a, b) = (send(key.clone(), third), send(key, fourth));
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    wait_for(
        "the third scan waiting for the registry",
        DEADLINE,
        || async {
            let text = normalizer.metrics().await;
            (metric(
                &text,
                "normalizer_retries_total",
                &[("dependency", "schema_registry")],
            ) >= 3.0)
                .then_some(())
        },
    )
    .await;
    p.registry.as_ref().unwrap().restart();
    let published: Vec<CanonicalRecord> = wait_for("four scans published", DEADLINE, || async {
        let all: Vec<CanonicalRecord> = decoded(&p, &events, 4).await;
        let scans = all.iter().filter(|r| r.event.is_some()).count();
        (scans >= 4).then_some(all)
    })
    .await;
    // Whatever the producer still held when the partition failed reached the topic before the
    // restore read it: each scan once.
    let mut ids = HashSet::new();
    for r in &published {
        assert!(
            ids.insert((r.record_id.clone(), r.revision)),
            "published twice: {} r{} (sequence {})",
            r.record_id,
            r.revision,
            r.sequence
        );
    }
    assert_eq!(published.len(), 4, "each scan once");
    assert!(normalizer.running(), "{}", normalizer.log());
    normalizer.kill();
}
