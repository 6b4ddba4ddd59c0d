//! The Kafka-protocol broker for tests and `dev`: librdkafka's mock cluster, with the declared
//! topics created through the mock's own API (it does not answer the admin CreateTopics request),
//! and control commands to create topic sets, take brokers down and up, and inject request errors.
//!
//! Known limits of this mock (librdkafka 2.12.1): no CreateTopics, and a `read_committed`
//! consumer still sees records of aborted transactions, so no correctness test relies on
//! transaction isolation here. Idempotent produce, consumer groups with committed offsets,
//! broker down/up and injected request errors work.

use gluey_contract::{TopicNames, TOPICS};
use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

/// One control command, as a line of text (`gluey dev-broker` reads them on stdin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerCommand {
    /// `topics <prefix> [partitions]`: create every declared topic under `prefix`.
    CreateTopics { prefix: String, partitions: i32 },
    /// `broker-down <id>`: the broker closes its connections and refuses new ones.
    BrokerDown(i32),
    /// `broker-up <id>`
    BrokerUp(i32),
    /// `request-errors <api> <error> [count]`: the next `count` requests of `api` fail with `error`.
    RequestErrors {
        api: String,
        error: String,
        count: usize,
    },
    /// `clear-request-errors <api>`
    ClearRequestErrors(String),
    /// `ping`: answers `ok`, to sequence a test against the broker.
    Ping,
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerCommandError {
    #[error("unknown command {0:?} (topics, broker-down, broker-up, request-errors, clear-request-errors, ping)")]
    Unknown(String),
    #[error("{command}: {reason}")]
    Invalid { command: String, reason: String },
    #[error("mock cluster: {0}")]
    Kafka(#[from] KafkaError),
}

fn invalid(command: &str, reason: impl Into<String>) -> BrokerCommandError {
    BrokerCommandError::Invalid {
        command: command.to_string(),
        reason: reason.into(),
    }
}

impl BrokerCommand {
    pub fn parse(line: &str, default_partitions: i32) -> Result<BrokerCommand, BrokerCommandError> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let int = |s: &str, what: &str| -> Result<i32, BrokerCommandError> {
            s.parse()
                .map_err(|_| invalid(words[0], format!("{what} must be an integer, got {s:?}")))
        };
        match words.as_slice() {
            ["ping"] => Ok(BrokerCommand::Ping),
            ["topics", prefix] => Ok(BrokerCommand::CreateTopics {
                prefix: prefix.to_string(),
                partitions: default_partitions,
            }),
            ["topics", prefix, n] => Ok(BrokerCommand::CreateTopics {
                prefix: prefix.to_string(),
                partitions: int(n, "partitions")?,
            }),
            ["broker-down", id] => Ok(BrokerCommand::BrokerDown(int(id, "broker id")?)),
            ["broker-up", id] => Ok(BrokerCommand::BrokerUp(int(id, "broker id")?)),
            ["request-errors", api, error] | ["request-errors", api, error, _] => {
                let count = match words.get(3) {
                    Some(n) => int(n, "count")?.max(1) as usize,
                    None => 1,
                };
                api_key(api)?;
                resp_err(error)?;
                Ok(BrokerCommand::RequestErrors {
                    api: api.to_string(),
                    error: error.to_string(),
                    count,
                })
            }
            ["clear-request-errors", api] => {
                api_key(api)?;
                Ok(BrokerCommand::ClearRequestErrors(api.to_string()))
            }
            _ => Err(BrokerCommandError::Unknown(line.to_string())),
        }
    }
}

fn api_key(name: &str) -> Result<RDKafkaApiKey, BrokerCommandError> {
    Ok(match name {
        "produce" => RDKafkaApiKey::Produce,
        "fetch" => RDKafkaApiKey::Fetch,
        "metadata" => RDKafkaApiKey::Metadata,
        "list-offsets" => RDKafkaApiKey::ListOffsets,
        "offset-commit" => RDKafkaApiKey::OffsetCommit,
        "offset-fetch" => RDKafkaApiKey::OffsetFetch,
        "find-coordinator" => RDKafkaApiKey::FindCoordinator,
        "join-group" => RDKafkaApiKey::JoinGroup,
        "heartbeat" => RDKafkaApiKey::Heartbeat,
        "sync-group" => RDKafkaApiKey::SyncGroup,
        "init-producer-id" => RDKafkaApiKey::InitProducerId,
        other => return Err(invalid("request-errors", format!("unknown api {other:?}"))),
    })
}

fn resp_err(name: &str) -> Result<RDKafkaRespErr, BrokerCommandError> {
    use RDKafkaRespErr::*;
    Ok(match name {
        "not-leader" => RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        "leader-not-available" => RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
        "request-timed-out" => RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        "broker-not-available" => RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE,
        "not-enough-replicas" => RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        "coordinator-not-available" => RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        "not-coordinator" => RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        "disconnect" => RD_KAFKA_RESP_ERR__TRANSPORT,
        other => {
            return Err(invalid(
                "request-errors",
                format!("unknown error {other:?}"),
            ))
        }
    })
}

/// A running mock cluster. Not `Send`: keep it on the thread that created it.
pub struct DevBroker {
    cluster: MockCluster<'static, DefaultProducerContext>,
    brokers: i32,
}

impl std::fmt::Debug for DevBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevBroker")
            .field("bootstrap", &self.bootstrap())
            .finish()
    }
}

impl DevBroker {
    pub fn start(brokers: i32) -> Result<DevBroker, KafkaError> {
        Ok(DevBroker {
            cluster: MockCluster::new(brokers)?,
            brokers,
        })
    }

    pub fn bootstrap(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Creates every declared topic under `names`' prefix.
    pub fn create_topics(
        &self,
        names: &TopicNames,
        shipment_partitions: i32,
    ) -> Result<(), KafkaError> {
        let replication = self.brokers.min(3);
        for spec in TOPICS {
            self.cluster.create_topic(
                &names.name(spec),
                spec.partitions(shipment_partitions),
                replication,
            )?;
        }
        Ok(())
    }

    /// Creates one extra topic (a service's own, or a test's).
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), KafkaError> {
        self.cluster
            .create_topic(name, partitions, self.brokers.min(3))
    }

    pub fn apply(&self, command: &BrokerCommand) -> Result<(), BrokerCommandError> {
        match command {
            BrokerCommand::Ping => {}
            BrokerCommand::CreateTopics { prefix, partitions } => {
                self.create_topics(&TopicNames::new(prefix.clone()), *partitions)?
            }
            BrokerCommand::BrokerDown(id) => self.cluster.broker_down(*id)?,
            BrokerCommand::BrokerUp(id) => self.cluster.broker_up(*id)?,
            BrokerCommand::RequestErrors { api, error, count } => {
                let errors = vec![resp_err(error)?; *count];
                self.cluster.request_errors(api_key(api)?, &errors);
            }
            BrokerCommand::ClearRequestErrors(api) => {
                self.cluster.clear_request_errors(api_key(api)?)
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_names_bad_ones() {
        assert_eq!(
            BrokerCommand::parse("topics t1. 4", 12).unwrap(),
            BrokerCommand::CreateTopics {
                prefix: "t1.".into(),
                partitions: 4
            }
        );
        assert_eq!(
            BrokerCommand::parse("broker-down 1", 12).unwrap(),
            BrokerCommand::BrokerDown(1)
        );
        assert!(BrokerCommand::parse("request-errors produce nonsense", 1).is_err());
        assert!(BrokerCommand::parse("broker-down x", 1)
            .unwrap_err()
            .to_string()
            .contains("broker id"));
        assert!(matches!(
            BrokerCommand::parse("fly", 1),
            Err(BrokerCommandError::Unknown(_))
        ));
    }
}
