//! The broker for a test. By default a real Apache Kafka broker: the one `scripts/test` started
//! for the whole suite (`KAFKA_BOOTSTRAP`), or, when that is not set, a single node of this
//! test's own (`scripts/kafka-broker start`), stopped when the test ends. Fault tests always take
//! a cluster of their own ([`Broker::own`]) so that killing a node disturbs no other test.
//!
//! [`Broker::mock`] is librdkafka's mock cluster in its own process (`gluey dev-broker`), kept
//! only for what a real broker cannot do on command: injected request errors.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

pub const PARTITIONS: i32 = 3;

pub enum Broker {
    /// A cluster started for this test by `scripts/kafka-broker`, stopped on drop.
    Own {
        dir: PathBuf,
        bootstrap: String,
        nodes: usize,
        sasl: Option<Sasl>,
    },
    /// The suite's broker (or any cluster) named by `KAFKA_BOOTSTRAP`.
    Shared { bootstrap: String },
    /// librdkafka's mock cluster (`gluey dev-broker`), for injected request errors only.
    Mock {
        child: Child,
        stdin: ChildStdin,
        stdout: BufReader<ChildStdout>,
        bootstrap: String,
    },
}

/// The SASL_SSL listener of an own cluster started with `sasl`.
#[derive(Clone, Debug)]
pub struct Sasl {
    pub bootstrap: String,
    /// librdkafka properties (`security.protocol`, `sasl.*`, `ssl.ca.location`), one per line.
    pub client_properties: PathBuf,
}

impl Sasl {
    /// The client properties as `GLUEY_KAFKA_PROPERTIES` takes them (`key=value;…`).
    pub fn gluey_kafka_properties(&self) -> String {
        std::fs::read_to_string(&self.client_properties)
            .unwrap()
            .lines()
            .filter(|l| l.contains('='))
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// `scripts/kafka-broker` in this repository.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka-broker")
}

impl Broker {
    /// The suite's broker, or a single node of this test's own when `KAFKA_BOOTSTRAP` is unset.
    pub fn start(dir: &Path) -> Broker {
        match std::env::var("KAFKA_BOOTSTRAP") {
            Ok(bootstrap) if !bootstrap.is_empty() => Broker::Shared { bootstrap },
            _ => Broker::own(dir, 1, &[]),
        }
    }

    /// A real cluster of `nodes` (1 or 3) for this test alone, with broker settings `set`.
    pub fn own(dir: &Path, nodes: usize, set: &[&str]) -> Broker {
        Self::own_with(dir, nodes, false, set)
    }

    /// As [`Broker::own`], with a SASL_SSL (SCRAM) listener beside the plaintext one.
    pub fn own_with_sasl(dir: &Path) -> Broker {
        Self::own_with(dir, 1, true, &[])
    }

    fn own_with(dir: &Path, nodes: usize, sasl: bool, set: &[&str]) -> Broker {
        let cluster = dir.join("kafka");
        let mut cmd = Command::new(script());
        cmd.arg("start")
            .arg(&cluster)
            .args(["--nodes", &nodes.to_string()]);
        if sasl {
            cmd.arg("--sasl");
        }
        for s in set {
            cmd.args(["--set", s]);
        }
        let out = cmd
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/kafka-broker");
        assert!(out.status.success(), "scripts/kafka-broker start failed");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let value = |name: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .map(str::to_string)
        };
        let bootstrap = value("KAFKA_BOOTSTRAP")
            .unwrap_or_else(|| panic!("scripts/kafka-broker printed {stdout:?}"));
        let sasl = sasl.then(|| Sasl {
            bootstrap: value("KAFKA_SASL_BOOTSTRAP").expect("SASL bootstrap"),
            client_properties: value("KAFKA_SASL_CLIENT_PROPERTIES")
                .expect("SASL client properties")
                .into(),
        });
        Broker::Own {
            dir: cluster,
            bootstrap,
            nodes,
            sasl,
        }
    }

    /// librdkafka's mock cluster, for tests of injected request errors.
    pub fn mock(log_dir: &Path) -> Broker {
        let log = std::fs::File::create(log_dir.join("dev-broker.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gluey"))
            .args(["dev-broker", "--partitions", &PARTITIONS.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn gluey dev-broker");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let bootstrap = line
            .trim()
            .strip_prefix("KAFKA_BOOTSTRAP=")
            .unwrap_or_else(|| {
                panic!("dev-broker printed {line:?} instead of its bootstrap address")
            })
            .to_string();
        Broker::Mock {
            child,
            stdin,
            stdout,
            bootstrap,
        }
    }

    pub fn bootstrap(&self) -> &str {
        match self {
            Broker::Own { bootstrap, .. }
            | Broker::Shared { bootstrap }
            | Broker::Mock { bootstrap, .. } => bootstrap,
        }
    }

    pub fn sasl(&self) -> Option<&Sasl> {
        match self {
            Broker::Own { sasl, .. } => sasl.as_ref(),
            _ => None,
        }
    }

    /// Replication factor for topics on this broker: 3 on a three-node cluster, else 1.
    pub fn replication(&self) -> usize {
        match self {
            Broker::Own { nodes, .. } if *nodes >= 3 => 3,
            _ => 1,
        }
    }

    /// Acts on one node of an own cluster: `kill` (SIGKILL), `pause` (SIGSTOP), `resume`
    /// (SIGCONT) or `restart` (start again and wait until the cluster answers).
    pub fn node(&self, action: &str, node: i32) {
        let Broker::Own { dir, .. } = self else {
            panic!("node faults need a cluster of the test's own (Broker::own)");
        };
        let status = Command::new(script())
            .args([action, &dir.display().to_string(), &node.to_string()])
            .status()
            .expect("run scripts/kafka-broker");
        assert!(
            status.success(),
            "scripts/kafka-broker {action} {node} failed"
        );
    }

    /// Sends a control command to the mock cluster and returns its answer (`ok` or `error: …`).
    pub fn command(&mut self, command: &str) -> String {
        let Broker::Mock { stdin, stdout, .. } = self else {
            panic!("control commands need the mock cluster (Broker::mock)");
        };
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        line.trim().to_string()
    }

    /// Creates every declared topic under `prefix`.
    pub fn create_topics(&mut self, prefix: &str) {
        if let Broker::Mock { .. } = self {
            let answer = self.command(&format!("topics {prefix} {PARTITIONS}"));
            assert_eq!(answer, "ok", "creating topics");
            return;
        }
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gluey"));
        match self.sasl() {
            Some(sasl) => cmd
                .args(["topics", "create", "--kafka-bootstrap", &sasl.bootstrap])
                .env("GLUEY_KAFKA_PROPERTIES", sasl.gluey_kafka_properties()),
            None => cmd.args(["topics", "create", "--kafka-bootstrap", self.bootstrap()]),
        };
        let out = cmd
            .args(["--topic-prefix", prefix])
            .args(["--partitions", &PARTITIONS.to_string()])
            .args(["--replication", &self.replication().to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gluey topics create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        match self {
            Broker::Mock { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Broker::Own { dir, .. } => {
                let _ = Command::new(script())
                    .arg("stop")
                    .arg(&*dir)
                    .stdout(Stdio::null())
                    .status();
            }
            Broker::Shared { .. } => {}
        }
    }
}
