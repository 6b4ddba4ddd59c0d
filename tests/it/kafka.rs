//! What only a real broker shows: `gluey topics create` applies the declared partitions and
//! configs (read back with DescribeConfigs) and reports a topic that differs; services refuse
//! topics that are not co-partitioned, and an assignor that would break co-partitioning; a
//! whole-topic read ends on a topic written with transactions, whose last offset is a marker.

use std::process::{Command, Output};
use std::time::Duration;

use gluey_contract::{TopicNames, TOPICS};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

use crate::support::{self, Broker};

fn gluey(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gluey"))
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `service` (e.g. `["normalize"]`) to its exit on `broker` under `prefix`, with an empty
/// config file in `dir` and `extra` arguments.
fn run_service(
    service: &[&str],
    broker: &Broker,
    prefix: &str,
    dir: &std::path::Path,
    extra: &[&str],
) -> Output {
    let config = dir.join("gluey.toml");
    std::fs::write(&config, "").unwrap();
    let config = config.display().to_string();
    let common = [
        "--kafka-bootstrap",
        broker.bootstrap(),
        "--topic-prefix",
        prefix,
        "--config",
        &config,
        "--ops-listen",
        "127.0.0.1:0",
    ];
    gluey(&[service, &common[..], extra].concat())
}

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap()
}

fn topics_create(bootstrap: &str, prefix: &str, partitions: &str) -> Output {
    gluey(&[
        "topics",
        "create",
        "--kafka-bootstrap",
        bootstrap,
        "--topic-prefix",
        prefix,
        "--partitions",
        partitions,
        "--replication",
        "1",
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_create_applies_every_declaration_and_a_second_run_changes_nothing() {
    let (prefix, dir) = support::unique("topics-create");
    let broker = Broker::start(&dir);
    let first = topics_create(broker.bootstrap(), &prefix, "4");
    assert!(first.status.success(), "{}", text(&first));
    assert_eq!(
        String::from_utf8_lossy(&first.stdout)
            .matches(": created")
            .count(),
        TOPICS.len(),
        "{}",
        text(&first)
    );

    // Read every topic back from the broker: partitions from the metadata, configs with
    // DescribeConfigs.
    let names = TopicNames::new(prefix.clone());
    let admin = admin(broker.bootstrap());
    let specs: Vec<String> = TOPICS.iter().map(|t| names.name(t)).collect();
    let specifiers: Vec<ResourceSpecifier<'_>> =
        specs.iter().map(|n| ResourceSpecifier::Topic(n)).collect();
    let described = admin
        .describe_configs(&specifiers, &AdminOptions::new())
        .await
        .unwrap();
    let metadata = {
        let bootstrap = broker.bootstrap().to_string();
        tokio::task::spawn_blocking(move || {
            use rdkafka::consumer::{BaseConsumer, Consumer};
            let c: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .create()
                .unwrap();
            c.fetch_metadata(None, Duration::from_secs(30)).unwrap()
        })
        .await
        .unwrap()
    };
    for ((spec, name), resource) in TOPICS.iter().zip(&specs).zip(described) {
        let resource = resource.unwrap_or_else(|e| panic!("{name}: {e}"));
        for (key, want) in gluey_kafka::admin::declared_configs(spec) {
            assert_eq!(
                resource.get(key).and_then(|e| e.value.clone()).as_deref(),
                Some(want.as_str()),
                "{name} {key}"
            );
        }
        let topic = metadata
            .topics()
            .iter()
            .find(|t| t.name() == name)
            .unwrap_or_else(|| panic!("{name} exists"));
        assert_eq!(
            topic.partitions().len() as i32,
            spec.partitions(4),
            "{name} partitions"
        );
    }
    // Compacted topics really are compacted; the event log keeps a year.
    let retention_days = |n: &str| {
        TOPICS
            .iter()
            .find(|t| t.name == n)
            .and_then(|t| t.retention_days())
    };
    assert_eq!(retention_days("tracking.events.v1"), Some(365));

    let second = topics_create(broker.bootstrap(), &prefix, "4");
    assert!(second.status.success(), "{}", text(&second));
    assert_eq!(
        String::from_utf8_lossy(&second.stdout)
            .matches("already exists as declared")
            .count(),
        TOPICS.len(),
        "{}",
        text(&second)
    );
}

/// Creates `topic` with `partitions` ahead of `gluey topics create`.
async fn precreate(bootstrap: &str, topic: &str, partitions: i32) {
    let results = admin(bootstrap)
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_that_differs_from_its_declaration_is_reported_and_services_refuse_it() {
    let (prefix, dir) = support::unique("topics-differ");
    let broker = Broker::start(&dir);
    let names = TopicNames::new(prefix.clone());
    // The state topic made by hand, with 2 partitions and the default (delete) policy.
    precreate(broker.bootstrap(), &names.state(), 2).await;
    let out = topics_create(broker.bootstrap(), &prefix, "3");
    assert!(!out.status.success(), "a differing topic fails the command");
    let report = text(&out);
    let line = report
        .lines()
        .find(|l| l.starts_with(&names.state()))
        .unwrap_or_else(|| panic!("the state topic is reported: {report}"));
    assert!(
        line.contains("DIFFERS")
            && line.contains("2 partitions, declared 3")
            && line.contains("cleanup.policy is delete, declared compact"),
        "{line}"
    );
    assert!(report.contains("differ from their declaration"), "{report}");
    // Everything else was created as declared.
    assert_eq!(report.matches(": created").count(), TOPICS.len() - 1);

    // Every service refuses to start on these topics, naming them with their counts.
    for service in [&["normalize"][..], &["dispatch", "webhook"]] {
        let out = run_service(service, &broker, &prefix, &dir, &[]);
        assert!(!out.status.success(), "{service:?} refused to start");
        let err = text(&out);
        assert!(
            err.contains("co-partitioned topics must have equal partition counts")
                && err.contains(&format!("{} has 2", names.state()))
                && err.contains(&format!("{} has 3", names.raw())),
            "{service:?}: {err}"
        );
    }
}

#[test]
fn a_service_on_missing_topics_names_them() {
    let (prefix, dir) = support::unique("topics-missing");
    let broker = Broker::start(&dir);
    let out = run_service(&["normalize"], &broker, &prefix, &dir, &[]);
    assert!(!out.status.success());
    let err = text(&out);
    assert!(
        err.contains("topics missing")
            && err.contains(&format!("{prefix}tracking.raw.v1"))
            && err.contains("gluey topics create"),
        "{err}"
    );
}

#[test]
fn the_normalizer_refuses_an_assignor_that_breaks_co_partitioning() {
    let (prefix, dir) = support::unique("assignor");
    let mut broker = Broker::start(&dir);
    broker.create_topics(&prefix);
    for (property, named) in [
        (
            "partition.assignment.strategy=roundrobin",
            "partition.assignment.strategy=roundrobin",
        ),
        ("group.protocol=consumer", "group.remote.assignor=uniform"),
    ] {
        let out = run_service(
            &["normalize"],
            &broker,
            &prefix,
            &dir,
            &["--kafka-property", property],
        );
        assert!(!out.status.success(), "{property} refused");
        let err = text(&out);
        assert!(
            err.contains(named) && err.contains("breaks co-partitioning"),
            "{property}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_topic_read_ends_on_a_topic_written_with_transactions() {
    let (prefix, dir) = support::unique("txn-read");
    let broker = Broker::start(&dir);
    let topic = format!("{prefix}transactional");
    precreate(broker.bootstrap(), &topic, 2).await;
    let bootstrap = broker.bootstrap().to_string();
    let topic_for_producer = topic.clone();
    tokio::task::spawn_blocking(move || {
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("transactional.id", format!("{topic_for_producer}-writer"))
            .create()
            .unwrap();
        let timeout = Duration::from_secs(30);
        producer.init_transactions(timeout).unwrap();
        // Committed: 5 records per partition; then an aborted transaction of 3 more.
        producer.begin_transaction().unwrap();
        for i in 0..10 {
            let key = format!("k{i}");
            let value = format!("committed {i}");
            producer
                .send(
                    BaseRecord::to(&topic_for_producer)
                        .partition(i % 2)
                        .key(&key)
                        .payload(&value),
                )
                .unwrap();
        }
        producer.commit_transaction(timeout).unwrap();
        producer.begin_transaction().unwrap();
        for i in 0..3 {
            let key = format!("a{i}");
            producer
                .send(
                    BaseRecord::to(&topic_for_producer)
                        .partition(i % 2)
                        .key(&key)
                        .payload("aborted"),
                )
                .unwrap();
        }
        producer.flush(timeout).unwrap();
        producer.abort_transaction(timeout).unwrap();
    })
    .await
    .unwrap();

    let kafka = gluey_kafka::KafkaSettings::new(broker.bootstrap());
    let topic_for_reader = topic.clone();
    let (values, high) = tokio::task::spawn_blocking(move || {
        let mut values = Vec::new();
        let high = gluey_kafka::read_to_end(&kafka, &topic_for_reader, support::DEADLINE, |m| {
            use rdkafka::Message;
            values.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
        })
        .expect("the read ends at the high watermark, past the markers");
        (values, high)
    })
    .await
    .unwrap();
    assert_eq!(values.len(), 10, "committed records only: {values:?}");
    assert!(values.iter().all(|v| v.starts_with("committed")));
    // Each partition: 5 committed + commit marker + aborted records + abort marker.
    let p0 = high[&0];
    assert!(
        p0 >= 8,
        "partition 0 high watermark {p0} includes the markers"
    );
}
