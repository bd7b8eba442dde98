//! The config the running tasks follow: a watch of the one in force, replaced as a whole
//! by a reload (`config::diff` decides what a reload may change; `daemon` sends it).
//!
//! A task reads the newest value where it decides (`take_change` before a dispatch round,
//! before admitting a charger, before installing a baseline), so every task sees a reload
//! as soon as it is sent, whichever of them runs first. Never performs IO.

use std::sync::Arc;

use tokio::sync::watch;

use super::Config;

/// A receiver of the config in force. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Live {
    rx: watch::Receiver<Arc<Config>>,
}

impl Live {
    /// The sender a reload replaces the config through, and a receiver of it.
    pub fn channel(config: Config) -> (watch::Sender<Arc<Config>>, Live) {
        let (tx, rx) = watch::channel(Arc::new(config));
        (tx, Live { rx })
    }

    /// A config that never changes (tests, tools without reload).
    pub fn fixed(config: &Config) -> Live {
        Self::channel(config.clone()).1
    }

    /// The config in force now.
    pub fn current(&self) -> Arc<Config> {
        self.rx.borrow().clone()
    }

    /// The config in force, if it changed since this receiver last looked.
    pub fn take_change(&mut self) -> Option<Arc<Config>> {
        // Closed (the sender is gone): no reload can come any more.
        if self.rx.has_changed().unwrap_or(false) {
            Some(self.rx.borrow_and_update().clone())
        } else {
            None
        }
    }

    /// Waits for the next change; never returns once no reload can come.
    pub async fn changed(&mut self) -> Arc<Config> {
        if self.rx.changed().await.is_err() {
            return std::future::pending().await;
        }
        self.rx.borrow_and_update().clone()
    }
}
