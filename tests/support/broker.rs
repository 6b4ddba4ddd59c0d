//! The broker for a test: `gluey dev-broker` as a child process (control commands on its stdin),
//! or an existing broker from `KAFKA_BOOTSTRAP`, on which fault injection is unavailable.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

pub const PARTITIONS: i32 = 3;

pub enum Broker {
    Spawned {
        child: Child,
        stdin: ChildStdin,
        stdout: BufReader<ChildStdout>,
        bootstrap: String,
    },
    External {
        bootstrap: String,
    },
}

impl Broker {
    pub fn start(log_dir: &std::path::Path) -> Broker {
        if let Ok(bootstrap) = std::env::var("KAFKA_BOOTSTRAP") {
            return Broker::External { bootstrap };
        }
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
        Broker::Spawned {
            child,
            stdin,
            stdout,
            bootstrap,
        }
    }

    pub fn bootstrap(&self) -> &str {
        match self {
            Broker::Spawned { bootstrap, .. } | Broker::External { bootstrap } => bootstrap,
        }
    }

    /// Whether the test can break this broker on purpose.
    pub fn supports_faults(&self) -> bool {
        matches!(self, Broker::Spawned { .. })
    }

    /// Sends a control command and returns the broker's answer (`ok` or `error: …`).
    pub fn command(&mut self, command: &str) -> String {
        let Broker::Spawned { stdin, stdout, .. } = self else {
            panic!("control commands need the dev broker");
        };
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        line.trim().to_string()
    }

    /// Creates every declared topic under `prefix`.
    pub fn create_topics(&mut self, prefix: &str) {
        match self {
            Broker::Spawned { .. } => {
                let answer = self.command(&format!("topics {prefix} {PARTITIONS}"));
                assert_eq!(answer, "ok", "creating topics");
            }
            Broker::External { bootstrap } => {
                let status = Command::new(env!("CARGO_BIN_EXE_gluey"))
                    .args([
                        "topics",
                        "create",
                        "--kafka-bootstrap",
                        bootstrap,
                        "--topic-prefix",
                        prefix,
                    ])
                    .args([
                        "--partitions",
                        &PARTITIONS.to_string(),
                        "--replication",
                        "1",
                    ])
                    .status()
                    .unwrap();
                assert!(status.success(), "gluey topics create failed");
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Broker::Spawned { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
