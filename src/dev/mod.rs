//! `gluey dev`: the whole pipeline in one process on an embedded Kafka-protocol broker, with a
//! simulated FedEx pushing signed events for a handful of shipments through their life cycle and
//! a sample customer that verifies and prints every webhook. Nothing to install beyond Rust.

pub mod fedex_simulator;
pub mod sample_customer;
pub mod subscription_api;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use chrono::Utc;
use clap::Args;
use gluey_contract::{Codec, TopicNames};
use gluey_dispatcher::config::{CustomerSection, EndpointSection};
use gluey_ingest::config::FedexPushConfig;
use gluey_kafka::{DevBroker, KafkaSettings};
use gluey_kafka::{Registration, ShipmentRegistry};
use gluey_ops::{Health, OpsServer, Reloadable, Secret};
use prometheus::Registry;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::cli::commands_support::parse_duration;
use fedex_simulator::SimulatedShipment;

#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    /// Where the simulated carrier pushes (ingest webhook).
    #[arg(
        long,
        env = "GLUEY_DEV_INGEST_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub ingest_listen: SocketAddr,
    /// The sample customer endpoint.
    #[arg(
        long,
        env = "GLUEY_DEV_CUSTOMER_LISTEN",
        default_value = "127.0.0.1:8090"
    )]
    pub customer_listen: SocketAddr,
    /// /metrics, /healthz, /readyz of the whole pipeline.
    #[arg(long, env = "GLUEY_DEV_OPS_LISTEN", default_value = "127.0.0.1:9090")]
    pub ops_listen: SocketAddr,
    /// Pause between two carrier pushes.
    #[arg(long, env = "GLUEY_DEV_PUSH_INTERVAL", default_value = "1500ms", value_parser = parse_duration)]
    pub push_interval: Duration,
    /// Shipments in flight at once.
    #[arg(long, env = "GLUEY_DEV_SHIPMENTS", default_value_t = 4)]
    pub shipments: usize,
}

const DEV_CUSTOMER: &str = "demo-shop";
const TRACKING_POOL: usize = 500;

fn random_secret(len: usize) -> Vec<u8> {
    let mut rng = rand::rng();
    (0..len).map(|_| rng.random()).collect()
}

pub async fn run_dev(args: DevArgs) -> anyhow::Result<()> {
    let broker = DevBroker::start(1).context("cannot start the embedded broker")?;
    let topics = TopicNames::default();
    broker
        .create_topics(&topics, 3)
        .context("cannot create topics")?;
    let kafka = KafkaSettings::new(broker.bootstrap());

    let fedex_secret = base64::engine::general_purpose::STANDARD.encode(random_secret(24));
    let customer_secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(random_secret(32))
    );
    let numbers = fedex_simulator::tracking_numbers(TRACKING_POOL);

    let shutdown = CancellationToken::new();
    gluey_ops::shutdown_on_signals(shutdown.clone())?;
    let registry = Registry::new();
    let codec = Arc::new(Codec::without_registry()?);
    let ops = OpsServer::start(
        args.ops_listen,
        registry.clone(),
        Health::new(),
        shutdown.clone(),
    )
    .await
    .with_context(|| format!("cannot bind --ops-listen {}", args.ops_listen))?;
    let customer_addr = sample_customer::start(
        args.customer_listen,
        customer_secret.clone(),
        shutdown.clone(),
    )
    .await
    .with_context(|| format!("cannot bind --customer-listen {}", args.customer_listen))?;

    let ingest = gluey_ingest::run_webhook_ingest(
        gluey_ingest::WebhookIngestConfig {
            listen: args.ingest_listen,
            max_body_bytes: 1024 * 1024,
            produce_timeout: Duration::from_secs(4),
            retry_after: Duration::from_secs(5),
            topics: topics.clone(),
            carriers: Reloadable::fixed(gluey_ingest::CarrierPushSection {
                fedex: Some(FedexPushConfig {
                    aiv_secrets: vec![Secret::new(fedex_secret.clone())],
                }),
                ..Default::default()
            }),
        },
        &kafka,
        codec.clone(),
        &registry,
        Health::new(),
        shutdown.clone(),
    )
    .await?;

    let normalizer = tokio::spawn({
        let config = gluey_normalizer::NormalizerConfig {
            topics: topics.clone(),
            group_id: "gluey-normalizer".into(),
            produce_timeout: Duration::from_secs(10),
            retry_backoff: Duration::from_secs(1),
            park_window: Duration::from_secs(3600),
            park_sweep_interval: Duration::from_secs(60),
            expire_after: Duration::from_secs(30 * 24 * 3600),
            max_batch: 500,
        };
        let (kafka, codec, registry, shutdown) = (
            kafka.clone(),
            codec.clone(),
            registry.clone(),
            shutdown.clone(),
        );
        async move {
            gluey_normalizer::run_normalizer(
                config,
                &kafka,
                codec,
                &registry,
                Health::new(),
                shutdown,
            )
            .await
        }
    });
    let customers = vec![CustomerSection {
        id: DEV_CUSTOMER.into(),
        webhooks: vec![EndpointSection {
            url: format!("http://{customer_addr}/webhooks/tracking"),
            secrets: vec![Secret::new(customer_secret)],
        }],
    }];
    let dispatcher = tokio::spawn({
        let config = gluey_dispatcher::DispatcherConfig {
            topics: topics.clone(),
            group_id: "gluey-dispatch-webhook".into(),
            endpoints: Reloadable::fixed(gluey_dispatcher::config::endpoints(&customers)?),
            attempt_timeout: Duration::from_secs(15),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        };
        let (kafka, codec, registry, shutdown) = (
            kafka.clone(),
            codec.clone(),
            registry.clone(),
            shutdown.clone(),
        );
        async move {
            gluey_dispatcher::run_webhook_dispatcher(
                config,
                &kafka,
                codec,
                &registry,
                Health::new(),
                shutdown,
            )
            .await
        }
    });

    let ups = subscription_api::DevUps::start(shutdown.clone()).await?;

    println!("gluey dev: the whole pipeline in one process (Ctrl-C to stop)");
    println!(
        "  kafka (embedded mock)   {}   topics: {}",
        broker.bootstrap(),
        gluey_contract::TOPICS
            .iter()
            .map(|t| t.name)
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  ingest webhook          http://{}/carriers/fedex/aiv",
        ingest.addr
    );
    println!("  normalizer              tracking.raw.v1 → tracking.events.v1");
    println!(
        "  dispatch webhook        tracking.events.v1 → http://{customer_addr}/webhooks/tracking"
    );
    println!(
        "  ingest subscriptions    registered UPS shipments → Track Alert (simulated) at {}",
        ups.api.base_url()
    );
    println!(
        "  metrics / health        http://{}/metrics  /healthz  /readyz",
        ops.addr
    );
    println!(
        "  simulated FedEx pushes every {:?}, {} shipments in flight",
        args.push_interval, args.shipments
    );
    println!();

    let shipments = ShipmentRegistry::new(&kafka, codec.clone(), &topics)?;
    let subscriptions = ups
        .run(
            &shipments,
            &kafka,
            codec.clone(),
            &topics,
            &registry,
            shutdown.clone(),
        )
        .await?;
    let registry = shipments;
    let simulator = tokio::spawn(simulate(
        registry,
        format!("http://{}/carriers/fedex/aiv", ingest.addr),
        fedex_secret,
        numbers,
        args.shipments.max(1),
        args.push_interval,
        shutdown.clone(),
    ));

    shutdown.cancelled().await;
    println!("gluey dev: stopping");
    let _ = simulator.await;
    let _ = ingest.task.await;
    let _ = normalizer.await;
    let _ = dispatcher.await;
    let _ = subscriptions.await;
    drop(broker);
    Ok(())
}

async fn simulate(
    registry: ShipmentRegistry,
    url: String,
    secret: String,
    numbers: Vec<String>,
    in_flight: usize,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let client = reqwest::Client::new();
    let mut pool = numbers.into_iter().cycle();
    let mut active: Vec<SimulatedShipment> = Vec::new();
    let mut tick = tokio::time::interval(interval);
    let mut started = 0usize;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        active.retain(|s| !s.is_delivered());
        while active.len() < in_flight {
            let Some(number) = pool.next() else { return };
            started += 1;
            // The shop registers the shipment when it prints the label.
            let registration = Registration {
                customer_id: DEV_CUSTOMER.into(),
                carrier: "fedex".into(),
                tracking_numbers: vec![number.clone()],
                shipment_id: Some(format!("order-{started}")),
                ..Registration::default()
            };
            if let Err(e) = registry.register(&registration).await {
                println!("shop      → register {number} failed: {e}");
                continue;
            }
            active.push(SimulatedShipment::new(
                number,
                started % 3 == 0,
                Utc::now() - chrono::Duration::days(2),
            ));
        }
        let pick = rand::rng().random_range(0..active.len());
        let shipment = &mut active[pick];
        let Some((body, code)) = shipment.advance() else {
            continue;
        };
        let response = client
            .post(&url)
            .header("content-type", "application/json")
            .header("fdx-signature", fedex_simulator::sign(&secret, &body))
            .body(body)
            .send()
            .await;
        match response {
            Ok(r) => println!(
                "fedex     → push {} {code:<2} → {}",
                shipment.tracking_number,
                r.status()
            ),
            Err(e) => println!(
                "fedex     → push {} {code:<2} failed: {e}",
                shipment.tracking_number
            ),
        }
    }
}
