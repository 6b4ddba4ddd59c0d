//! Creates every declared topic on a real cluster, idempotently, and checks the topics a service
//! relies on. A topic that exists is compared with its declaration (partitions from the metadata,
//! `cleanup.policy` and `retention.ms` read back with DescribeConfigs) and any difference is
//! reported, never silently accepted; nothing that exists is changed.

use std::collections::BTreeMap;
use std::time::Duration;

use gluey_contract::{TopicNames, TopicSpec, TOPICS};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::settings::KafkaSettings;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicOutcome {
    Created,
    /// Exists as declared.
    AlreadyExists,
    /// Exists, but differs from its declaration (each difference, in words).
    Differs(Vec<String>),
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot create admin client: {0}")]
    Client(KafkaError),
    #[error("create topics request failed: {0}")]
    Request(KafkaError),
    #[error("cannot read topic metadata: {0}")]
    Metadata(KafkaError),
    #[error("Kafka refused this client's credentials or TLS settings: {0}")]
    Authentication(String),
    #[error("topic {topic}: {error}")]
    Topic { topic: String, error: String },
    #[error("topics missing: {} (run `gluey topics create`)", .0.join(", "))]
    Missing(Vec<String>),
    #[error("co-partitioned topics must have equal partition counts, but {}", describe_counts(.0))]
    UnequalPartitions(BTreeMap<String, usize>),
}

fn describe_counts(counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(topic, n)| format!("{topic} has {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The topic configs a declaration sets, as `gluey topics create` applies them.
pub fn declared_configs(spec: &TopicSpec) -> Vec<(&'static str, String)> {
    let mut configs = vec![
        ("cleanup.policy", spec.cleanup.as_str().to_string()),
        (
            "retention.ms",
            spec.retention
                .map(|r| r.as_millis().to_string())
                .unwrap_or_else(|| "-1".into()),
        ),
    ];
    if let Some(segment) = spec.segment {
        configs.push(("segment.ms", segment.as_millis().to_string()));
    }
    configs
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
    let configs: Vec<Vec<(&str, String)>> = TOPICS.iter().map(declared_configs).collect();
    let new_topics: Vec<NewTopic<'_>> = TOPICS
        .iter()
        .zip(&topic_names)
        .zip(&configs)
        .map(|((spec, name), configs)| {
            configs.iter().fold(
                NewTopic::new(
                    name,
                    spec.partitions(shipment_partitions),
                    TopicReplication::Fixed(replication),
                ),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(AdminError::Request)?;
    let mut outcomes = Vec::new();
    for result in results {
        match result {
            Ok(topic) => outcomes.push((topic, TopicOutcome::Created)),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                outcomes.push((topic, TopicOutcome::AlreadyExists))
            }
            Err((topic, code)) => {
                return Err(AdminError::Topic {
                    topic,
                    error: code.to_string(),
                })
            }
        }
    }
    // Compare what already existed with its declaration.
    let existing: Vec<(usize, String)> = outcomes
        .iter()
        .filter(|(_, o)| *o == TopicOutcome::AlreadyExists)
        .filter_map(|(topic, _)| {
            topic_names
                .iter()
                .position(|n| n == topic)
                .map(|i| (i, topic.clone()))
        })
        .collect();
    if existing.is_empty() {
        return Ok(outcomes);
    }
    let partitions = partition_counts(
        settings,
        existing.iter().map(|(_, t)| t.as_str()),
        Duration::from_secs(30),
    )
    .await?;
    let specifiers: Vec<ResourceSpecifier<'_>> = existing
        .iter()
        .map(|(_, t)| ResourceSpecifier::Topic(t))
        .collect();
    let described = admin
        .describe_configs(&specifiers, &options)
        .await
        .map_err(AdminError::Request)?;
    for ((i, topic), described) in existing.iter().zip(described) {
        let spec = &TOPICS[*i];
        let mut differences = Vec::new();
        let declared = spec.partitions(shipment_partitions) as usize;
        match partitions.get(topic) {
            Some(n) if *n != declared => {
                differences.push(format!("{n} partitions, declared {declared}"))
            }
            _ => {}
        }
        match described {
            Ok(resource) => {
                for (key, want) in declared_configs(spec) {
                    let have = resource.get(key).and_then(|e| e.value.clone());
                    if have.as_deref() != Some(want.as_str()) {
                        differences.push(format!(
                            "{key} is {}, declared {want}",
                            have.as_deref().unwrap_or("unset")
                        ));
                    }
                }
            }
            Err(code) => differences.push(format!("configs unreadable: {code}")),
        }
        if !differences.is_empty() {
            if let Some(entry) = outcomes.iter_mut().find(|(t, _)| t == topic) {
                entry.1 = TopicOutcome::Differs(differences);
            }
        }
    }
    Ok(outcomes)
}

/// Records the first authentication or TLS failure librdkafka reports, so a start-up check can
/// stop at once with it instead of waiting out its timeout.
#[derive(Default)]
struct StartupContext {
    refused: std::sync::Mutex<Option<String>>,
}

impl rdkafka::ClientContext for StartupContext {
    fn error(&self, error: KafkaError, reason: &str) {
        use RDKafkaErrorCode::{Authentication, SaslAuthenticationFailed, SSL};
        if matches!(
            error.rdkafka_error_code(),
            Some(Authentication | SaslAuthenticationFailed | SSL)
        ) {
            let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
            refused.get_or_insert_with(|| reason.to_string());
        }
        tracing::warn!(error = %error, reason, "kafka client error");
    }
}

impl rdkafka::consumer::ConsumerContext for StartupContext {}

/// Partition counts of `topics` from the cluster's metadata; a missing topic is left out.
async fn partition_counts(
    settings: &KafkaSettings,
    topics: impl Iterator<Item = &str>,
    timeout: Duration,
) -> Result<BTreeMap<String, usize>, AdminError> {
    let wanted: Vec<String> = topics.map(str::to_string).collect();
    let config = settings.client_config();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer<StartupContext> = config
            .create_with_context(StartupContext::default())
            .map_err(AdminError::Client)?;
        let until = std::time::Instant::now() + timeout;
        // Short attempts, so that refused credentials end the wait as soon as they are known.
        let metadata = loop {
            let attempt = Duration::from_millis(500).min(until - std::time::Instant::now());
            match consumer.fetch_metadata(None, attempt) {
                Ok(metadata) => break metadata,
                Err(e) => {
                    // Serves the client's events, error callbacks among them.
                    let _ = consumer.poll(Duration::ZERO);
                    let refused = consumer
                        .context()
                        .refused
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone();
                    if let Some(reason) = refused {
                        return Err(AdminError::Authentication(reason));
                    }
                    if std::time::Instant::now() + Duration::from_millis(10) >= until {
                        return Err(AdminError::Metadata(e));
                    }
                }
            }
        };
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none() && wanted.iter().any(|w| w == t.name()))
            .map(|t| (t.name().to_string(), t.partitions().len()))
            .collect())
    })
    .await
    .map_err(|e| AdminError::Topic {
        topic: "metadata".into(),
        error: e.to_string(),
    })?
}

/// How long a service looks again for co-partitioned topics its first metadata did not list.
const MISSING_TOPIC_GRACE: Duration = Duration::from_secs(5);

/// Checks that every co-partitioned topic exists with one and the same partition count, and
/// returns it. Services call this at start-up: records of one shipment key must land on the same
/// partition number of every such topic, or a partition's owner would miss its own state.
pub async fn check_co_partitioning(
    settings: &KafkaSettings,
    names: &TopicNames,
    timeout: Duration,
) -> Result<usize, AdminError> {
    let wanted: Vec<String> = TOPICS
        .iter()
        .filter(|t| t.co_partitioned)
        .map(|t| names.name(t))
        .collect();
    // A topic created a moment ago may not be in every broker's metadata yet (`gluey topics
    // create` followed at once by a service): a missing one is looked for again for a while.
    let grace = std::time::Instant::now() + MISSING_TOPIC_GRACE.min(timeout);
    let counts = loop {
        let counts = partition_counts(settings, wanted.iter().map(String::as_str), timeout).await?;
        let missing: Vec<String> = wanted
            .iter()
            .filter(|t| !counts.contains_key(*t))
            .cloned()
            .collect();
        if missing.is_empty() {
            break counts;
        }
        if std::time::Instant::now() >= grace {
            return Err(AdminError::Missing(missing));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let first = counts.values().next().copied().unwrap_or(0);
    if counts.values().any(|n| *n != first) {
        return Err(AdminError::UnequalPartitions(counts));
    }
    Ok(first)
}
