//! Liveness and readiness from real signals: a service's main loop beats a heartbeat (liveness),
//! and declares itself ready once its inputs are connected and its state has caught up.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Clone, Default)]
pub struct Health {
    inner: Arc<HealthInner>,
}

#[derive(Default)]
struct HealthInner {
    ready: AtomicBool,
    last_beat_ms: AtomicU64,
    /// Loops that must beat; zero means liveness is only "the process answers".
    watched: AtomicBool,
    reason: std::sync::Mutex<String>,
    /// Set while the service waits on a dependency it cannot work without (a schema registry
    /// that does not answer): not ready whatever `ready` says, with this as the reason.
    waiting_on: std::sync::Mutex<Option<String>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("ready", &self.is_ready())
            .finish()
    }
}

impl Health {
    pub fn new() -> Health {
        Health::default()
    }

    pub fn set_ready(&self, ready: bool, reason: &str) {
        self.inner.ready.store(ready, Ordering::SeqCst);
        if let Ok(mut r) = self.inner.reason.lock() {
            *r = reason.to_string();
        }
    }

    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst) && self.waiting_on().is_none()
    }

    pub fn reason(&self) -> String {
        if let Some(waiting) = self.waiting_on() {
            return waiting;
        }
        self.inner
            .reason
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Not ready while waiting on a dependency (`Some(what)`), whatever the service's own
    /// readiness; `None` when it answers again.
    pub fn set_waiting_on(&self, what: Option<&str>) {
        if let Ok(mut w) = self.inner.waiting_on.lock() {
            *w = what.map(str::to_string);
        }
    }

    fn waiting_on(&self) -> Option<String> {
        self.inner.waiting_on.lock().ok().and_then(|w| w.clone())
    }

    /// Called by a service's main loop on every turn (including idle polls).
    pub fn beat(&self) {
        self.inner.watched.store(true, Ordering::Relaxed);
        self.inner.last_beat_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Alive unless a watched loop has not beaten within `stall`.
    pub fn is_alive(&self, stall: Duration) -> bool {
        if !self.inner.watched.load(Ordering::Relaxed) {
            return true;
        }
        now_ms().saturating_sub(self.inner.last_beat_ms.load(Ordering::Relaxed))
            <= stall.as_millis() as u64
    }

    /// Keeps this health the sum of `parts` (services running in one process, as `gluey dev`
    /// runs them), checked every `every` until `shutdown`: ready when every part is ready, with
    /// each part's reason by name; beating while every watched part beats within `stall`.
    pub fn follow(
        &self,
        parts: Vec<(&'static str, Health)>,
        every: Duration,
        stall: Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let whole = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                whole.set_ready(
                    parts.iter().all(|(_, h)| h.is_ready()),
                    &parts
                        .iter()
                        .map(|(name, h)| {
                            let state = if h.is_ready() { "ready" } else { "not ready" };
                            match h.reason() {
                                r if r.is_empty() => format!("{name} {state}"),
                                r => format!("{name} {state} ({r})"),
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                );
                if parts.iter().all(|(_, h)| h.is_alive(stall)) {
                    whole.beat();
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_on_a_dependency_makes_a_ready_service_not_ready_until_it_answers() {
        let health = Health::new();
        health.set_ready(true, "consuming 3 partitions");
        health.set_waiting_on(Some("schema registry unavailable"));
        assert!(!health.is_ready());
        assert_eq!(health.reason(), "schema registry unavailable");
        health.set_waiting_on(None);
        assert!(health.is_ready());
        assert_eq!(health.reason(), "consuming 3 partitions");
    }
}
