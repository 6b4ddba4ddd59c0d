//! Config that can change while a service runs: the config file is re-read on SIGHUP, validated,
//! and only then replaces the running version. A reload that fails validation is logged with the
//! field it names, and the service keeps the version it had.

use std::sync::Arc;

use tokio::sync::watch;

/// The current version of a config section; cheap to clone and to read on every request.
#[derive(Debug, Clone)]
pub struct Reloadable<T> {
    rx: watch::Receiver<Arc<T>>,
}

/// The writing side, held by whoever reloads.
#[derive(Debug)]
pub struct Reloader<T> {
    tx: watch::Sender<Arc<T>>,
}

impl<T> Reloadable<T> {
    pub fn new(initial: T) -> (Reloader<T>, Reloadable<T>) {
        let (tx, rx) = watch::channel(Arc::new(initial));
        (Reloader { tx }, Reloadable { rx })
    }

    /// A section that never changes (tests, `dev`).
    pub fn fixed(value: T) -> Reloadable<T> {
        // Readers keep seeing the last value after the sender is gone.
        let (_, rx) = watch::channel(Arc::new(value));
        Reloadable { rx }
    }

    /// Waits for the next version; `false` once no more can come.
    pub async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }

    pub fn current(&self) -> Arc<T> {
        self.rx.borrow().clone()
    }
}

impl<T> Reloader<T> {
    pub fn replace(&self, value: T) {
        self.tx.send_replace(Arc::new(value));
    }
}
