//! The webhook dispatcher on its own (a [`Pipeline`] built with `hooks`): a config file of
//! customer endpoints (each a programmable [`Receiver`]), canonical records produced straight onto
//! `tracking.events.v1`, the delivery dead-letter topic read back, and `/metrics` picked apart.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use gluey_contract::{
    CanonicalRecord, Codec, OffsetSource, RawReference, RecordType, Route, ShipmentSummary,
    ShipmentUpdate, Status, TrackingEvent, UpdateType,
};
use gluey_kafka::{KafkaSettings, RecordProducer};
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::Message;

use super::pipeline::Pipeline;
use super::receiver::{Receiver, Reply, Signing};
use super::{topics, Service};

/// The delivery dead-letter topic (without the prefix).
pub const DEADLETTER_TOPIC: &str = "delivery.webhook.deadletter.v1";

/// Nominal ladder: the pause after failed attempt n is `LADDER[n - 1]`.
pub const LADDER: [Duration; 9] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(24 * 3600),
];

/// The least pause after a 429, a timeout, a 502 or a 504.
pub const FLOOR: Duration = Duration::from_secs(60);

/// A signing secret in the config file, optionally with an expiry (RFC 3339).
#[derive(Debug, Clone)]
pub struct SecretEntry {
    pub secret: &'static str,
    pub expires_at: Option<&'static str>,
}

pub fn secret(secret: &'static str) -> SecretEntry {
    SecretEntry {
        secret,
        expires_at: None,
    }
}

pub fn expiring(secret: &'static str, expires_at: &'static str) -> SecretEntry {
    SecretEntry {
        secret,
        expires_at: Some(expires_at),
    }
}

/// One endpoint of the config file and the receiver behind it.
#[derive(Clone)]
pub struct Hook {
    pub customer: String,
    pub id: String,
    pub receiver: Receiver,
    pub secrets: Vec<SecretEntry>,
    /// Extra `key = value` lines of the endpoint (`max_concurrency = 4`, …).
    pub settings: Vec<String>,
    /// Lines of its `[customers.webhooks.filter]` table.
    pub filter: Vec<String>,
}

impl Hook {
    /// An endpoint answering `default`, signed with `secrets`; every request must verify with
    /// each secret that has not expired, and with none that has.
    pub async fn start(
        customer: &str,
        id: &str,
        default: Reply,
        secrets: Vec<SecretEntry>,
    ) -> Hook {
        let now = Utc::now();
        let (valid, expired): (Vec<&SecretEntry>, Vec<&SecretEntry>) =
            secrets.iter().partition(|s| {
                s.expires_at
                    .is_none_or(|at| chrono::DateTime::parse_from_rfc3339(at).unwrap() > now)
            });
        let names = |list: Vec<&SecretEntry>| list.iter().map(|s| s.secret).collect::<Vec<_>>();
        let signing = Signing::by(&names(valid)).not_by(&names(expired));
        Hook {
            customer: customer.into(),
            id: id.into(),
            receiver: Receiver::start(default, signing).await,
            secrets,
            settings: Vec::new(),
            filter: Vec::new(),
        }
    }

    /// An endpoint with the shared test secret.
    pub async fn simple(customer: &str, id: &str, default: Reply) -> Hook {
        Hook::start(customer, id, default, vec![secret(super::CUSTOMER_SECRET)]).await
    }

    pub fn setting(mut self, line: &str) -> Hook {
        self.settings.push(line.into());
        self
    }

    pub fn filter(mut self, line: &str) -> Hook {
        self.filter.push(line.into());
        self
    }

    fn toml(&self) -> String {
        let secrets = self
            .secrets
            .iter()
            .map(|s| match s.expires_at {
                None => format!("\"{}\"", s.secret),
                Some(at) => format!("{{ secret = \"{}\", expires_at = \"{at}\" }}", s.secret),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut out = format!(
            "[[customers.webhooks]]\nid = \"{}\"\nurl = \"{}\"\nsecrets = [{secrets}]\n",
            self.id,
            self.receiver.url()
        );
        for line in &self.settings {
            out.push_str(line);
            out.push('\n');
        }
        if !self.filter.is_empty() {
            out.push_str("[customers.webhooks.filter]\n");
            for line in &self.filter {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

/// The `[[customers]]` section for `hooks`, customers in order of first appearance.
pub fn customers_toml(hooks: &[&Hook]) -> String {
    let mut customers: Vec<&str> = Vec::new();
    for hook in hooks {
        if !customers.contains(&hook.customer.as_str()) {
            customers.push(&hook.customer);
        }
    }
    let mut out = String::new();
    for customer in customers {
        out.push_str(&format!("[[customers]]\nid = \"{customer}\"\n\n"));
        for hook in hooks.iter().filter(|h| h.customer == customer) {
            out.push_str(&hook.toml());
            out.push('\n');
        }
    }
    out
}

/// What the dispatcher dead-lettered.
#[derive(Debug, Clone)]
pub struct DeadLetteredDelivery {
    pub endpoint: String,
    pub reason: String,
    pub attempt: String,
    pub value: Vec<u8>,
    pub record: CanonicalRecord,
}

impl Pipeline {
    /// `gluey dispatch webhook` in the test's own consumer group, loopback endpoints allowed.
    pub fn webhook_dispatcher(&self, retry_time_scale: f64, attempt_timeout: &str) -> Service {
        self.service(
            "dispatcher",
            &["dispatch", "webhook", "--allow-loopback-endpoints"],
        )
        .arg("--group-id", &format!("{}dispatch-webhook", self.prefix))
        .arg("--retry-time-scale", &retry_time_scale.to_string())
        .arg("--attempt-timeout", attempt_timeout)
    }

    /// Produces `records` onto `tracking.events.v1` (key = shipment key) and returns each one's
    /// value bytes.
    pub async fn publish(&self, records: &[CanonicalRecord]) -> Vec<Vec<u8>> {
        let topic = self.topics().events();
        let codec = Codec::without_registry().unwrap();
        let producer = RecordProducer::new(
            &KafkaSettings::new(self.broker.bootstrap()),
            DEADLINE_PRODUCE,
        )
        .unwrap();
        let mut values = Vec::new();
        for record in records {
            let value = codec.encode(&topic, record).await.unwrap();
            producer
                .send(
                    &topic,
                    Some(record.shipment_key.as_bytes()),
                    &value,
                    gluey_kafka::headers::with_traceparent(&record.trace_id),
                )
                .await
                .unwrap();
            values.push(value);
        }
        values
    }

    /// Everything on the delivery dead-letter topic, once there are at least `at_least`.
    pub async fn dead_letters(&self, at_least: i64) -> Vec<DeadLetteredDelivery> {
        let topic = format!("{}{DEADLETTER_TOPIC}", self.prefix);
        let messages = topics::read_all_async(self.broker.bootstrap(), &topic, at_least).await;
        let mut out = Vec::new();
        for m in &messages {
            out.push(self.dead_letter(m).await);
        }
        out
    }

    async fn dead_letter(&self, m: &OwnedMessage) -> DeadLetteredDelivery {
        let header = |name: &str| {
            m.headers()
                .and_then(|h| h.iter().find(|h| h.key == name))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).to_string())
                .unwrap_or_else(|| panic!("dead letter without header {name}"))
        };
        let value = m.payload().unwrap_or_default().to_vec();
        DeadLetteredDelivery {
            endpoint: header("gluey-endpoint"),
            reason: header("gluey-reason"),
            attempt: header("gluey-attempt"),
            record: Codec::without_registry()
                .unwrap()
                .decode::<CanonicalRecord>(&value)
                .await
                .expect("a dead letter's value is the canonical record"),
            value,
        }
    }
}

const DEADLINE_PRODUCE: Duration = Duration::from_secs(30);

/// A tracking event of `customer` for shipment `fedex:<tracking_number>`: in transit, record id
/// unique per call, `sequence` as given.
pub fn event(customer: &str, tracking_number: &str, sequence: i64) -> CanonicalRecord {
    let at =
        Utc.with_ymd_and_hms(2024, 4, 25, 15, 55, 0).unwrap() + chrono::Duration::minutes(sequence);
    CanonicalRecord {
        record_id: format!("ev_{}", uuid::Uuid::new_v4().simple()),
        record_type: RecordType::TrackingEvent,
        revision: 1,
        sequence,
        shipment_key: format!("fedex:{tracking_number}"),
        shipment_id: Some(format!("shp_{tracking_number}")),
        customer_id: Some(customer.into()),
        carrier: "fedex".into(),
        tracking_number: tracking_number.into(),
        event: Some(TrackingEvent {
            status: Status::InTransit,
            milestone: "in_transit".into(),
            code: "arrived_at_carrier_facility".into(),
            sub_code: None,
            carrier_code: "AR".into(),
            carrier_sub_code: None,
            carrier_description: Some("Arrived at FedEx location".into()),
            occurred_at: at,
            occurred_at_local: (at - chrono::Duration::hours(7))
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string(),
            utc_offset_seconds: -7 * 3600,
            offset_source: OffsetSource::ExplicitOffset,
            time_flags: Vec::new(),
            location: None,
            eta: None,
            signed_by: None,
            proof_of_delivery_ref: None,
            flags: Vec::new(),
        }),
        update: None,
        shipment: ShipmentSummary {
            status: Status::InTransit,
            eta: None,
            sequence,
            terminal: false,
        },
        route: Route::Webhook,
        received_at: at,
        published_at: at,
        raw_ref: RawReference {
            envelope_id: format!("env_{}", uuid::Uuid::new_v4().simple()),
            topic: "tracking.raw.v1".into(),
            partition: 0,
            offset: sequence,
        },
        trace_id: gluey_ops::trace::new_traceparent(),
    }
}

/// `event` with the event's and the shipment's status and the event's milestone set.
pub fn with_status(
    mut record: CanonicalRecord,
    status: Status,
    milestone: &str,
) -> CanonicalRecord {
    if let Some(e) = record.event.as_mut() {
        e.status = status;
        e.milestone = milestone.into();
    }
    record.shipment.status = status;
    record.shipment.terminal = status.is_terminal();
    record
}

/// A shipment update (no scan) of `customer`.
pub fn update(
    customer: &str,
    tracking_number: &str,
    sequence: i64,
    update_type: UpdateType,
) -> CanonicalRecord {
    let mut record = event(customer, tracking_number, sequence);
    record.record_id = format!("upd_{}", uuid::Uuid::new_v4().simple());
    record.record_type = RecordType::ShipmentUpdate;
    let at = record.published_at;
    record.event = None;
    record.update = Some(ShipmentUpdate {
        update_type,
        occurred_at: at,
        previous_eta: None,
        new_eta: Some(at + chrono::Duration::days(2)),
        previous_tracking_number: None,
        new_tracking_number: None,
    });
    record.shipment.eta = Some(at + chrono::Duration::days(2));
    record
}

/// The `webhook-id` a record must be delivered under.
pub fn webhook_id(record: &CanonicalRecord) -> String {
    if record.revision > 1 {
        format!("{}.r{}", record.record_id, record.revision)
    } else {
        record.record_id.clone()
    }
}

/// The sum of the series of `name` in a Prometheus text exposition whose labels include
/// `labels` (0 when there is none).
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if series_name != name {
                return None;
            }
            let parsed: Vec<(&str, &str)> = series_labels
                .split("\",")
                .filter_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    Some((k.trim(), v.trim_matches('"')))
                })
                .collect();
            labels
                .iter()
                .all(|wanted| parsed.contains(wanted))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// Runs `gluey` with `args` until it exits (killed after `deadline`); its exit status and output.
pub async fn run_to_exit(args: &[&str], deadline: Duration) -> (std::process::ExitStatus, String) {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gluey"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(deadline, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("gluey {args:?} still running after {deadline:?}"))
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status, text)
}
