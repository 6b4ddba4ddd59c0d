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
