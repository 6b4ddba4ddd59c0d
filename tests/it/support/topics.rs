//! Reading a topic whole, with the services' own reader (`gluey_kafka::read_to_end`).

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message};

fn consumer(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

/// Records on `topic` right now (sum of high - low watermarks over its partitions).
pub fn count(bootstrap: &str, topic: &str) -> i64 {
    let c = consumer(bootstrap);
    let metadata = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let partitions = metadata.topics()[0].partitions().len() as i32;
    (0..partitions)
        .map(|p| {
            let (low, high) = c
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap();
            high - low
        })
        .sum()
}

/// Reads every record currently on `topic`, waiting until there are at least `at_least`.
pub fn read_all(
    bootstrap: &str,
    topic: &str,
    at_least: i64,
    deadline: Duration,
) -> Vec<OwnedMessage> {
    let until = Instant::now() + deadline;
    loop {
        let n = count(bootstrap, topic);
        if n >= at_least {
            break;
        }
        assert!(
            Instant::now() < until,
            "timed out waiting for {at_least} records on {topic} (have {n})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut out = Vec::new();
    let kafka = gluey_kafka::KafkaSettings::new(bootstrap);
    gluey_kafka::read_to_end(
        &kafka,
        topic,
        until.saturating_duration_since(Instant::now()),
        |m| out.push(m.detach()),
    )
    .unwrap_or_else(|e| panic!("reading {topic}: {e}"));
    out
}

pub async fn decode_all<T: gluey_contract::AvroRecord>(messages: &[OwnedMessage]) -> Vec<T> {
    let codec = gluey_contract::Codec::without_registry().unwrap();
    let mut out = Vec::new();
    for m in messages {
        out.push(codec.decode::<T>(m.payload().unwrap()).await.unwrap());
    }
    out
}

/// `read_all` off the async runtime.
pub async fn read_all_async(bootstrap: &str, topic: &str, at_least: i64) -> Vec<OwnedMessage> {
    let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || read_all(&bootstrap, &topic, at_least, super::DEADLINE))
        .await
        .unwrap()
}
