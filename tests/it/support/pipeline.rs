//! A pipeline under test: a broker with a topic set of its own, the config file, and the
//! services as separate processes, plus FedEx-shaped payload helpers.

use chrono::{DateTime, FixedOffset};
use gluey::dev::fedex_simulator::{aiv_payload, sign, FedexScan};
use gluey_contract::TopicNames;

use super::{Broker, Receiver, Service};

pub fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

/// FedEx's snapshot of `number`'s history so far: the first `scans` of `history` (code,
/// description), one scan an hour a day apart.
pub fn history_payload(
    number: &str,
    history: &[(&'static str, &'static str)],
    scans: usize,
) -> Vec<u8> {
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
    aiv_payload(number, &scans, None, None)
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

/// Which broker a test runs on.
enum BrokerChoice {
    /// The suite's broker (`KAFKA_BOOTSTRAP`), or a single node of the test's own without it.
    Suite,
    /// A cluster of the test's own: nodes (1 or 3) and broker settings.
    Cluster(usize, Vec<String>),
    /// A single node of the test's own whose services use only its SASL_SSL listener.
    Sasl,
}

/// What the config file holds.
enum ConfigChoice {
    Text(String),
    /// One customer `acme` with one endpoint and the two test secrets.
    Customer(String),
}

/// Builds a [`Pipeline`]: the one harness of the integration tests.
pub struct PipelineBuilder {
    name: String,
    broker: BrokerChoice,
    config: ConfigChoice,
    schema_registry: bool,
}

impl PipelineBuilder {
    /// One customer, `acme`, whose webhook endpoint is `customer`.
    pub fn customer(mut self, customer: &Receiver) -> Self {
        self.config = ConfigChoice::Customer(customer.url());
        self
    }

    /// The config file's text as given (say, only carrier sections, for ingest alone).
    pub fn config(mut self, text: &str) -> Self {
        self.config = ConfigChoice::Text(text.to_string());
        self
    }

    /// Customers and endpoints from `hooks` (the webhook channel's tests).
    pub fn hooks(self, hooks: &[&super::webhooks::Hook]) -> Self {
        let text = super::webhooks::customers_toml(hooks);
        self.config(&text)
    }

    /// A cluster of the test's own, `nodes` (1 or 3) nodes with broker settings `set`, for
    /// tests that break it.
    pub fn cluster(mut self, nodes: usize, set: &[&str]) -> Self {
        self.broker = BrokerChoice::Cluster(nodes, set.iter().map(|s| s.to_string()).collect());
        self
    }

    /// A single node of the test's own whose segments roll after a second and whose cleaner takes
    /// any dirty log, so compaction happens within the test (with
    /// [`Pipeline::compact_state_topic_quickly`] for the state topic, which declares its own
    /// `segment.ms`).
    pub fn compacting_cluster(self) -> Self {
        self.cluster(
            1,
            &[
                "log.roll.ms=1000",
                "log.cleaner.min.cleanable.ratio=0.01",
                "log.cleaner.backoff.ms=200",
            ],
        )
    }

    /// A single node of the test's own; the services reach it only through its SASL_SSL
    /// (SCRAM) listener, with the credentials in `GLUEY_KAFKA_PROPERTIES`.
    pub fn sasl(mut self) -> Self {
        self.broker = BrokerChoice::Sasl;
        self
    }

    /// A Schema Registry of the test's own, which it may stop and start again: every service
    /// and the test's own readers and writers use the Confluent wire format through it.
    pub fn schema_registry(mut self) -> Self {
        self.schema_registry = true;
        self
    }

    /// Starts the broker (unless it is the suite's), creates the topics under a prefix of the
    /// test's own and writes the config file.
    pub fn start(self) -> Pipeline {
        let (prefix, dir) = super::unique(&self.name);
        let mut broker = match &self.broker {
            BrokerChoice::Suite => Broker::start(&dir),
            BrokerChoice::Cluster(nodes, set) => {
                let set: Vec<&str> = set.iter().map(String::as_str).collect();
                Broker::own(&dir, *nodes, &set)
            }
            BrokerChoice::Sasl => Broker::own_with_sasl(&dir),
        };
        broker.create_topics(&prefix);
        let config = match &self.config {
            ConfigChoice::Customer(url) => super::write_config(&dir, url),
            ConfigChoice::Text(text) => write_text(&dir, text),
        };
        let registry = self
            .schema_registry
            .then(|| super::registry::SchemaRegistry::start(&dir));
        Pipeline {
            broker,
            prefix,
            dir,
            config,
            ingest_port: super::free_port(),
            registry,
        }
    }
}

fn write_text(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("gluey.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A broker with a topic set of the test's own, the config file, and the services as separate
/// processes.
pub struct Pipeline {
    pub broker: Broker,
    pub prefix: String,
    pub dir: std::path::PathBuf,
    pub config: std::path::PathBuf,
    pub ingest_port: u16,
    /// Set by [`PipelineBuilder::schema_registry`].
    pub registry: Option<super::registry::SchemaRegistry>,
}

impl Pipeline {
    pub fn builder(name: &str) -> PipelineBuilder {
        PipelineBuilder {
            name: name.to_string(),
            broker: BrokerChoice::Suite,
            config: ConfigChoice::Text(String::new()),
            schema_registry: false,
        }
    }

    /// A codec as the services use it: through the pipeline's Schema Registry when it has one.
    pub fn codec(&self) -> std::sync::Arc<gluey_contract::Codec> {
        let settings = self.registry.as_ref().map(|r| r.settings());
        std::sync::Arc::new(gluey_contract::Codec::new(settings.as_ref()).unwrap())
    }

    /// The common case: the suite's broker and one customer endpoint.
    pub fn new(name: &str, customer: &Receiver) -> Pipeline {
        Pipeline::builder(name).customer(customer).start()
    }

    /// Writes another config file (in the test's directory) and returns its path.
    pub fn write_config(&self, file: &str, text: &str) -> std::path::PathBuf {
        let path = self.dir.join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Registers `numbers` as `carrier` shipments of the customer `acme`, through the registry.
    pub async fn register_as(&self, carrier: &str, numbers: &[String]) {
        let codec = self.codec();
        let kafka = gluey_kafka::KafkaSettings::new(self.broker.bootstrap());
        let registry = gluey_kafka::ShipmentRegistry::new(&kafka, codec, &self.topics()).unwrap();
        for number in numbers {
            let registration = gluey_kafka::Registration {
                customer_id: "acme".into(),
                carrier: carrier.into(),
                tracking_numbers: vec![number.clone()],
                ..gluey_kafka::Registration::default()
            };
            registry.register(&registration).await.unwrap();
        }
    }

    /// Registers `numbers` as FedEx shipments of the customer `acme`, through the registry.
    pub async fn register(&self, numbers: &[String]) {
        self.register_as("fedex", numbers).await
    }

    /// Registers one FedEx shipment under several tracking numbers: the first owns it, the
    /// others are aliases.
    pub async fn register_with_aliases(&self, numbers: &[String]) {
        let codec = self.codec();
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
        let mut service = self.service_on_broker(name, args);
        for (key, value) in self.registry.iter().flat_map(|r| r.environment()) {
            service = service.env(key, &value);
        }
        service
    }

    fn service_on_broker(&self, name: &str, args: &[&str]) -> Service {
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
        let body = history_payload(number, history, scans);
        assert_eq!(
            self.push(&body, &sign(super::FEDEX_SECRET, &body))
                .await
                .status(),
            200
        );
    }

    /// Pushes `scans` of `number` as FedEx does, signed; asserts 200.
    pub async fn push_scans(&self, number: &str, scans: &[FedexScan]) {
        let body = aiv_payload(number, scans, None, None);
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

    /// Waits until every partition's latest snapshots cover the whole events topic (the
    /// normalizer writes a checkpoint snapshot once a partition is quiet).
    pub async fn wait_for_snapshots_to_cover_the_events(&self) {
        let p = self;
        let codec = self.codec();
        super::wait_for(
            "snapshots covering every event",
            super::DEADLINE,
            || async {
                let (kafka, state, events) = (
                    gluey_kafka::KafkaSettings::new(p.broker.bootstrap()),
                    p.topics().state(),
                    p.topics().events(),
                );
                let bootstrap = p.broker.bootstrap().to_string();
                let codec = codec.clone();
                tokio::task::spawn_blocking(move || {
                    use rdkafka::consumer::{BaseConsumer, Consumer};
                    use rdkafka::Message;
                    let handle = tokio::runtime::Runtime::new().unwrap();
                    let mut covered: std::collections::HashMap<i32, i64> = Default::default();
                    gluey_kafka::read_to_end(&kafka, &state, super::DEADLINE, |m| {
                        let snapshot = handle
                            .block_on(
                                codec.decode::<gluey_contract::ShipmentState>(m.payload().unwrap()),
                            )
                            .unwrap();
                        let c = covered.entry(m.partition()).or_default();
                        *c = (*c).max(snapshot.events_covered_to.unwrap_or(0));
                    })
                    .unwrap();
                    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
                        .set("bootstrap.servers", &bootstrap)
                        .create()
                        .unwrap();
                    (0..super::broker::PARTITIONS)
                        .all(|partition| {
                            let (_, high) = consumer
                                .fetch_watermarks(
                                    &events,
                                    partition,
                                    std::time::Duration::from_secs(10),
                                )
                                .unwrap();
                            high == 0 || covered.get(&partition) == Some(&high)
                        })
                        .then_some(())
                })
                .await
                .unwrap()
            },
        )
        .await
    }

    /// Values per key on `topic`, as a reader sees them now.
    pub async fn values_per_key(&self, topic: String) -> std::collections::HashMap<String, usize> {
        let kafka = gluey_kafka::KafkaSettings::new(self.broker.bootstrap());
        tokio::task::spawn_blocking(move || {
            use rdkafka::Message;
            let mut per_key = std::collections::HashMap::<String, usize>::new();
            gluey_kafka::read_to_end(&kafka, &topic, super::DEADLINE, |m| {
                let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                *per_key.entry(key).or_default() += 1;
            })
            .unwrap();
            per_key
        })
        .await
        .unwrap()
    }

    /// Snapshots of shipments nobody tracks, written to the state topic so its active segments roll
    /// (they carry no coverage, so a restore is not misled by them).
    pub async fn roll_state_topic(&self, keys: &[String]) {
        let codec = gluey_contract::Codec::without_registry().unwrap();
        let producer = gluey_kafka::RecordProducer::new(
            &gluey_kafka::KafkaSettings::new(self.broker.bootstrap()),
            std::time::Duration::from_secs(10),
        )
        .unwrap();
        let topic = self.topics().state();
        for key in keys {
            let snapshot = gluey::bench::takeover::untracked_snapshot(key);
            let bytes = codec.encode(&topic, &snapshot).await.unwrap();
            producer
                .send(&topic, Some(key.as_bytes()), &bytes, Default::default())
                .await
                .unwrap();
        }
    }

    /// Sets `topic`'s configs to exactly `configs` (AlterConfigs replaces the topic's whole set:
    /// name every one that matters, `cleanup.policy` of a compacted topic included).
    pub async fn set_topic_configs(&self, topic: &str, configs: &[(&str, &str)]) {
        use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
        let admin: AdminClient<rdkafka::client::DefaultClientContext> =
            rdkafka::ClientConfig::new()
                .set("bootstrap.servers", self.broker.bootstrap())
                .create()
                .unwrap();
        let mut change = AlterConfig::new(ResourceSpecifier::Topic(topic));
        for (key, value) in configs {
            change = change.set(key, value);
        }
        for result in admin
            .alter_configs(&[change], &AdminOptions::new())
            .await
            .unwrap()
        {
            result.unwrap();
        }
    }

    /// The state topic as a test cluster that compacts within seconds needs it: segments that
    /// roll after a second (the declaration's hour would keep everything in the active segment).
    pub async fn compact_state_topic_quickly(&self) {
        self.set_topic_configs(
            &self.topics().state(),
            &[("cleanup.policy", "compact"), ("segment.ms", "1000")],
        )
        .await;
    }
}
