//! A `gluey` service as its own process, with its logs in the test's scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

pub struct Service {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    pub ops_port: u16,
    starts: usize,
}

impl Service {
    /// `args` select the service (`["normalize"]`, `["ingest", "webhook", "--listen", …]`).
    pub fn new(
        name: &str,
        args: &[&str],
        bootstrap: &str,
        prefix: &str,
        config: &Path,
        dir: &Path,
    ) -> Service {
        let ops_port = super::free_port();
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend([
            "--kafka-bootstrap".into(),
            bootstrap.into(),
            "--topic-prefix".into(),
            prefix.into(),
            "--config".into(),
            config.display().to_string(),
            "--ops-listen".into(),
            format!("127.0.0.1:{ops_port}"),
        ]);
        Service {
            name: name.into(),
            args: all,
            env: super::carriers::environment()
                .into_iter()
                .chain([("RUST_LOG".to_string(), "info".to_string())])
                .collect(),
            log: dir.join(format!("{name}.log")),
            child: None,
            ops_port,
            starts: 0,
        }
    }

    pub fn arg(mut self, flag: &str, value: &str) -> Service {
        self.args.push(flag.into());
        self.args.push(value.into());
        self
    }

    /// An environment variable of the process.
    pub fn env(mut self, key: &str, value: &str) -> Service {
        self.env.push((key.into(), value.into()));
        self
    }

    /// A switch without a value.
    pub fn flag(mut self, flag: &str) -> Service {
        self.args.push(flag.into());
        self
    }

    /// Starts the process and waits until `/readyz` answers 200.
    pub async fn start(&mut self) {
        self.launch();
        self.wait_ready().await;
    }

    /// Starts the process without waiting for it to be ready (it may be waiting on something).
    pub fn launch(&mut self) {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_gluey"))
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.name));
        self.child = Some(child);
    }

    /// Waits until `/readyz` answers 200 (failing at once if the process exits).
    pub async fn wait_ready(&mut self) {
        let url = format!("http://127.0.0.1:{}/readyz", self.ops_port);
        let client = reqwest::Client::new();
        super::wait_for(&format!("{} ready", self.name), super::DEADLINE, || {
            let (client, url) = (client.clone(), url.clone());
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            let log = self.log.clone();
            let name = self.name.clone();
            async move {
                if let Some(status) = exited {
                    panic!(
                        "{name} exited with {status} before ready; log:\n{}",
                        std::fs::read_to_string(log).unwrap_or_default()
                    );
                }
                match client
                    .get(&url)
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => Some(()),
                    _ => None,
                }
            }
        })
        .await;
    }

    /// Whether the process is still running (it has not exited on its own).
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// SIGKILL: no drain, no commit, no flush.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        child.wait().unwrap()
    }

    /// SIGHUP: re-read the config file.
    pub fn hangup(&self) {
        let child = self.child.as_ref().expect("running");
        Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap();
    }

    /// Waits until the log contains `text` `times` times.
    pub async fn wait_for_log(&self, text: &str, times: usize) {
        super::wait_for(
            &format!("{times}× {text:?} in the {} log", self.name),
            super::DEADLINE,
            || {
                let found = self.log().matches(text).count() >= times;
                async move { found.then_some(()) }
            },
        )
        .await;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `/readyz`: its status and body.
    /// `/readyz`'s status and reason; `(0, why)` while nothing answers (still starting).
    pub async fn readyz(&self) -> (u16, String) {
        match reqwest::get(format!("http://127.0.0.1:{}/readyz", self.ops_port)).await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://127.0.0.1:{}/metrics", self.ops_port))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}
