//! Kafka plumbing shared by every service: client settings passed through to librdkafka, the
//! idempotent producer that answers only after the broker's ack, the at-least-once consumer
//! conventions, topic creation from the declaration, and the Kafka-protocol broker for tests and
//! `dev` (librdkafka's mock cluster).

pub mod admin;
pub mod deadletters;
pub mod dev_broker;
pub mod headers;
pub mod producer;
pub mod rebalance;
pub mod settings;
pub mod shipment_registry;
pub mod topic_reader;

pub use admin::create_topics;
pub use dev_broker::{BrokerCommand, DevBroker};
pub use producer::{PendingAck, ProduceError, RecordProducer};
pub use settings::KafkaSettings;
pub use shipment_registry::{Registration, RegistryError, ShipmentRegistry};
pub use topic_reader::{
    read_offsets, read_partitions_from, read_partitions_to_end, read_to_end, ReadError,
};
