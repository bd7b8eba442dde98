//! Telling systemd how the daemon is doing (`sd_notify(3)`, the unit's `Type=notify`):
//! `READY=1` once the store is open and the listeners are bound, `STATUS=` with a one-line
//! site summary, `WATCHDOG=1` while the control loop goes round, `STOPPING=1` on shutdown,
//! and around a reload (SIGHUP) `RELOADING=1` with `MONOTONIC_USEC=`, then `READY=1` with
//! the outcome in `STATUS=`. systemd 252 (Debian 12) shows the unit as reloading meanwhile;
//! `ExecReload=kill -HUP` returns as soon as the signal is sent, so the outcome is read
//! from the journal or `systemctl status`. systemd 253's `Type=notify-reload` would wait
//! for it, and gets the same notifications.
//!
//! The watchdog is fed by the control loop itself, not by a timer of its own: a ping goes
//! out only while the loop's `alive` mark is recent (`alive_is_recent`), so a loop stuck in
//! a solve or an await stops the pings and systemd restarts the daemon after `WatchdogSec`
//! (the chargers sit on their failsafe profiles meanwhile, DESIGN.md S3).
//!
//! Without `NOTIFY_SOCKET` (not started by systemd) every call does nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::control::{ALIVE_EVERY, ControlOutput};

/// systemd's side of the daemon: whether it asked for watchdog pings, and how often.
#[derive(Debug, Clone)]
pub struct Systemd {
    /// Half of `WatchdogSec=` (`sd_watchdog_enabled(3)` advises pinging at half).
    ping_every: Option<Duration>,
    /// The last reload's outcome, kept on every later `STATUS=` line (a failed reload
    /// stays visible in `systemctl status` until the next one).
    last_reload: Arc<Mutex<Option<String>>>,
}

impl Systemd {
    /// From the environment systemd gives the service (`WATCHDOG_USEC`, `WATCHDOG_PID`).
    pub fn from_env() -> Self {
        Self {
            ping_every: sd_notify::watchdog_enabled().map(|d| d / 2),
            last_reload: Arc::default(),
        }
    }

    /// How often the watchdog is fed, when systemd watches.
    pub fn ping_every(&self) -> Option<Duration> {
        self.ping_every
    }

    /// Start-up is done: chargers can connect.
    pub fn ready(&self, status: &str) {
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// A reload (SIGHUP) has begun.
    pub fn reloading(&self) {
        let mut states = vec![
            NotifyState::Reloading,
            NotifyState::Status("reloading the config"),
        ];
        // systemd >= 253 requires it after RELOADING=1; older ones ignore it.
        if let Ok(now) = NotifyState::monotonic_usec_now() {
            states.push(now);
        }
        send(&states);
    }

    /// The reload is over, applied or refused, as `status` says.
    pub fn reloaded(&self, status: &str) {
        *self.last_reload.lock().unwrap_or_else(|e| e.into_inner()) = Some(status.to_string());
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// Shutdown has begun (the chargers' connections are being closed).
    pub fn stopping(&self) {
        send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }

    /// Feeds the watchdog while the control loop is alive and keeps `STATUS=` current,
    /// until `shutdown` turns true. Does nothing when systemd does not watch.
    pub async fn watch(
        self,
        mut alive: watch::Receiver<Instant>,
        plan: watch::Receiver<ControlOutput>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let Some(every) = self.ping_every else {
            return;
        };
        let mut ticks = tokio::time::interval(every);
        let mut silent_logged = false;
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = ticks.tick() => {}
            }
            let last = *alive.borrow_and_update();
            if alive_is_recent(last, Instant::now(), every) {
                silent_logged = false;
                let mut status = status_line(&plan.borrow());
                if let Some(reload) = &*self.last_reload.lock().unwrap_or_else(|e| e.into_inner()) {
                    status = format!("{status}; {reload}");
                }
                send(&[NotifyState::Watchdog, NotifyState::Status(&status)]);
            } else if !silent_logged {
                silent_logged = true;
                tracing::error!(
                    since_s = Instant::now().saturating_duration_since(last).as_secs(),
                    "the control loop has stopped going round; no watchdog ping, systemd will restart chargegate"
                );
            }
        }
    }
}

/// Whether the control loop went round recently enough to ping: within one ping period
/// and one of its own rounds (`ALIVE_EVERY`) before `now`.
pub fn alive_is_recent(last: Instant, now: Instant, ping_every: Duration) -> bool {
    now.saturating_duration_since(last) <= ping_every + ALIVE_EVERY
}

/// The site in one line for `systemctl status`: the plan and the other load per phase.
pub fn status_line(out: &ControlOutput) -> String {
    let plan = out.plan.as_ref().map_or_else(
        || "no plan yet".to_string(),
        |p| format!("plan #{} ({:?})", out.replans, p.kind),
    );
    let load = out
        .snapshot
        .as_ref()
        .and_then(|s| s.circuits.first())
        .map_or_else(
            || "other load unknown".to_string(),
            |site| {
                let [a, b, c] = site.load.map(|x| x.0);
                format!("other load {a:.1}/{b:.1}/{c:.1} A")
            },
        );
    let cut = if out.reductions.is_empty() {
        String::new()
    } else {
        format!(", {} guard cut(s)", out.reductions.len())
    };
    format!("{plan}, {load}{cut}")
}

/// Sends a notification; a failure is logged, never fatal (systemd restarts a daemon that
/// stops feeding its watchdog, which is the right outcome if the socket is gone).
fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("cannot notify systemd: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_loop_that_went_round_within_a_period_is_alive() {
        let t0 = Instant::now();
        assert!(alive_is_recent(t0, t0, 15 * S));
        assert!(alive_is_recent(t0, t0 + 16 * S, 15 * S));
        assert!(!alive_is_recent(t0, t0 + 17 * S, 15 * S));
    }

    #[test]
    fn the_status_line_says_when_there_is_no_plan() {
        let line = status_line(&ControlOutput::default());
        assert_eq!(line, "no plan yet, other load unknown");
    }
}
