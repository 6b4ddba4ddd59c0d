//! `gluey shipments register|deregister|show`: the shipment registry from the command line, the
//! same code the customer API will call.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use gluey_contract::{shipment_key, Codec};
use gluey_kafka::shipment_registry::{self, Registration, ShipmentRegistry};

use super::{KafkaArgs, RegistryArgs};

#[derive(Debug, Subcommand)]
pub enum ShipmentsCommand {
    /// Register a shipment; further tracking numbers become aliases.
    Register(RegisterArgs),
    /// Deregister a shipment and its aliases.
    Deregister(LookupArgs),
    /// Print the registration under a tracking number as JSON.
    Show(LookupArgs),
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[arg(long)]
    pub customer: String,
    #[arg(long)]
    pub carrier: String,
    /// Repeatable; the first is the shipment's own number.
    #[arg(long = "tracking-number", required = true)]
    pub tracking_numbers: Vec<String>,
    #[arg(long)]
    pub shipment_id: Option<String>,
    /// `key=value`, repeatable.
    #[arg(long = "reference", value_parser = parse_pair)]
    pub references: Vec<(String, String)>,
}

#[derive(Debug, Args)]
pub struct LookupArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[arg(long)]
    pub carrier: String,
    #[arg(long = "tracking-number")]
    pub tracking_number: String,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

fn codec(registry: &RegistryArgs) -> anyhow::Result<Arc<Codec>> {
    Ok(Arc::new(
        Codec::new(registry.settings().as_ref()).context("schemas")?,
    ))
}

pub async fn run(command: ShipmentsCommand) -> anyhow::Result<()> {
    match command {
        ShipmentsCommand::Register(args) => {
            let codec = codec(&args.registry)?;
            let registry =
                ShipmentRegistry::new(&args.kafka.settings(), codec, &args.kafka.topics())?;
            let registration = Registration {
                customer_id: args.customer,
                carrier: args.carrier,
                tracking_numbers: args.tracking_numbers,
                shipment_id: args.shipment_id,
                references: args.references.into_iter().collect(),
                parcels: Vec::new(),
            };
            let shipment = registry.register(&registration).await?;
            println!(
                "registered {} for {}",
                shipment.shipment_key, shipment.customer_id
            );
            Ok(())
        }
        ShipmentsCommand::Deregister(args) => {
            let codec = codec(&args.registry)?;
            let key = shipment_key(&args.carrier, &args.tracking_number);
            let current = lookup(&args, &codec, &key)
                .await?
                .with_context(|| format!("{key} is not registered"))?;
            let owner = match &current.alias_of {
                Some(owner) => lookup(&args, &codec, owner).await?.with_context(|| {
                    format!("{key} is an alias of {owner}, which is not registered")
                })?,
                None => current,
            };
            ShipmentRegistry::new(&args.kafka.settings(), codec, &args.kafka.topics())?
                .deregister(&owner)
                .await?;
            println!("deregistered {} and its aliases", owner.shipment_key);
            Ok(())
        }
        ShipmentsCommand::Show(args) => {
            let codec = codec(&args.registry)?;
            let key = shipment_key(&args.carrier, &args.tracking_number);
            let shipment = lookup(&args, &codec, &key)
                .await?
                .with_context(|| format!("{key} is not registered"))?;
            let json = serde_json::json!({
                "shipment_key": shipment.shipment_key,
                "alias_of": shipment.alias_of,
                "shipment_id": shipment.shipment_id,
                "customer_id": shipment.customer_id,
                "carrier": shipment.carrier,
                "tracking_numbers": shipment.tracking_numbers,
                "references": shipment.references,
                "registered_at": shipment.registered_at.to_rfc3339(),
            });
            println!("{json:#}");
            Ok(())
        }
    }
}

async fn lookup(
    args: &LookupArgs,
    codec: &Arc<Codec>,
    key: &str,
) -> anyhow::Result<Option<gluey_contract::Shipment>> {
    let (kafka, topics, codec, key) = (
        args.kafka.settings(),
        args.kafka.topics(),
        codec.clone(),
        key.to_string(),
    );
    Ok(tokio::task::spawn_blocking(move || {
        shipment_registry::show(&kafka, &codec, &topics, &key, Duration::from_secs(30))
    })
    .await??)
}
