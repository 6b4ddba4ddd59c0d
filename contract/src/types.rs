//! Rust types for the contract's records, field for field as in `schemas/*.avsc`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::schema::{self, AvroRecord, ContractSchema};
use crate::time::{micros, micros_opt};

/// How a raw record reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    Unknown,
    Webhook,
    Sftp,
    Api,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Unknown => "unknown",
            Route::Webhook => "webhook",
            Route::Sftp => "sftp",
            Route::Api => "api",
        }
    }
}

/// Where a raw payload came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceReference {
    pub request_id: Option<String>,
    pub file: Option<String>,
    pub line: Option<i64>,
    pub poll_id: Option<String>,
}

/// Value of `tracking.raw.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawEnvelope {
    pub envelope_id: String,
    pub carrier: String,
    pub format: String,
    pub route: Route,
    #[serde(with = "micros")]
    pub received_at: DateTime<Utc>,
    pub content_type: Option<String>,
    #[serde(with = "apache_avro::serde_avro_bytes")]
    pub payload: Vec<u8>,
    pub source: SourceReference,
    pub context: BTreeMap<String, String>,
    pub shipment_key: Option<String>,
    pub trace_id: String,
}

impl AvroRecord for RawEnvelope {
    const SCHEMA: &'static ContractSchema = &schema::RAW_ENVELOPE;
}

/// The coarse status most customers filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Unknown,
    InfoReceived,
    InTransit,
    OutForDelivery,
    FailedAttempt,
    AvailableForPickup,
    Delivered,
    Exception,
    ReturnedToSender,
    Expired,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Unknown,
        Status::InfoReceived,
        Status::InTransit,
        Status::OutForDelivery,
        Status::FailedAttempt,
        Status::AvailableForPickup,
        Status::Delivered,
        Status::Exception,
        Status::ReturnedToSender,
        Status::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::InfoReceived => "info_received",
            Status::InTransit => "in_transit",
            Status::OutForDelivery => "out_for_delivery",
            Status::FailedAttempt => "failed_attempt",
            Status::AvailableForPickup => "available_for_pickup",
            Status::Delivered => "delivered",
            Status::Exception => "exception",
            Status::ReturnedToSender => "returned_to_sender",
            Status::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Delivered and returned shipments only move on an explicit return.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Delivered | Status::ReturnedToSender)
    }
}

/// How the carrier's UTC offset for an event time was known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetSource {
    AssumedDefault,
    ExplicitOffset,
    CarrierGmtField,
    CarrierTzAbbrev,
    InferredFromLocation,
}

/// Where an event happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub carrier_location_code: Option<String>,
    pub name: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country_iso2: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// A carrier scan, in canonical form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackingEvent {
    pub status: Status,
    pub milestone: String,
    pub code: String,
    pub sub_code: Option<String>,
    pub carrier_code: String,
    pub carrier_sub_code: Option<String>,
    pub carrier_description: Option<String>,
    #[serde(with = "micros")]
    pub occurred_at: DateTime<Utc>,
    pub occurred_at_local: String,
    pub utc_offset_seconds: i32,
    pub offset_source: OffsetSource,
    pub time_flags: Vec<String>,
    pub location: Option<Location>,
    #[serde(with = "micros_opt")]
    pub eta: Option<DateTime<Utc>>,
    pub signed_by: Option<String>,
    pub proof_of_delivery_ref: Option<String>,
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateType {
    Unknown,
    EtaChanged,
    TrackingNumberChanged,
    Expired,
}

/// A change to the shipment that is not a scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentUpdate {
    pub update_type: UpdateType,
    #[serde(with = "micros")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "micros_opt")]
    pub previous_eta: Option<DateTime<Utc>>,
    #[serde(with = "micros_opt")]
    pub new_eta: Option<DateTime<Utc>>,
    pub previous_tracking_number: Option<String>,
    pub new_tracking_number: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordType {
    Unknown,
    TrackingEvent,
    ShipmentUpdate,
}

/// The shipment's state after a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentSummary {
    pub status: Status,
    #[serde(with = "micros_opt")]
    pub eta: Option<DateTime<Utc>>,
    pub sequence: i64,
    pub terminal: bool,
}

/// The raw record a canonical record was derived from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawReference {
    pub envelope_id: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Value of `tracking.events.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanonicalRecord {
    pub record_id: String,
    pub record_type: RecordType,
    pub revision: i32,
    pub sequence: i64,
    pub shipment_key: String,
    pub shipment_id: Option<String>,
    pub customer_id: Option<String>,
    pub carrier: String,
    pub tracking_number: String,
    pub event: Option<TrackingEvent>,
    pub update: Option<ShipmentUpdate>,
    pub shipment: ShipmentSummary,
    pub route: Route,
    #[serde(with = "micros")]
    pub received_at: DateTime<Utc>,
    #[serde(with = "micros")]
    pub published_at: DateTime<Utc>,
    pub raw_ref: RawReference,
    pub trace_id: String,
}

impl AvroRecord for CanonicalRecord {
    const SCHEMA: &'static ContractSchema = &schema::CANONICAL_RECORD;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parcel {
    pub tracking_number: String,
    pub reference: Option<String>,
    pub weight_grams: Option<i64>,
}

/// Value of `tracking.shipments.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    pub shipment_key: String,
    pub alias_of: Option<String>,
    pub shipment_id: Option<String>,
    pub customer_id: String,
    pub carrier: String,
    pub tracking_numbers: Vec<String>,
    pub references: BTreeMap<String, String>,
    pub parcels: Vec<Parcel>,
    #[serde(with = "micros")]
    pub registered_at: DateTime<Utc>,
}

impl AvroRecord for Shipment {
    const SCHEMA: &'static ContractSchema = &schema::SHIPMENT;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenRecord {
    pub record_id: String,
    pub revision: i32,
    pub content_hash: String,
}

/// Value of `tracking.state.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentState {
    pub shipment_key: String,
    pub status: Status,
    pub last_sequence: i64,
    pub seen: Vec<SeenRecord>,
    #[serde(with = "micros_opt")]
    pub eta: Option<DateTime<Utc>>,
    pub terminal: bool,
    pub tracking_numbers: Vec<String>,
    #[serde(with = "micros")]
    pub updated_at: DateTime<Utc>,
    #[serde(with = "micros_opt", default)]
    pub latest_event_at: Option<DateTime<Utc>>,
    #[serde(with = "micros_opt", default)]
    pub last_activity: Option<DateTime<Utc>>,
    #[serde(default)]
    pub current_tracking_number: Option<String>,
    /// A compacted shipment's record ids, as 64-bit hashes (`seen` is then empty).
    #[serde(default)]
    pub seen_hashes: Vec<i64>,
    /// Every record of this partition of `tracking.events.v1` below this offset is reflected in
    /// its shipment's latest snapshot.
    #[serde(default)]
    pub events_covered_to: Option<i64>,
}

impl AvroRecord for ShipmentState {
    const SCHEMA: &'static ContractSchema = &schema::SHIPMENT_STATE;
}

/// Value of `tracking.deadletter.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub stage: String,
    pub reason: String,
    pub carrier: Option<String>,
    pub format: Option<String>,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    #[serde(with = "apache_avro::serde_avro_bytes_opt")]
    pub source_key: Option<Vec<u8>>,
    #[serde(with = "apache_avro::serde_avro_bytes")]
    pub payload: Vec<u8>,
    pub envelope_id: Option<String>,
    pub trace_id: Option<String>,
    #[serde(with = "micros")]
    pub failed_at: DateTime<Utc>,
}

impl AvroRecord for DeadLetter {
    const SCHEMA: &'static ContractSchema = &schema::DEAD_LETTER;
}

/// Where a carrier push subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    /// Wanted, not yet confirmed by the carrier.
    Pending,
    /// Confirmed and within its validity.
    Active,
    /// Never confirmed: the carrier refused it or every attempt failed so far.
    Failed,
    /// Its validity passed before a renewal was confirmed.
    Lapsed,
    /// No longer wanted: the shipment reached a terminal status or was deregistered.
    Stopped,
}

impl SubscriptionState {
    pub const ALL: [SubscriptionState; 5] = [
        SubscriptionState::Pending,
        SubscriptionState::Active,
        SubscriptionState::Failed,
        SubscriptionState::Lapsed,
        SubscriptionState::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionState::Pending => "pending",
            SubscriptionState::Active => "active",
            SubscriptionState::Failed => "failed",
            SubscriptionState::Lapsed => "lapsed",
            SubscriptionState::Stopped => "stopped",
        }
    }
}

/// Value of `ingest.webhook.subscriptions.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushSubscription {
    pub carrier: String,
    pub subject: String,
    pub shipment_key: Option<String>,
    pub state: SubscriptionState,
    #[serde(with = "micros_opt")]
    pub subscribed_at: Option<DateTime<Utc>>,
    #[serde(with = "micros_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(with = "micros_opt")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub periods: i32,
    pub failures: i32,
    pub last_error: Option<String>,
    pub stop_reason: Option<String>,
    pub status_sequence: i64,
    pub carrier_subscription_id: Option<String>,
    #[serde(with = "micros")]
    pub updated_at: DateTime<Utc>,
}

impl AvroRecord for PushSubscription {
    const SCHEMA: &'static ContractSchema = &schema::PUSH_SUBSCRIPTION;
}

/// `carrier:tracking_number`, the key of every co-partitioned topic.
pub fn shipment_key(carrier: &str, tracking_number: &str) -> String {
    format!("{carrier}:{tracking_number}")
}
