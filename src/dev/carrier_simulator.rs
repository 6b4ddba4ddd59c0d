//! What every simulated carrier shares: a shipment's journey in carrier-neutral steps (label,
//! pickup, hub, local depot, out for delivery, sometimes a failed attempt, delivery), the client
//! side of each push authentication scheme ingest verifies, and a real HTTP client that pushes
//! credentialed payloads to ingest. Each carrier module (`fedex_simulator`, `ups_simulator`,
//! `dhl_simulator`, `direct_simulator`) only says how its carrier words a step and shapes a push.
//! Used by `gluey dev` and by the end-to-end tests.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, Utc};
use gluey_kafka::{Registration, ShipmentRegistry};
use gluey_ops::standard_webhooks::SigningSecret;
use rand::Rng;
use tokio_util::sync::CancellationToken;

/// A step of a journey, in carrier-neutral terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    LabelCreated,
    PickedUp,
    ArrivedAtHub,
    DepartedHub,
    ArrivedAtDeliveryDepot,
    OutForDelivery,
    FailedAttempt,
    Delivered,
}

/// A place on a simulated carrier's network.
#[derive(Debug)]
pub struct Place {
    pub city: &'static str,
    pub region: &'static str,
    pub postal_code: &'static str,
    /// ISO 3166 alpha-2.
    pub country: &'static str,
    /// What the carrier calls the country in free text.
    pub country_name: &'static str,
    /// The local UTC offset in hours.
    pub offset_hours: i32,
}

/// Where on its carrier's network (origin, hub, destination) a step happens.
#[derive(Debug, Clone, Copy)]
enum Leg {
    Origin,
    Hub,
    Destination,
}

/// The usual journey: step, where, hours after the previous step.
const JOURNEY: &[(Step, Leg, i64)] = &[
    (Step::LabelCreated, Leg::Origin, 0),
    (Step::PickedUp, Leg::Origin, 5),
    (Step::ArrivedAtHub, Leg::Hub, 9),
    (Step::DepartedHub, Leg::Hub, 3),
    (Step::ArrivedAtDeliveryDepot, Leg::Destination, 8),
    (Step::OutForDelivery, Leg::Destination, 6),
];
const FAILED_ATTEMPT: (Step, Leg, i64) = (Step::FailedAttempt, Leg::Destination, 5);
const OUT_AGAIN: (Step, Leg, i64) = (Step::OutForDelivery, Leg::Destination, 18);
const DELIVERED: (Step, Leg, i64) = (Step::Delivered, Leg::Destination, 4);

/// One step that happened: local time with the place's offset.
#[derive(Debug, Clone)]
pub struct SimulatedScan {
    pub step: Step,
    pub place: &'static Place,
    pub at: DateTime<FixedOffset>,
}

/// A carrier as the simulator plays it.
pub trait SimulatedCarrier: Send + Sync {
    /// The carrier slug shipments are registered under (for a direct integrator, its slug).
    fn carrier(&self) -> &str;
    /// Path of its ingest route, e.g. `/carriers/ups/alert`.
    fn path(&self) -> String;
    /// Origin, hub and destination of its journeys.
    fn places(&self) -> &'static [Place; 3];
    /// The carrier's own code for a step (printed by `gluey dev`, and in its payloads).
    fn code(&self, step: Step) -> &'static str;
    /// Tracking number `i` of its pool: deterministic, so tests and `dev` can register them.
    fn tracking_number(&self, i: usize) -> String;
    /// The body the carrier pushes after `history` (oldest first; the last scan is the new one).
    fn payload(&self, tracking_number: &str, history: &[SimulatedScan]) -> Vec<u8>;
}

/// The estimated delivery a carrier reports after `history`: a day after the latest scan, none
/// once delivered.
pub fn eta(history: &[SimulatedScan]) -> Option<DateTime<FixedOffset>> {
    let latest = history.last()?;
    (latest.step != Step::Delivered).then(|| latest.at + ChronoDuration::hours(24))
}

/// One simulated shipment moving through its journey.
#[derive(Debug)]
pub struct SimulatedShipment {
    pub tracking_number: String,
    history: Vec<SimulatedScan>,
    plan: Vec<(Step, Leg, i64)>,
    next: usize,
    clock: DateTime<Utc>,
}

impl SimulatedShipment {
    pub fn new(
        tracking_number: String,
        with_failed_attempt: bool,
        start: DateTime<Utc>,
    ) -> SimulatedShipment {
        let mut plan = JOURNEY.to_vec();
        if with_failed_attempt {
            plan.push(FAILED_ATTEMPT);
            plan.push(OUT_AGAIN);
        }
        plan.push(DELIVERED);
        SimulatedShipment {
            tracking_number,
            history: Vec::new(),
            plan,
            next: 0,
            clock: start,
        }
    }

    pub fn is_delivered(&self) -> bool {
        self.next >= self.plan.len()
    }

    /// Takes the next step and returns the carrier's push body for it, or `None` once delivered.
    pub fn advance(&mut self, carrier: &dyn SimulatedCarrier) -> Option<(Vec<u8>, Step)> {
        let (step, leg, after_hours) = *self.plan.get(self.next)?;
        self.next += 1;
        let place = &carrier.places()[leg as usize];
        self.clock += ChronoDuration::hours(after_hours)
            + ChronoDuration::minutes(rand::rng().random_range(0..50));
        let offset = FixedOffset::east_opt(place.offset_hours * 3600)?;
        self.history.push(SimulatedScan {
            step,
            place,
            at: self.clock.with_timezone(&offset),
        });
        Some((carrier.payload(&self.tracking_number, &self.history), step))
    }
}

/// How a carrier authenticates its pushes: the client side of each scheme ingest verifies.
#[derive(Debug, Clone)]
pub enum PushCredentials {
    /// FedEx AIV: `fdx-signature` over the raw body.
    FedexSignature { secret: String },
    /// UPS Track Alert: `x-api-key` and the registered credential in its header.
    UpsCredential {
        api_key: String,
        header: String,
        credential: String,
    },
    /// DHL Unified Push: the registered token in the registered header.
    DhlToken { header: String, token: String },
    /// Standard Webhooks, signed with a `whsec_` secret.
    StandardWebhooks { secret: String },
}

impl PushCredentials {
    /// The headers that authenticate `body` sent now (Standard Webhooks: a fresh `webhook-id`
    /// and the current time).
    pub fn headers(&self, body: &[u8]) -> Vec<(String, String)> {
        match self {
            PushCredentials::FedexSignature { secret } => vec![(
                "fdx-signature".into(),
                gluey_ingest::auth::fedex::sign(secret, body),
            )],
            PushCredentials::UpsCredential {
                api_key,
                header,
                credential,
            } => vec![
                ("user-agent".into(), "UPSPubSubTrackingService".into()),
                ("x-api-key".into(), api_key.clone()),
                (header.clone(), credential.clone()),
            ],
            PushCredentials::DhlToken { header, token } => vec![(header.clone(), token.clone())],
            PushCredentials::StandardWebhooks { secret } => standard_webhooks_headers(
                secret,
                &format!("msg_{}", uuid::Uuid::new_v4().simple()),
                Utc::now().timestamp(),
                body,
            ),
        }
    }
}

/// `webhook-id`, `webhook-timestamp` and `webhook-signature` for one delivery. A secret that is
/// not `whsec_` base64 gives no signature header (so a test can send an unsigned delivery).
pub fn standard_webhooks_headers(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(String, String)> {
    let mut headers = vec![
        ("webhook-id".to_string(), id.to_string()),
        ("webhook-timestamp".to_string(), timestamp.to_string()),
    ];
    if let Ok(key) = SigningSecret::parse(secret) {
        headers.push((
            "webhook-signature".to_string(),
            key.sign(id, timestamp, body),
        ));
    }
    headers
}

/// A real HTTP client pushing to one ingest route with one carrier's credentials.
#[derive(Debug, Clone)]
pub struct CarrierClient {
    client: reqwest::Client,
    url: String,
    pub credentials: PushCredentials,
}

impl CarrierClient {
    /// `ingest` is the base URL (`http://127.0.0.1:8080`), `path` the route.
    pub fn new(ingest: &str, path: &str, credentials: PushCredentials) -> CarrierClient {
        CarrierClient {
            client: reqwest::Client::new(),
            url: format!("{}{path}", ingest.trim_end_matches('/')),
            credentials,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// POSTs `body` with these headers exactly (no credentials added), as JSON unless they name
    /// another content type.
    pub async fn post(
        &self,
        body: &[u8],
        headers: &[(String, String)],
    ) -> reqwest::Result<reqwest::Response> {
        let mut request = self.client.post(&self.url).body(body.to_vec());
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send().await
    }

    /// POSTs `body` as the carrier does: JSON, authenticated.
    pub async fn push(&self, body: &[u8]) -> reqwest::Result<reqwest::Response> {
        self.post(body, &self.credentials.headers(body)).await
    }
}

/// How `simulate` runs one carrier.
#[derive(Debug, Clone)]
pub struct SimulationPlan {
    /// The customer the shop registers every shipment for.
    pub customer: String,
    /// Shipments in flight at once.
    pub in_flight: usize,
    /// Pause between two pushes.
    pub interval: Duration,
    /// How many numbers the pool cycles through.
    pub pool: usize,
}

/// `gluey dev`'s carrier: keeps `in_flight` shipments moving, registering each when its label
/// is printed, and pushes one step of a random one every `interval`, printing what ingest said.
pub async fn simulate(
    carrier: Arc<dyn SimulatedCarrier>,
    client: CarrierClient,
    registry: ShipmentRegistry,
    plan: SimulationPlan,
    shutdown: CancellationToken,
) {
    let mut pool = (0..plan.pool.max(1)).cycle();
    let mut active: Vec<SimulatedShipment> = Vec::new();
    let mut tick = tokio::time::interval(plan.interval);
    let mut started = 0usize;
    let name = carrier.carrier().to_string();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        active.retain(|s| !s.is_delivered());
        while active.len() < plan.in_flight.max(1) {
            let Some(i) = pool.next() else { return };
            let number = carrier.tracking_number(i);
            started += 1;
            // The shop registers the shipment when it prints the label.
            let registration = Registration {
                customer_id: plan.customer.clone(),
                carrier: name.clone(),
                tracking_numbers: vec![number.clone()],
                shipment_id: Some(format!("order-{name}-{started}")),
                ..Registration::default()
            };
            if let Err(e) = registry.register(&registration).await {
                println!("shop      → register {name} {number} failed: {e}");
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
        let Some((body, step)) = shipment.advance(carrier.as_ref()) else {
            continue;
        };
        let code = carrier.code(step);
        match client.push(&body).await {
            Ok(r) => println!(
                "{name:<9} → push {} {code:<3} → {}",
                shipment.tracking_number,
                r.status()
            ),
            Err(e) => println!(
                "{name:<9} → push {} {code:<3} failed: {e}",
                shipment.tracking_number
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journey_ends_delivered_with_times_moving_forward() {
        let carrier = crate::dev::ups_simulator::UpsSimulator;
        for failed in [false, true] {
            let mut shipment = SimulatedShipment::new("1Z".into(), failed, Utc::now());
            let mut steps = Vec::new();
            while let Some((body, step)) = shipment.advance(&carrier) {
                assert!(!body.is_empty());
                steps.push(step);
            }
            assert!(shipment.is_delivered());
            assert_eq!(steps.first(), Some(&Step::LabelCreated));
            assert_eq!(steps.last(), Some(&Step::Delivered));
            assert_eq!(steps.contains(&Step::FailedAttempt), failed);
            let times: Vec<_> = shipment.history.iter().map(|s| s.at).collect();
            assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
            assert_eq!(eta(&shipment.history), None, "no ETA once delivered");
        }
    }
}
