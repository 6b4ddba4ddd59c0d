//! `gluey dev`: the whole pipeline in one process on an embedded Kafka-protocol broker, with
//! simulated carriers (FedEx, UPS, DHL and a native integrator) pushing credentialed events for
//! a handful of shipments each through their life cycle, and a sample customer that verifies and
//! prints every webhook. Nothing to install beyond Rust. Its config is `gluey-dev.toml`, embedded,
//! with secrets generated at every start.

pub mod carrier_simulator;
pub mod dhl_simulator;
pub mod direct_simulator;
pub mod fedex_simulator;
pub mod sample_customer;
pub mod subscription_api;
pub mod ups_simulator;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use clap::Args;
use gluey_contract::{Codec, TopicNames};
use gluey_ingest::CarrierPushSection;
use gluey_kafka::ShipmentRegistry;
use gluey_kafka::{DevBroker, KafkaSettings};
use gluey_ops::{Health, OpsServer, Reloadable};
use prometheus::Registry;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::cli::commands_support::parse_duration;
use crate::cli::ConfigFile;
use carrier_simulator::{CarrierClient, PushCredentials, SimulatedCarrier, SimulationPlan};

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
    /// Shipments in flight at once, per simulated carrier.
    #[arg(long, env = "GLUEY_DEV_SHIPMENTS", default_value_t = 4)]
    pub shipments: usize,
}

const TRACKING_POOL: usize = 500;
const DEV_CONFIG: &str = include_str!("gluey-dev.toml");

fn random_base64(len: usize) -> String {
    let mut rng = rand::rng();
    let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The embedded config with fresh secrets and the sample customer's URL.
fn dev_config(customer_url: &str, customer_secret: &str) -> anyhow::Result<ConfigFile> {
    let direct_secret = format!("whsec_{}", random_base64(32));
    let (fedex, ups_key, ups_credential, dhl) = (
        random_base64(24),
        random_base64(12),
        random_base64(24),
        random_base64(24),
    );
    ConfigFile::parse("gluey-dev.toml (embedded)", DEV_CONFIG, |name| {
        Some(match name {
            "DEV_FEDEX_SECRET" => fedex.clone(),
            "DEV_UPS_API_KEY" => ups_key.clone(),
            "DEV_UPS_CREDENTIAL" => ups_credential.clone(),
            "DEV_DHL_TOKEN" => dhl.clone(),
            "DEV_DIRECT_SECRET" => direct_secret.clone(),
            "DEV_CUSTOMER_URL" => customer_url.to_string(),
            "DEV_CUSTOMER_SECRET" => customer_secret.to_string(),
            _ => return None,
        })
    })
}

/// A simulator for every configured push route, with the credentials the config expects.
fn simulated_carriers(
    carriers: &CarrierPushSection,
) -> Vec<(Arc<dyn SimulatedCarrier>, PushCredentials)> {
    let first = |secrets: &[gluey_ops::Secret]| {
        secrets
            .first()
            .map(|s| s.expose().to_string())
            .unwrap_or_default()
    };
    let mut out: Vec<(Arc<dyn SimulatedCarrier>, PushCredentials)> = Vec::new();
    if let Some(fedex) = &carriers.fedex {
        out.push((
            Arc::new(fedex_simulator::FedexSimulator),
            PushCredentials::FedexSignature {
                secret: first(&fedex.aiv_secrets),
            },
        ));
    }
    if let Some(ups) = &carriers.ups {
        out.push((
            Arc::new(ups_simulator::UpsSimulator),
            PushCredentials::UpsCredential {
                api_key: first(&ups.api_keys),
                header: ups.credential_header.clone(),
                credential: first(&ups.credentials),
            },
        ));
    }
    if let Some(dhl) = &carriers.dhl {
        out.push((
            Arc::new(dhl_simulator::DhlSimulator),
            PushCredentials::DhlToken {
                header: dhl.header.clone(),
                token: first(&dhl.tokens),
            },
        ));
    }
    for integrator in carriers.direct.iter().flat_map(|d| &d.integrators) {
        out.push((
            Arc::new(direct_simulator::DirectSimulator {
                carrier: integrator.carrier.clone(),
            }),
            PushCredentials::StandardWebhooks {
                secret: first(&integrator.secrets),
            },
        ));
    }
    out
}

pub async fn run_dev(args: DevArgs) -> anyhow::Result<()> {
    let broker = DevBroker::start(1).context("cannot start the embedded broker")?;
    let topics = TopicNames::default();
    broker
        .create_topics(&topics, 3)
        .context("cannot create topics")?;
    let kafka = KafkaSettings::new(broker.bootstrap());

    let customer_secret = format!("whsec_{}", random_base64(32));

    let shutdown = CancellationToken::new();
    gluey_ops::shutdown_on_signals(shutdown.clone())?;
    let registry = Registry::new();
    let codec = Arc::new(Codec::without_registry()?);
    // /readyz and /healthz report the three services together.
    let (ingest_health, normalizer_health, dispatcher_health) =
        (Health::new(), Health::new(), Health::new());
    let whole = Health::new();
    whole.set_ready(false, "starting");
    whole.follow(
        vec![
            ("ingest", ingest_health.clone()),
            ("normalizer", normalizer_health.clone()),
            ("dispatcher", dispatcher_health.clone()),
        ],
        Duration::from_millis(250),
        gluey_ops::http::STALL,
        shutdown.clone(),
    );
    let ops = OpsServer::start(args.ops_listen, registry.clone(), whole, shutdown.clone())
        .await
        .with_context(|| format!("cannot bind --ops-listen {}", args.ops_listen))?;
    let customer_addr = sample_customer::start(
        args.customer_listen,
        customer_secret.clone(),
        shutdown.clone(),
    )
    .await
    .with_context(|| format!("cannot bind --customer-listen {}", args.customer_listen))?;

    let config = dev_config(
        &format!("http://{customer_addr}/webhooks/tracking"),
        &customer_secret,
    )?;
    let ingest = gluey_ingest::run_webhook_ingest(
        gluey_ingest::WebhookIngestConfig {
            listen: args.ingest_listen,
            max_body_bytes: 960 * 1024,
            produce_timeout: Duration::from_secs(4),
            retry_after: Duration::from_secs(5),
            topics: topics.clone(),
            carriers: Reloadable::fixed(config.carriers.clone()),
        },
        &kafka,
        codec.clone(),
        &registry,
        ingest_health,
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
            compact_after: Duration::from_secs(7 * 24 * 3600),
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
                normalizer_health,
                shutdown,
            )
            .await
        }
    });
    let address_policy = gluey_dispatcher::ssrf::AddressPolicy {
        require_https: false,
        allow_loopback: true,
    };
    let dispatcher = tokio::spawn({
        let config = gluey_dispatcher::DispatcherConfig {
            topics: topics.clone(),
            group_id: "gluey-dispatch-webhook".into(),
            // The sample customer listens on loopback: dev mode allows that, nothing else.
            endpoints: Reloadable::fixed(gluey_dispatcher::config::endpoints(
                &config.customers,
                &address_policy,
            )?),
            attempt_timeout: Duration::from_secs(15),
            retry: gluey_dispatcher::config::RetryPolicy::standard(),
            time_scale: 1.0,
            address_policy,
            read_ahead: 2000,
            max_in_flight: 10_000,
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
                dispatcher_health,
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
    let simulated = simulated_carriers(&config.carriers);
    for (carrier, _) in &simulated {
        println!(
            "  ingest webhook          http://{}{}   ({})",
            ingest.addr,
            carrier.path(),
            carrier.carrier()
        );
    }
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
        "  simulated {} push every {:?}, {} shipments each in flight",
        simulated
            .iter()
            .map(|(c, _)| c.carrier().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        args.push_interval,
        args.shipments
    );
    println!();

    // The shop registers its shipments for the config's customer.
    let customer = config
        .customers
        .first()
        .map(|c| c.id.clone())
        .context("gluey-dev.toml names no customer")?;
    let mut simulators = Vec::new();
    for (carrier, credentials) in simulated {
        let client = CarrierClient::new(
            &format!("http://{}", ingest.addr),
            &carrier.path(),
            credentials,
        );
        let plan = SimulationPlan {
            customer: customer.clone(),
            in_flight: args.shipments.max(1),
            interval: args.push_interval,
            pool: TRACKING_POOL,
        };
        let registry = ShipmentRegistry::new(&kafka, codec.clone(), &topics)?;
        simulators.push(tokio::spawn(carrier_simulator::simulate(
            carrier,
            client,
            registry,
            plan,
            shutdown.clone(),
        )));
    }
    let shipments = ShipmentRegistry::new(&kafka, codec.clone(), &topics)?;
    let ups = subscription_api::DevUps {
        customer: customer.clone(),
        ..ups
    };
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

    shutdown.cancelled().await;
    println!("gluey dev: stopping");
    for simulator in simulators {
        let _ = simulator.await;
    }
    let _ = ingest.task.await;
    let _ = normalizer.await;
    let _ = dispatcher.await;
    let _ = subscriptions.await;
    drop(broker);
    Ok(())
}
