//! Creates every declared topic on a real cluster, idempotently: a topic that exists is left as
//! it is (and reported), so the command can run on every deploy.

use std::time::Duration;

use gluey_contract::{TopicNames, TOPICS};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::settings::KafkaSettings;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicOutcome {
    Created,
    AlreadyExists,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot create admin client: {0}")]
    Client(KafkaError),
    #[error("create topics request failed: {0}")]
    Request(KafkaError),
    #[error("topic {topic}: {error}")]
    Topic { topic: String, error: String },
}

pub async fn create_topics(
    settings: &KafkaSettings,
    names: &TopicNames,
    shipment_partitions: i32,
    replication: i32,
) -> Result<Vec<(String, TopicOutcome)>, AdminError> {
    let admin: AdminClient<DefaultClientContext> = settings
        .client_config()
        .create()
        .map_err(AdminError::Client)?;
    let topic_names: Vec<String> = TOPICS.iter().map(|t| names.name(t)).collect();
    let retention: Vec<Option<String>> = TOPICS
        .iter()
        .map(|t| t.retention.map(|r| r.as_millis().to_string()))
        .collect();
    let new_topics: Vec<NewTopic<'_>> = TOPICS
        .iter()
        .zip(&topic_names)
        .zip(&retention)
        .map(|((spec, name), retention)| {
            let mut topic = NewTopic::new(
                name,
                spec.partitions(shipment_partitions),
                TopicReplication::Fixed(replication),
            )
            .set("cleanup.policy", spec.cleanup.as_str());
            topic = match retention {
                Some(ms) => topic.set("retention.ms", ms),
                None => topic.set("retention.ms", "-1"),
            };
            topic
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(AdminError::Request)?;
    results
        .into_iter()
        .map(|result| match result {
            Ok(topic) => Ok((topic, TopicOutcome::Created)),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                Ok((topic, TopicOutcome::AlreadyExists))
            }
            Err((topic, code)) => Err(AdminError::Topic {
                topic,
                error: code.to_string(),
            }),
        })
        .collect()
}
