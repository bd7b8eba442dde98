//! The asynchronous half of the handshake: backoff, the credential cache, argon2 off the
//! runtime, and the Pending budget, around the pure `handshake::decide`.
//!
//! argon2 (`password-hash`) costs ~25 ms and 19 MiB per check, so it never runs on a
//! runtime worker: it runs on the blocking pool, `ARGON2_CONCURRENCY` at a time, and only
//! for an id and an address that are not backing off. A credential that passed once is
//! remembered (a keyed BLAKE2b digest, never the password), so a charger reconnecting
//! during an attack is checked in microseconds. Must never do socket IO (`server.rs`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use blake2::{Blake2b, Digest, digest::consts::U32};
use subtle::ConstantTimeEq;
use tokio::sync::{Semaphore, oneshot};
use tokio::time::Instant;

use super::gate::{Backoff, Handshakes, LogLimit, PendingBudget, PendingFull};
use super::handshake::{self, Admitted, Refusal};
use super::head::RequestHead;
use super::limits::*;
use super::settings::ServerSettings;
use crate::config::ChargerSecret;
use crate::csms::Admission;
use crate::units::ChargerId;

/// Rate-limited warnings, one limiter per kind.
#[derive(Debug, Default)]
pub struct Logs {
    pub evicted: LogLimit,
    pub refused: LogLimit,
    pub pending_full: LogLimit,
}

/// The budgets and backoff tables (`gate.rs`), behind one lock held for microseconds.
#[derive(Debug)]
pub struct Gate {
    pub handshakes: Handshakes<oneshot::Sender<()>>,
    pub pending: PendingBudget,
    by_address: Backoff<IpAddr>,
    by_id: Backoff<ChargerId>,
    pub logs: Logs,
}

/// What every connection task shares: the gate, the argon2 permits and the cache.
#[derive(Debug)]
pub struct Shared {
    gate: Mutex<Gate>,
    argon2: Arc<Semaphore>,
    /// Charger id -> digest of the last password that passed for it.
    verified: Mutex<HashMap<ChargerId, [u8; 32]>>,
    /// The digest's per-process random key.
    key: [u8; 32],
}

impl Default for Shared {
    fn default() -> Self {
        use argon2::password_hash::rand_core::{OsRng, RngCore};
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Self {
            gate: Mutex::new(Gate {
                handshakes: Handshakes::default(),
                pending: PendingBudget::new(Instant::now()),
                by_address: Backoff::new(MAX_TRACKED_ADDRESSES),
                // Only configured ids are tracked, so the table is as large as the config.
                by_id: Backoff::new(usize::MAX),
                logs: Logs::default(),
            }),
            argon2: Arc::new(Semaphore::new(ARGON2_CONCURRENCY)),
            verified: Mutex::new(HashMap::new()),
            key,
        }
    }
}

/// A held Pending connection slot; released when dropped.
#[derive(Debug)]
pub struct PendingSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.shared.gate().pending.release(self.ip);
    }
}

impl Shared {
    /// The gate; a panic while holding it cannot leave it inconsistent (each rule is one
    /// step), so a poisoned lock is used as is.
    pub fn gate(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Of the id, the password and the secret it passed against: after a reload changed
    /// the secret, a password that passed before no longer matches, even one whose check
    /// was still running during the reload.
    fn digest(&self, id: &ChargerId, secret: &ChargerSecret, password: &[u8]) -> [u8; 32] {
        let mut hasher = Blake2b::<U32>::new();
        hasher.update(self.key);
        hasher.update(id.as_str().as_bytes());
        hasher.update([0]);
        match secret {
            ChargerSecret::Password(p) => {
                hasher.update([1]);
                hasher.update(p.as_bytes());
            }
            ChargerSecret::Hash(phc) => {
                hasher.update([2]);
                hasher.update(phc.as_bytes());
            }
        }
        hasher.update([0]);
        hasher.update(password);
        hasher.finalize().into()
    }

    fn cached(&self, id: &ChargerId, secret: &ChargerSecret, password: &[u8]) -> bool {
        let digest = self.digest(id, secret, password);
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified
            .get(id)
            .is_some_and(|known| bool::from(known.ct_eq(&digest)))
    }

    /// Forgets every credential that passed (the passwords were reloaded).
    pub fn forget_verified(&self) {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn remember(&self, id: &ChargerId, secret: &ChargerSecret, password: &[u8]) {
        let digest = self.digest(id, secret, password);
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified.insert(id.clone(), digest);
    }

    fn backing_off(&self, ip: IpAddr, id: &ChargerId) -> (bool, bool) {
        let now = Instant::now();
        let gate = self.gate();
        (
            gate.by_address.backing_off(&ip, now),
            gate.by_id.backing_off(id, now),
        )
    }

    /// argon2 on the blocking pool behind the permits; `false` without hashing when the
    /// id or the address started backing off while this attempt waited for a permit.
    async fn argon2(&self, phc: String, password: Vec<u8>, ip: IpAddr, id: &ChargerId) -> bool {
        let Ok(permit) = self.argon2.clone().acquire_owned().await else {
            return false;
        };
        if self.backing_off(ip, id) != (false, false) {
            return false;
        }
        let secret = ChargerSecret::Hash(phc);
        // The permit moves into the closure: it is held until the hash is done, even if
        // this handshake is dropped meanwhile (a blocking task cannot be cancelled).
        let check = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            handshake::password_matches(&secret, &password)
        });
        check.await.unwrap_or(false)
    }

    /// The password verdict for `decide`: `None` when there is nothing to check.
    async fn password_verdict(
        &self,
        head: &RequestHead,
        settings: &ServerSettings,
        id: &ChargerId,
        ip: IpAddr,
        id_backing_off: bool,
    ) -> Option<bool> {
        let secret = settings.chargers.get(id)?.secret.as_ref()?;
        let (user, password) = head
            .authorization
            .as_deref()
            .and_then(handshake::basic_credentials)?;
        if user != id.as_str() {
            return Some(false);
        }
        if self.cached(id, secret, &password) {
            return Some(true);
        }
        let ok = match secret {
            ChargerSecret::Password(expected) => bool::from(expected.as_bytes().ct_eq(&password)),
            // While the id backs off, no argon2 for it: only a credential that passed
            // before gets in. A plain password costs nothing to check and stays checked
            // (the address's backoff bounds the guessing).
            ChargerSecret::Hash(_) if id_backing_off => false,
            ChargerSecret::Hash(phc) => self.argon2(phc.clone(), password.clone(), ip, id).await,
        };
        if ok {
            self.remember(id, secret, &password);
        }
        Some(ok)
    }

    fn record(&self, ip: IpAddr, id: &ChargerId, known: bool, result: &Result<Admitted, Refusal>) {
        let now = Instant::now();
        let mut gate = self.gate();
        match result {
            // Only a configured charger's success clears failures: in Pending mode any
            // stranger is admitted, which must not reset its address's guessing count.
            Ok(admitted) if admitted.admission == Admission::Known => {
                gate.by_address.succeed(&ip);
                gate.by_id.succeed(id);
            }
            Ok(_) => {}
            Err(refusal) if refusal.status == 401 => {
                if let Some(backoff) = gate.by_address.fail(&ip, now) {
                    tracing::warn!(address = %ip, seconds = backoff.as_secs(), "repeated wrong credentials from this address: not checking its credentials for a while");
                }
                if known && let Some(backoff) = gate.by_id.fail(id, now) {
                    tracing::warn!(charger = %id, seconds = backoff.as_secs(), "repeated wrong credentials for this charger: only a credential that passed before gets in for a while");
                }
            }
            Err(_) => {}
        }
    }
}

/// Decides one handshake: backoff, the password check, `handshake::decide`, and for an
/// unregistered charger the Pending budget.
pub async fn admit(
    shared: &Arc<Shared>,
    settings: &ServerSettings,
    head: &RequestHead,
    peer: SocketAddr,
    client_certificate: Option<&str>,
) -> Result<(Admitted, Option<PendingSlot>), Refusal> {
    let id = handshake::charger_id_from_path(&head.path)?;
    let ip = peer.ip();
    let (address_backing_off, id_backing_off) = shared.backing_off(ip, &id);
    if address_backing_off {
        return Err(Refusal::unauthorized(format!(
            "{id}: {ip} is backing off after wrong credentials"
        )));
    }
    let verdict = shared
        .password_verdict(head, settings, &id, ip, id_backing_off)
        .await;
    let subprotocols: Vec<&str> = head.subprotocols.iter().map(String::as_str).collect();
    let request = handshake::Request {
        path: &head.path,
        subprotocols: &subprotocols,
        authorization: head.authorization.as_deref(),
        client_certificate,
    };
    let result = handshake::decide(
        &request,
        &settings.chargers,
        settings.unknown_chargers,
        &|_, _| verdict == Some(true),
    );
    shared.record(ip, &id, settings.chargers.contains_key(&id), &result);
    let admitted = result?;
    if admitted.admission != Admission::Pending {
        return Ok((admitted, None));
    }
    let mut gate = shared.gate();
    match gate.pending.admit(ip, &admitted.id, Instant::now()) {
        Ok(()) => {
            drop(gate);
            let slot = PendingSlot {
                shared: shared.clone(),
                ip,
            };
            Ok((admitted, Some(slot)))
        }
        Err(full) => {
            let why = match full {
                PendingFull::Connections => "too many unregistered chargers are connected",
                PendingFull::NewIds => "too many new charger ids lately",
            };
            if let Some(more) = gate.logs.pending_full.allow(Instant::now()) {
                tracing::warn!(%peer, charger = %admitted.id, also = more, "unregistered charger refused: {why}");
            }
            Err(Refusal::new(
                503,
                format!("{why}; retry later, or configure this charger"),
            ))
        }
    }
}
