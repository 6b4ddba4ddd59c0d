//! End to end, every service its own process on a real Kafka-protocol broker: a signed FedEx push
//! goes in, a signed canonical webhook comes out; a push that verifies but does not parse is
//! dead-lettered; a SIGKILLed normalizer loses nothing; SIGHUP reloads. (What ingest refuses, and
//! how it rides out a broker outage, is `tests/it/ingest.rs`.)

use crate::support;

use std::collections::{HashMap, HashSet};

use crate::support::pipeline::{scan, Pipeline};
use crate::support::{topics, Receiver};
use gluey::dev::fedex_simulator::{aiv_payload, sign};
use gluey_contract::{CanonicalRecord, DeadLetter, RawEnvelope};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fedex_push_reaches_the_customer_signed_and_canonical() {
    let customer = Receiver::customer().await;
    let number = "794612345678".to_string();
    let p = Pipeline::new("e2e", &customer);
    p.register(std::slice::from_ref(&number)).await;
    let (mut ingest, mut normalizer, mut dispatcher) = (p.ingest(), p.normalizer(), p.dispatcher());
    ingest.start().await;
    normalizer.start().await;
    dispatcher.start().await;

    // The CARRIERS.md example: out for delivery, then a failed attempt (customer not available).
    let body = aiv_payload(
        &number,
        &[
            scan(
                "OD",
                "On FedEx vehicle for delivery",
                None,
                "2024-04-25T08:55:00-07:00",
            ),
            scan(
                "DE",
                "Delivery exception",
                Some("08"),
                "2024-04-25T11:26:00-07:00",
            ),
        ],
        None,
        None,
    );
    let response = p.push(&body, &sign(support::FEDEX_SECRET, &body)).await;
    assert_eq!(response.status(), 200);

    let deliveries = customer.wait_for(2).await;
    let mut by_code = HashMap::new();
    for delivery in &deliveries {
        // Verified by the Standard Webhooks reference library, with either of the two secrets.
        for secret in [support::CUSTOMER_SECRET, support::CUSTOMER_SECRET_NEXT] {
            standardwebhooks::Webhook::new(secret)
                .unwrap()
                .verify(&delivery.body, &delivery.headers)
                .expect("signature verifies");
        }
        let json = delivery.json();
        assert_eq!(json["type"], "tracking.event");
        assert_eq!(json["version"], 1);
        assert_eq!(
            delivery.header("webhook-id"),
            json["data"]["id"].as_str().unwrap()
        );
        assert!(delivery.header("traceparent").starts_with("00-"));
        by_code.insert(
            json["data"]["event"]["carrier_code"]
                .as_str()
                .unwrap()
                .to_string(),
            json,
        );
    }
    let od = &by_code["OD"]["data"];
    assert_eq!(od["event"]["status"], "out_for_delivery");
    assert_eq!(od["event"]["milestone"], "delivery");
    assert_eq!(od["event"]["occurred_at"], "2024-04-25T15:55:00Z");
    assert_eq!(od["event"]["occurred_at_local"], "2024-04-25T08:55:00");
    assert_eq!(od["event"]["utc_offset"], "-07:00");
    assert_eq!(od["event"]["offset_source"], "explicit_offset");
    assert_eq!(od["shipment"]["carrier"], "fedex");
    assert_eq!(od["shipment"]["customer_id"], "acme");
    assert_eq!(od["shipment"]["tracking_number"], number);
    assert_eq!(od["sequence"], 1);
    let de = &by_code["DE"]["data"];
    assert_eq!(de["event"]["status"], "failed_attempt");
    assert_eq!(de["event"]["code"], "attempt");
    assert_eq!(de["event"]["sub_code"], "recipient_unavailable");
    assert_eq!(de["event"]["carrier_sub_code"], "08");
    assert_eq!(de["event"]["occurred_at"], "2024-04-25T18:26:00Z");
    assert_eq!(de["sequence"], 2);
    assert_eq!(de["shipment"]["status"], "failed_attempt");

    // The same push again (FedEx re-sends snapshots) is not delivered twice.
    assert_eq!(
        p.push(&body, &sign(support::FEDEX_SECRET, &body))
            .await
            .status(),
        200
    );
    let raw = topics::read_all_async(p.broker.bootstrap(), &p.topics().raw(), 2).await;
    assert_eq!(raw.len(), 2);
    let metrics = normalizer.metrics().await;
    support::wait_for(
        "the re-push counted as duplicate",
        support::DEADLINE,
        || {
            let normalizer = &normalizer;
            async move {
                normalizer
                    .metrics()
                    .await
                    .contains(
                        "normalizer_raw_records_total{carrier=\"fedex\",outcome=\"duplicate\"} 1",
                    )
                    .then_some(())
            }
        },
    )
    .await;
    assert!(metrics.contains("normalizer_records_published_total"));
    assert_eq!(topics::count(p.broker.bootstrap(), &p.topics().events()), 2);
    assert_eq!(customer.requests().len(), 2);

    // SIGTERM drains: every service exits cleanly.
    for service in [&mut dispatcher, &mut normalizer, &mut ingest] {
        assert!(
            service.terminate().success(),
            "clean exit on SIGTERM:\n{}",
            service.log()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_with_a_valid_signature_is_kept_and_dead_lettered() {
    let customer = Receiver::customer().await;
    let p = Pipeline::new("malformed", &customer);
    let (mut ingest, mut normalizer) = (p.ingest(), p.normalizer());
    ingest.start().await;
    normalizer.start().await;
    let body = b"{\"trackingNumberInfo\": {\"trackingNumber\": \"79461\"".to_vec();
    assert_eq!(
        p.push(&body, &sign(support::FEDEX_SECRET, &body))
            .await
            .status(),
        200
    );

    let letters = topics::read_all_async(p.broker.bootstrap(), &p.topics().deadletter(), 1).await;
    let letter = &topics::decode_all::<DeadLetter>(&letters).await[0];
    assert_eq!(letter.stage, "parse");
    assert!(
        letter.reason.contains("not valid JSON"),
        "reason: {}",
        letter.reason
    );
    assert_eq!(letter.carrier.as_deref(), Some("fedex"));
    assert_eq!(letter.source_topic, p.topics().raw());
    // The dead letter keeps the raw record byte for byte, so it can be replayed.
    let codec = gluey_contract::Codec::without_registry().unwrap();
    let envelope: RawEnvelope = codec.decode(&letter.payload).await.unwrap();
    assert_eq!(envelope.payload, body);
    assert_eq!(topics::count(p.broker.bootstrap(), &p.topics().events()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crafted_raw_record_is_dead_lettered_and_the_normalizer_carries_on() {
    // 25 bytes of RawEnvelope whose context map claims 500 million entries: decoded with
    // apache-avro's default limit, the normalizer aborted on reserving room for them, restarted,
    // read the same record and aborted again.
    let customer = Receiver::customer().await;
    let number = "794600000077".to_string();
    let p = Pipeline::new("crafted", &customer);
    p.register(std::slice::from_ref(&number)).await;
    let (mut ingest, mut normalizer) = (p.ingest(), p.normalizer());
    ingest.start().await;
    normalizer.start().await;
    let codec = gluey_contract::Codec::without_registry().unwrap();
    let topic = p.topics().raw();
    let template = RawEnvelope {
        envelope_id: "e".into(),
        carrier: "fedex".into(),
        format: "fedex.aiv".into(),
        route: gluey_contract::Route::Webhook,
        received_at: chrono::Utc::now(),
        content_type: None,
        payload: Vec::new(),
        source: gluey_contract::SourceReference::default(),
        context: Default::default(),
        shipment_key: None,
        trace_id: String::new(),
    };
    let header = codec.encode(&topic, &template).await.unwrap()[..10].to_vec();
    let mut crafted = header;
    // "e", "c", "f", route 0, received_at 0, content_type null, payload empty, four null sources
    crafted.extend([0x02, b'e', 0x02, b'c', 0x02, b'f', 0, 0, 0, 0, 0, 0, 0, 0]);
    crafted.extend([0x80, 0x94, 0xeb, 0xdc, 0x03]); // 500,000,000 map entries, zig-zag varint
    let producer = gluey_kafka::RecordProducer::new(
        &gluey_kafka::KafkaSettings::new(p.broker.bootstrap()),
        std::time::Duration::from_secs(30),
    )
    .unwrap();
    producer
        .send(
            &topic,
            Some(format!("fedex:{number}").as_bytes()),
            &crafted,
            rdkafka::message::OwnedHeaders::new(),
        )
        .await
        .unwrap();
    let letters = topics::read_all_async(p.broker.bootstrap(), &p.topics().deadletter(), 1).await;
    let letter = &topics::decode_all::<DeadLetter>(&letters).await[0];
    assert_eq!(letter.stage, "decode");
    assert_eq!(letter.payload, crafted, "kept byte for byte");
    assert!(normalizer.running(), "no abort:\n{}", normalizer.log());
    // And it goes on with the next record of the same partition.
    p.push_history(&number, &[("OD", "On FedEx vehicle for delivery")], 1)
        .await;
    topics::read_all_async(p.broker.bootstrap(), &p.topics().events(), 1).await;
    assert!(normalizer.running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_normalizer_loses_no_event_and_publishes_none_twice() {
    let customer = Receiver::customer().await;
    let numbers: Vec<String> = (0..100).map(|i| format!("7947{i:08}")).collect();
    let p = Pipeline::new("sigkill", &customer);
    p.register(&numbers).await;
    let mut ingest = p.ingest();
    ingest.start().await;
    let codes = [
        ("PU", "Picked up"),
        ("AR", "Arrived at FedEx location"),
        ("OD", "On FedEx vehicle for delivery"),
    ];
    let expected = numbers.len() * codes.len();
    let events_topic = p.topics().events();
    // A short session lets the group hand the killed member's partitions over quickly.
    let mut normalizer = p
        .normalizer()
        .arg("--kafka-property", "session.timeout.ms=3000")
        .arg("--kafka-property", "heartbeat.interval.ms=500");
    normalizer.start().await;
    // Carriers keep pushing (each shipment three times as its history grows, FedEx style: full
    // snapshots) while the normalizer is killed and restarted three times.
    // The last step waits for the third kill, so every kill lands mid-stream however fast the
    // normalizer catches up after a restart.
    let kills = std::sync::atomic::AtomicUsize::new(0);
    let pushing = async {
        for step in 0..codes.len() {
            if step + 1 == codes.len() {
                support::wait_for("the third kill", support::DEADLINE * 2, || async {
                    (kills.load(std::sync::atomic::Ordering::SeqCst) >= 3).then_some(())
                })
                .await;
            }
            for number in &numbers {
                p.push_history(number, &codes, step + 1).await;
            }
        }
    };
    let killing = async {
        let mut kills_mid_stream = 0;
        for round in 1..=3 {
            // Each run gets a little further than the last before it is killed.
            let target = (round * expected / 5) as i64;
            let (bootstrap, topic) = (p.broker.bootstrap().to_string(), events_topic.clone());
            let published =
                support::wait_for("some progress before the kill", support::DEADLINE, || {
                    let (bootstrap, topic) = (bootstrap.clone(), topic.clone());
                    async move {
                        let n = topics::count(&bootstrap, &topic);
                        (n >= target).then_some(n)
                    }
                })
                .await;
            normalizer.kill();
            kills.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if published < expected as i64 {
                kills_mid_stream += 1;
            }
            normalizer.start().await;
        }
        kills_mid_stream
    };
    let ((), kills_mid_stream) = tokio::join!(pushing, killing);
    assert_eq!(kills_mid_stream, 3, "every kill happened mid-stream");
    let records = topics::decode_all::<CanonicalRecord>(
        &topics::read_all_async(p.broker.bootstrap(), &events_topic, expected as i64).await,
    )
    .await;
    let mut seen = HashSet::new();
    let mut last_sequence: HashMap<String, i64> = HashMap::new();
    for r in &records {
        assert!(
            seen.insert((r.record_id.clone(), r.revision)),
            "published twice: {} r{}",
            r.record_id,
            r.revision
        );
        let last = last_sequence.entry(r.shipment_key.clone()).or_insert(0);
        assert!(r.sequence > *last, "sequence increases per shipment");
        *last = r.sequence;
    }
    assert_eq!(records.len(), expected, "every event exactly once");
    for number in &numbers {
        assert_eq!(
            last_sequence[&format!("fedex:{number}")],
            codes.len() as i64
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_endpoints_and_secrets_and_refuses_a_broken_file() {
    let old = Receiver::customer().await;
    let new = Receiver::customer().await;
    let numbers = vec![
        "794612340001".to_string(),
        "794612340002".to_string(),
        "794612340003".to_string(),
    ];
    let p = Pipeline::new("reload", &old);
    p.register(&numbers).await;
    let (mut ingest, mut normalizer, mut dispatcher) = (p.ingest(), p.normalizer(), p.dispatcher());
    ingest.start().await;
    normalizer.start().await;
    dispatcher.start().await;
    let p = &p;
    let numbers = &numbers;
    let push = |n: usize| {
        let body = aiv_payload(
            &numbers[n],
            &[scan("PU", "Picked up", None, "2024-04-24T14:25:00-07:00")],
            None,
            None,
        );
        async move {
            assert_eq!(
                p.push(&body, &sign(support::FEDEX_SECRET, &body))
                    .await
                    .status(),
                200
            )
        }
    };
    push(0).await;
    old.wait_for(1).await;

    // A broken file (bad secret) is refused: the running config stays.
    std::fs::write(&p.config, "[[customers]]\nid = \"acme\"\n[[customers.webhooks]]\nurl = \"http://x\"\nsecrets = [\"nope\"]\n").unwrap();
    dispatcher.hangup();
    dispatcher.wait_for_log("config reload refused", 1).await;
    push(1).await;
    old.wait_for(2).await;

    // Rotation done: a new endpoint with only the new secret.
    support::write_config_with(&p.dir, &new.url(), &[support::CUSTOMER_SECRET_NEXT]);
    dispatcher.hangup();
    dispatcher.wait_for_log("config file reloaded", 1).await;
    push(2).await;
    let delivered = new.wait_for(1).await;
    standardwebhooks::Webhook::new(support::CUSTOMER_SECRET_NEXT)
        .unwrap()
        .verify(&delivered[0].body, &delivered[0].headers)
        .unwrap();
    assert!(
        standardwebhooks::Webhook::new(support::CUSTOMER_SECRET)
            .unwrap()
            .verify(&delivered[0].body, &delivered[0].headers)
            .is_err(),
        "the retired secret no longer signs"
    );
    assert_eq!(
        delivered[0].json()["data"]["shipment"]["tracking_number"],
        numbers[2]
    );
    assert_eq!(old.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_kafka_refuses_as_too_large_is_dead_lettered_in_parts_and_its_partition_flows_on()
{
    let customer = Receiver::customer().await;
    let p = Pipeline::new("oversized", &customer);
    // The events and dead-letter topics take at most 20,000 bytes a record; the producer's own
    // limit (1,000,000) lets larger ones through to the broker, which refuses them.
    let limit = 20_000;
    let limit_text = limit.to_string();
    for topic in [p.topics().events(), p.topics().deadletter()] {
        p.set_topic_configs(&topic, &[("max.message.bytes", &limit_text)])
            .await;
    }
    let big = "794700000001".to_string();
    let others: Vec<String> = (2..=10).map(|i| format!("7947000000{i:02}")).collect();
    p.register(&[vec![big.clone()], others.clone()].concat())
        .await;
    let (mut ingest, mut normalizer, mut dispatcher) = (p.ingest(), p.normalizer(), p.dispatcher());
    ingest.start().await;
    normalizer.start().await;
    dispatcher.start().await;

    // A scan whose description alone is larger than the events topic takes, and does not
    // compress below it (the producer compresses batches): letters from a fixed pseudo-random
    // sequence.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: String = (0..25_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    let description: &'static str = Box::leak(noise.into_boxed_str());
    let big_scan = scan("AR", description, None, "2024-04-25T08:55:00-07:00");
    assert!(description.len() > limit);
    p.push_scans(&big, &[big_scan]).await;
    for number in &others {
        let arrived = scan(
            "AR",
            "Arrived at FedEx location",
            None,
            "2024-04-25T08:55:00-07:00",
        );
        p.push_scans(number, &[arrived]).await;
    }

    // Every other shipment's scan reaches the customer, those on the oversized record's
    // partition too.
    let delivered = customer.wait_for(others.len()).await;
    let numbers: HashSet<String> = delivered
        .iter()
        .map(|r| {
            r.json()["data"]["shipment"]["tracking_number"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(numbers, others.iter().cloned().collect::<HashSet<_>>());
    let raw = topics::read_all_async(
        p.broker.bootstrap(),
        &p.topics().raw(),
        1 + others.len() as i64,
    )
    .await;
    let partition_of = |number: &str| {
        use rdkafka::Message;
        raw.iter()
            .find(|m| m.key() == Some(format!("fedex:{number}").as_bytes()))
            .map(|m| m.partition())
            .unwrap()
    };
    assert!(
        others.iter().any(|n| partition_of(n) == partition_of(&big)),
        "at least one other shipment shares the oversized record's partition"
    );

    // The oversized record is dead-lettered whole, in parts that each fit the topic.
    let kafka = gluey_kafka::KafkaSettings::new(p.broker.bootstrap());
    let codec = gluey_contract::Codec::without_registry().unwrap();
    let listing = support::wait_for("the dead letter", support::DEADLINE, || async {
        let listing = gluey_kafka::deadletters::list(
            &kafka,
            &codec,
            &p.topics(),
            &gluey_kafka::deadletters::DeadLetterFilter::default(),
            support::DEADLINE,
        )
        .await
        .unwrap();
        (!listing.selected.is_empty()).then_some(listing)
    })
    .await;
    assert!(listing.unreadable.is_empty(), "{:?}", listing.unreadable);
    assert_eq!(listing.selected.len(), 1, "one letter");
    let letter = &listing.selected[0].letter;
    assert_eq!(letter.stage, "produce");
    assert!(
        letter.reason.contains("too large") && letter.reason.contains(&p.topics().events()),
        "the reason names the refusal and the topic: {}",
        letter.reason
    );
    let original = {
        use rdkafka::Message;
        raw.iter()
            .find(|m| m.key() == Some(format!("fedex:{big}").as_bytes()))
            .and_then(|m| m.payload())
            .unwrap()
            .to_vec()
    };
    assert_eq!(
        letter.payload, original,
        "the whole raw record, byte for byte"
    );
    assert!(
        listing.total >= 2,
        "written in parts: {} records on the dead-letter topic",
        listing.total
    );
    assert!(normalizer.running(), "{}", normalizer.log());
    let metrics = normalizer.metrics().await;
    assert_eq!(
        support::webhooks::metric(
            &metrics,
            "normalizer_deadletters_total",
            &[("stage", "produce")]
        ),
        1.0,
        "{metrics}"
    );
    for service in [&mut dispatcher, &mut normalizer, &mut ingest] {
        service.kill();
    }
}
