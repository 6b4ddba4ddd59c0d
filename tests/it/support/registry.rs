//! A real Schema Registry of the test's own (Apicurio Registry, started by
//! `scripts/kafka-broker --nodes 0 --schema-registry`), which the test can stop and start again:
//! its schemas live in a file, so ids survive the outage. Stopped when dropped.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use gluey_contract::RegistrySettings;

pub struct SchemaRegistry {
    dir: PathBuf,
    pub url: String,
    pub user: String,
    pub password: String,
}

impl SchemaRegistry {
    pub fn start(test_dir: &std::path::Path) -> SchemaRegistry {
        let dir = test_dir.join("schema-registry");
        let out = Command::new(super::broker::script())
            .arg("start")
            .arg(&dir)
            .args(["--nodes", "0", "--schema-registry"])
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/kafka-broker");
        assert!(
            out.status.success(),
            "scripts/kafka-broker --schema-registry failed"
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let value = |name: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("scripts/kafka-broker printed no {name}: {stdout}"))
                .to_string()
        };
        let credentials = std::fs::read_to_string(value("SCHEMA_REGISTRY_CREDENTIALS")).unwrap();
        let field = |key: &str| {
            credentials
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in the credentials file"))
                .to_string()
        };
        SchemaRegistry {
            dir,
            url: value("SCHEMA_REGISTRY_URL"),
            user: field("user="),
            password: field("password="),
        }
    }

    /// The registry as a codec reaches it.
    pub fn settings(&self) -> RegistrySettings {
        RegistrySettings {
            url: self.url.clone(),
            basic_auth: Some((self.user.clone(), self.password.clone())),
            bearer_token: None,
        }
    }

    /// `SCHEMA_REGISTRY_*` for a service.
    pub fn environment(&self) -> [(&'static str, String); 3] {
        [
            ("SCHEMA_REGISTRY_URL", self.url.clone()),
            ("SCHEMA_REGISTRY_USER", self.user.clone()),
            ("SCHEMA_REGISTRY_PASSWORD", self.password.clone()),
        ]
    }

    /// An outage: the registry process stops (its port refuses connections).
    pub fn stop(&self) {
        self.script(&["stop", &self.dir.display().to_string(), "registry"]);
    }

    /// Starts it again on the same port, with the same schemas, and waits until it answers.
    pub fn restart(&self) {
        self.script(&["restart", &self.dir.display().to_string(), "registry"]);
    }

    fn script(&self, args: &[&str]) {
        let status = Command::new(super::broker::script())
            .args(args)
            .status()
            .expect("run scripts/kafka-broker");
        assert!(status.success(), "scripts/kafka-broker {args:?} failed");
    }
}

impl Drop for SchemaRegistry {
    fn drop(&mut self) {
        let _ = Command::new(super::broker::script())
            .args(["stop", &self.dir.display().to_string()])
            .status();
    }
}
