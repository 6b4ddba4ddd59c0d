//! Flags shared by the services.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use gluey_contract::{RegistrySettings, TopicNames};
use gluey_kafka::settings::parse_property;
use gluey_kafka::KafkaSettings;
use gluey_ops::Secret;

#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (host:port[,host:port…]).
    #[arg(long = "kafka-bootstrap", env = "KAFKA_BOOTSTRAP")]
    pub bootstrap: String,
    /// librdkafka property passed through, e.g. security.protocol=SASL_SSL (repeatable; in the
    /// environment, separate several with ';').
    #[arg(long = "kafka-property", env = "GLUEY_KAFKA_PROPERTIES", value_delimiter = ';', value_parser = parse_property)]
    pub properties: Vec<(String, String)>,
    /// Prefix of every topic name (one deployment or test per prefix).
    #[arg(long, env = "GLUEY_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
}

impl KafkaArgs {
    pub fn settings(&self) -> KafkaSettings {
        KafkaSettings {
            bootstrap: self.bootstrap.clone(),
            properties: self.properties.clone(),
        }
    }

    pub fn topics(&self) -> TopicNames {
        TopicNames::new(self.topic_prefix.clone())
    }
}

#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Confluent-compatible Schema Registry; without it records use Avro single-object encoding.
    #[arg(long = "schema-registry-url", env = "SCHEMA_REGISTRY_URL")]
    pub url: Option<url::Url>,
    /// Basic-auth user (Confluent Cloud: the API key).
    #[arg(
        long = "schema-registry-user",
        env = "SCHEMA_REGISTRY_USER",
        requires = "password"
    )]
    pub user: Option<String>,
    /// Basic-auth password (Confluent Cloud: the API secret).
    #[arg(
        long = "schema-registry-password",
        env = "SCHEMA_REGISTRY_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<Secret>,
    /// Bearer token instead of basic auth.
    #[arg(
        long = "schema-registry-token",
        env = "SCHEMA_REGISTRY_TOKEN",
        hide_env_values = true,
        conflicts_with = "user"
    )]
    pub token: Option<Secret>,
}

impl RegistryArgs {
    pub fn settings(&self) -> Option<RegistrySettings> {
        self.url.as_ref().map(|url| RegistrySettings {
            url: url.as_str().trim_end_matches('/').to_string(),
            basic_auth: self
                .user
                .clone()
                .zip(self.password.as_ref().map(|p| p.expose().to_string())),
            bearer_token: self.token.as_ref().map(|t| t.expose().to_string()),
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Customer and carrier data (TOML, `${VAR}` substituted from the environment).
    #[arg(long, env = "GLUEY_CONFIG")]
    pub config: PathBuf,
    /// Where /metrics, /healthz and /readyz are served.
    #[arg(long, env = "GLUEY_OPS_LISTEN", default_value = "0.0.0.0:9090")]
    pub ops_listen: SocketAddr,
}
