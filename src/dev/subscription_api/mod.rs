//! Simulated carrier subscription APIs: small real HTTP servers that play UPS Track Alert (OAuth
//! token + subscribe, CARRIERS.md 1.7) and DHL Unified Push (subscribe, 1.1) with their documented
//! shapes, limits and errors. Each records every call and keeps a ledger of the subscriptions it
//! granted (periods, how much validity was left at a renewal, lapses), so tests can check what a
//! carrier would see; `throttle_next` makes the next call a 429 with `Retry-After` and counts calls
//! that come back before it passed. Used by the end-to-end tests and by `gluey dev`.

pub mod dhl;
pub mod ups;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use gluey_contract::{Codec, TopicNames};
use gluey_kafka::{KafkaSettings, Registration, ShipmentRegistry};
use gluey_ops::{Health, Reloadable, Secret};
use prometheus::Registry;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use warp::http::{Response, StatusCode};

pub use dhl::{DhlCall, DhlSubscriptionApi};
pub use ups::{UpsCall, UpsSettings, UpsSubscriptionApi};

/// A simulator's state survives a panicking handler; nothing in it is left half-changed.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn json_response(status: StatusCode, body: &Value) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static("application/json"),
    );
    response
}

/// What a subscriber has been granted for one subject, as the carrier sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// Successful subscriptions (the first and every renewal).
    pub periods: u32,
    /// For every renewal, how much of the previous period was left when it came.
    pub renewed_with_left: Vec<Duration>,
    /// Subscriptions that came after the previous period had ended.
    pub lapses: u32,
    expires_at: Option<Instant>,
}

/// The subscriptions a simulated carrier granted.
#[derive(Debug, Default)]
struct Ledger {
    granted: HashMap<String, Granted>,
}

impl Ledger {
    fn grant(&mut self, subject: &str, now: Instant, validity: Option<Duration>) {
        let entry = self.granted.entry(subject.to_string()).or_insert(Granted {
            periods: 0,
            renewed_with_left: Vec::new(),
            lapses: 0,
            expires_at: None,
        });
        if entry.periods > 0 {
            match entry.expires_at {
                Some(expires) if expires > now => entry.renewed_with_left.push(expires - now),
                Some(_) => entry.lapses += 1,
                None => entry.renewed_with_left.push(Duration::MAX),
            }
        }
        entry.periods += 1;
        entry.expires_at = validity.map(|v| now + v);
    }
}

/// A 429 on command: the next call is refused with `Retry-After`, and so is every call that
/// comes back before that time has passed (counted: a client that honours it makes none).
#[derive(Debug, Default)]
struct Throttle {
    armed: Option<Duration>,
    until: Option<Instant>,
    early_retries: usize,
}

impl Throttle {
    /// `Some(retry_after)` if this call is to be refused.
    fn check(&mut self, now: Instant) -> Option<Duration> {
        if let Some(until) = self.until {
            if now < until {
                self.early_retries += 1;
                return Some(until - now);
            }
            self.until = None;
        }
        let retry_after = self.armed.take()?;
        self.until = Some(now + retry_after);
        Some(retry_after)
    }
}

fn too_many_requests(retry_after: Duration, body: &Value) -> Response<Bytes> {
    let mut response = json_response(StatusCode::TOO_MANY_REQUESTS, body);
    // Whole seconds, rounded up: a client waiting that long is never early.
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    if let Ok(value) = warp::http::HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

/// UPS numbers `gluey dev` registers, so the subscription service has something to keep alive.
const DEV_UPS_NUMBERS: [&str; 3] = [
    "1ZGLUEYDEV00000001",
    "1ZGLUEYDEV00000002",
    "1ZGLUEYDEV00000003",
];

const DEV_CLIENT: (&str, &str) = ("gluey-dev", "gluey-dev-secret");

/// `gluey dev`'s UPS Track Alert: the simulated API, then (`run`) a few UPS shipments registered
/// and `ingest subscriptions` keeping them subscribed, its validity compressed to a minute so
/// renewals show.
#[derive(Debug)]
pub struct DevUps {
    pub api: UpsSubscriptionApi,
    /// Whose shipments `run` registers.
    pub customer: String,
}

impl DevUps {
    pub async fn start(shutdown: CancellationToken) -> anyhow::Result<DevUps> {
        let api = UpsSubscriptionApi::start(
            "127.0.0.1:0".parse()?,
            UpsSettings {
                validity: Duration::from_secs(60),
                print: true,
                ..UpsSettings::new(DEV_CLIENT.0, DEV_CLIENT.1)
            },
            shutdown,
        )
        .await
        .context("cannot start the simulated UPS subscription API")?;
        Ok(DevUps {
            api,
            customer: String::new(),
        })
    }

    /// Registers the UPS shipments for `self.customer` and runs the subscription service until
    /// `shutdown`.
    pub async fn run(
        self,
        shipments: &ShipmentRegistry,
        kafka: &KafkaSettings,
        codec: std::sync::Arc<Codec>,
        topics: &TopicNames,
        registry: &Registry,
        shutdown: CancellationToken,
    ) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let ups = gluey_ingest::subscriptions::UpsSubscriptionConfig {
            base_url: self.api.base_url().parse()?,
            client_id: DEV_CLIENT.0.into(),
            client_secret: Secret::new(DEV_CLIENT.1),
            api_version: "v2".into(),
            subscription_type: "standard".into(),
            locale: "en_US".into(),
            country_code: "US".into(),
            validity: Duration::from_secs(60),
            renew_before: Duration::from_secs(20),
            max_batch: ups::MAX_NUMBERS,
            destination: None,
        };
        let config = gluey_ingest::SubscriptionsConfig {
            topics: topics.clone(),
            group_id: "gluey-ingest-subscriptions".into(),
            tick: Duration::from_secs(1),
            retry_schedule: vec![Duration::from_secs(5), Duration::from_secs(30)],
            request_timeout: Duration::from_secs(10),
            produce_timeout: Duration::from_secs(10),
            restore_timeout: Duration::from_secs(60),
            carriers: Reloadable::fixed(gluey_ingest::subscriptions::SubscriptionCarriers {
                ups: Some(ups),
                dhl: None,
            }),
        };
        for number in DEV_UPS_NUMBERS {
            shipments
                .register(&Registration {
                    customer_id: self.customer.clone(),
                    carrier: "ups".into(),
                    tracking_numbers: vec![number.into()],
                    ..Registration::default()
                })
                .await?;
        }
        let (kafka, registry) = (kafka.clone(), registry.clone());
        Ok(tokio::spawn(async move {
            if let Err(e) = gluey_ingest::run_subscriptions(
                config,
                &kafka,
                codec,
                &registry,
                Health::new(),
                shutdown,
            )
            .await
            {
                println!("ups       ✗ subscriptions stopped: {e}");
            }
        }))
    }
}
