//! A pipeline under test: a broker with a topic set of its own, the config file, and the
//! services as separate processes, plus FedEx-shaped payload helpers.

use chrono::{DateTime, FixedOffset};
use gluey::dev::fedex_simulator::{aiv_payload, sign, FedexScan};
use gluey_contract::TopicNames;

use super::{Broker, CustomerEndpoint, Service};

pub fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

pub fn scan(
    event_type: &'static str,
    description: &'static str,
    exception: Option<&'static str>,
    date: &str,
) -> FedexScan {
    FedexScan {
        event_type,
        description,
        exception_code: exception,
        exception_description: exception.map(|_| "Customer not available or business closed"),
        at: at(date),
        city: "CLOVIS",
        state: "CA",
        postal_code: "93612",
        country: "US",
    }
}

fn write_text(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("gluey.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub struct Pipeline {
    pub broker: Broker,
    pub prefix: String,
    pub dir: std::path::PathBuf,
    pub config: std::path::PathBuf,
    pub ingest_port: u16,
}

impl Pipeline {
    pub fn new(name: &str, customer: &CustomerEndpoint) -> Pipeline {
        Pipeline::with_config(name, Broker::start, |dir| {
            super::write_config(dir, &customer.url())
        })
    }

    /// A pipeline whose config file is `text` (say, only carrier sections, for ingest alone).
    pub fn with_config_text(name: &str, text: &str) -> Pipeline {
        Pipeline::with_config(name, Broker::start, |dir| write_text(dir, text))
    }

    /// As [`Pipeline::with_config_text`], on a single-node cluster of the test's own, for tests
    /// that break the broker.
    pub fn on_own_broker(name: &str, text: &str) -> Pipeline {
        Pipeline::with_config(
            name,
            |dir| Broker::own(dir, 1, &[]),
            |dir| write_text(dir, text),
        )
    }

    /// A pipeline for `customer` on a cluster of the test's own: `nodes` (1 or 3) nodes with
    /// broker settings `set`, for tests that break it.
    pub fn on_cluster(
        name: &str,
        nodes: usize,
        set: &[&str],
        customer: &CustomerEndpoint,
    ) -> Pipeline {
        Pipeline::with_config(
            name,
            |dir| Broker::own(dir, nodes, set),
            |dir| super::write_config(dir, &customer.url()),
        )
    }

    /// A pipeline whose services reach a cluster of the test's own only through its SASL_SSL
    /// (SCRAM) listener.
    pub fn on_sasl_broker(name: &str, customer: &CustomerEndpoint) -> Pipeline {
        Pipeline::with_config(name, Broker::own_with_sasl, |dir| {
            super::write_config(dir, &customer.url())
        })
    }

    fn with_config(
        name: &str,
        broker: impl FnOnce(&std::path::Path) -> Broker,
        write: impl FnOnce(&std::path::Path) -> std::path::PathBuf,
    ) -> Pipeline {
        let (prefix, dir) = super::unique(name);
        let mut broker = broker(&dir);
        broker.create_topics(&prefix);
        let config = write(&dir);
        Pipeline {
            broker,
            prefix,
            dir,
            config,
            ingest_port: super::free_port(),
        }
    }

    /// Registers `numbers` as FedEx shipments of the customer `acme`, through the registry.
    pub async fn register(&self, numbers: &[String]) {
        let codec = std::sync::Arc::new(gluey_contract::Codec::without_registry().unwrap());
        let kafka = gluey_kafka::KafkaSettings::new(self.broker.bootstrap());
        let registry = gluey_kafka::ShipmentRegistry::new(&kafka, codec, &self.topics()).unwrap();
        for number in numbers {
            let registration = gluey_kafka::Registration {
                customer_id: "acme".into(),
                carrier: "fedex".into(),
                tracking_numbers: vec![number.clone()],
                ..gluey_kafka::Registration::default()
            };
            registry.register(&registration).await.unwrap();
        }
    }

    /// Registers one FedEx shipment under several tracking numbers: the first owns it, the
    /// others are aliases.
    pub async fn register_with_aliases(&self, numbers: &[String]) {
        let codec = std::sync::Arc::new(gluey_contract::Codec::without_registry().unwrap());
        let kafka = gluey_kafka::KafkaSettings::new(self.broker.bootstrap());
        let registry = gluey_kafka::ShipmentRegistry::new(&kafka, codec, &self.topics()).unwrap();
        let registration = gluey_kafka::Registration {
            customer_id: "acme".into(),
            carrier: "fedex".into(),
            tracking_numbers: numbers.to_vec(),
            ..gluey_kafka::Registration::default()
        };
        registry.register(&registration).await.unwrap();
    }

    pub fn topics(&self) -> TopicNames {
        TopicNames::new(self.prefix.clone())
    }

    /// A service on this pipeline's broker: on its SASL_SSL listener, with the credentials in
    /// `GLUEY_KAFKA_PROPERTIES`, when the broker has one.
    pub fn service(&self, name: &str, args: &[&str]) -> Service {
        match self.broker.sasl() {
            Some(sasl) => Service::new(
                name,
                args,
                &sasl.bootstrap,
                &self.prefix,
                &self.config,
                &self.dir,
            )
            .env("GLUEY_KAFKA_PROPERTIES", &sasl.gluey_kafka_properties()),
            None => Service::new(
                name,
                args,
                self.broker.bootstrap(),
                &self.prefix,
                &self.config,
                &self.dir,
            ),
        }
    }

    pub fn ingest(&self) -> Service {
        self.service("ingest", &["ingest", "webhook"])
            .arg("--listen", &format!("127.0.0.1:{}", self.ingest_port))
            .arg("--max-body-bytes", "65536")
            .arg("--produce-timeout", "2s")
            .arg("--retry-after", "7s")
    }

    pub fn normalizer(&self) -> Service {
        self.service("normalizer", &["normalize"])
    }

    pub fn dispatcher(&self) -> Service {
        self.service("dispatcher", &["dispatch", "webhook"])
            .flag("--allow-loopback-endpoints")
            .arg("--retry-time-scale", "0.01")
    }

    /// Pushes `number`'s history so far, the first `scans` of `history` (code, description), as
    /// FedEx does (a full snapshot each time, one scan an hour a day apart), signed; asserts 200.
    pub async fn push_history(
        &self,
        number: &str,
        history: &[(&'static str, &'static str)],
        scans: usize,
    ) {
        let scans: Vec<FedexScan> = history[..scans]
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
            self.push(&body, &sign(super::FEDEX_SECRET, &body))
                .await
                .status(),
            200
        );
    }

    pub async fn push(&self, body: &[u8], signature: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!(
                "http://127.0.0.1:{}/carriers/fedex/aiv",
                self.ingest_port
            ))
            .header("content-type", "application/json")
            .header("fdx-signature", signature)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }
}
