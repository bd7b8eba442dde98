//! Who may hold a socket and who may try a password: the listener's budgets and backoff.
//!
//! Pure: every rule takes `now` and returns a decision; `server.rs` holds these behind a
//! mutex and does the IO (closing an evicted socket, answering 401 or 503). The numbers are
//! in `limits.rs`. Must never look at credentials (that is `handshake.rs`).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

use super::limits::*;
use crate::units::ChargerId;

/// Sockets in their handshake, oldest first, each with the handle that closes it (`T`).
#[derive(Debug)]
pub struct Handshakes<T> {
    next: u64,
    open: BTreeMap<u64, (IpAddr, T)>,
    per_address: HashMap<IpAddr, usize>,
}

impl<T> Default for Handshakes<T> {
    fn default() -> Self {
        Self {
            next: 0,
            open: BTreeMap::new(),
            per_address: HashMap::new(),
        }
    }
}

impl<T> Handshakes<T> {
    /// Opens a slot for a new socket from `ip`; returns its number and, when a cap was
    /// reached, the handle of the socket to close for it: the address's own oldest past
    /// the per-address cap, else the oldest of all past the total cap.
    pub fn open(&mut self, ip: IpAddr, handle: T) -> (u64, Option<T>) {
        let mine = self.per_address.get(&ip).copied().unwrap_or(0);
        let victim = if mine >= MAX_HANDSHAKES_PER_ADDRESS {
            self.open
                .iter()
                .find(|(_, (owner, _))| *owner == ip)
                .map(|(n, _)| *n)
        } else if self.open.len() >= MAX_HANDSHAKES {
            self.open.keys().next().copied()
        } else {
            None
        };
        let evicted = victim.and_then(|n| self.close(n));
        let n = self.next;
        self.next += 1;
        self.open.insert(n, (ip, handle));
        *self.per_address.entry(ip).or_insert(0) += 1;
        (n, evicted)
    }

    /// Ends a slot (the handshake finished or failed); its handle if it was still open.
    pub fn close(&mut self, n: u64) -> Option<T> {
        let (ip, handle) = self.open.remove(&n)?;
        if let Some(count) = self.per_address.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&ip);
            }
        }
        Some(handle)
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

/// Why an unregistered charger is not admitted now (answered with 503).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingFull {
    /// `MAX_PENDING` or `MAX_PENDING_PER_ADDRESS` connections are open.
    Connections,
    /// Too many new ids lately (`PENDING_NEW_ID_*`).
    NewIds,
}

/// The budget of Pending (unregistered) connections.
#[derive(Debug)]
pub struct PendingBudget {
    open: usize,
    per_address: HashMap<IpAddr, usize>,
    /// Ids admitted lately, with when; reconnecting ones take no new-id token.
    seen: HashMap<ChargerId, Instant>,
    tokens: u32,
    refilled: Instant,
}

impl PendingBudget {
    pub fn new(now: Instant) -> Self {
        Self {
            open: 0,
            per_address: HashMap::new(),
            seen: HashMap::new(),
            tokens: PENDING_NEW_ID_BURST,
            refilled: now,
        }
    }

    /// Admits one Pending connection of `id` from `ip`; `release` must follow it.
    pub fn admit(&mut self, ip: IpAddr, id: &ChargerId, now: Instant) -> Result<(), PendingFull> {
        let mine = self.per_address.get(&ip).copied().unwrap_or(0);
        if self.open >= MAX_PENDING || mine >= MAX_PENDING_PER_ADDRESS {
            return Err(PendingFull::Connections);
        }
        self.refill(now);
        let known = self
            .seen
            .get(id)
            .is_some_and(|at| now.saturating_duration_since(*at) < PENDING_ID_MEMORY);
        if !known {
            if self.tokens == 0 {
                return Err(PendingFull::NewIds);
            }
            self.tokens -= 1;
        }
        self.seen.insert(id.clone(), now);
        self.open += 1;
        *self.per_address.entry(ip).or_insert(0) += 1;
        Ok(())
    }

    pub fn release(&mut self, ip: IpAddr) {
        self.open = self.open.saturating_sub(1);
        if let Some(count) = self.per_address.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&ip);
            }
        }
    }

    fn refill(&mut self, now: Instant) {
        let periods = now.saturating_duration_since(self.refilled).as_secs_f64()
            / PENDING_NEW_ID_EVERY.as_secs_f64();
        let whole = periods.floor().min(f64::from(PENDING_NEW_ID_BURST)) as u32;
        if whole > 0 {
            self.tokens = (self.tokens + whole).min(PENDING_NEW_ID_BURST);
            self.refilled = now;
        }
        // The memory of ids is bounded by the tokens handed out within it.
        self.seen
            .retain(|_, at| now.saturating_duration_since(*at) < PENDING_ID_MEMORY);
    }
}

/// Consecutive credential failures of one key (an address or a charger id).
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    until: Option<Instant>,
}

impl Failures {
    fn backing_off(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| now < until)
    }
}

/// Backoff after wrong credentials, per key. Attempts during a backoff are not checked and
/// not counted: they are answered like a wrong password.
#[derive(Debug)]
pub struct Backoff<K> {
    keys: HashMap<K, Failures>,
    capacity: usize,
}

impl<K: std::hash::Hash + Eq + Clone> Backoff<K> {
    pub fn new(capacity: usize) -> Self {
        Self {
            keys: HashMap::new(),
            capacity,
        }
    }

    pub fn backing_off(&self, key: &K, now: Instant) -> bool {
        self.keys.get(key).is_some_and(|f| f.backing_off(now))
    }

    /// Counts a failure; returns the backoff it starts, if it starts one (log it once).
    /// A failure during a backoff is not counted (that attempt was not checked).
    pub fn fail(&mut self, key: &K, now: Instant) -> Option<Duration> {
        if self.backing_off(key, now) {
            return None;
        }
        if !self.keys.contains_key(key) && self.keys.len() >= self.capacity {
            self.keys.retain(|_, f| {
                f.backing_off(now) || now.saturating_duration_since(f.last) < FAILURE_MEMORY
            });
            if self.keys.len() >= self.capacity {
                return None;
            }
        }
        let entry = self.keys.entry(key.clone()).or_insert(Failures {
            count: 0,
            last: now,
            until: None,
        });
        if now.saturating_duration_since(entry.last) >= FAILURE_MEMORY {
            entry.count = 0;
        }
        entry.count += 1;
        entry.last = now;
        let over = entry.count.checked_sub(FREE_FAILURES)?;
        let backoff = BACKOFF_FIRST
            .saturating_mul(1 << over.min(16))
            .min(BACKOFF_MAX);
        entry.until = Some(now + backoff);
        Some(backoff)
    }

    /// Right credentials clear the key's failures.
    pub fn succeed(&mut self, key: &K) {
        self.keys.remove(key);
    }
}

/// Rate-limits one kind of warning: at most one line per `LOG_EVERY`.
#[derive(Debug, Default)]
pub struct LogLimit {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimit {
    /// `Some(n)`: write the line now, standing for itself and `n` suppressed events.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < LOG_EVERY)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn a_full_address_evicts_its_own_oldest_handshake() {
        let mut h = Handshakes::default();
        let (first_other, _) = h.open(ip(1), usize::MAX);
        for n in 0..MAX_HANDSHAKES_PER_ADDRESS {
            assert_eq!(h.open(ip(2), n).1, None);
        }
        // The stranger's next socket closes its own oldest, not the charger's.
        assert_eq!(h.open(ip(2), 999).1, Some(0));
        assert_eq!(h.len(), MAX_HANDSHAKES_PER_ADDRESS + 1);
        assert_eq!(h.close(first_other), Some(usize::MAX));
        assert_eq!(h.close(first_other), None);
    }

    #[test]
    fn a_full_listener_evicts_the_oldest_handshake() {
        let mut h = Handshakes::default();
        for n in 0..MAX_HANDSHAKES {
            let address = ip(2 + (n % 5) as u8);
            assert_eq!(h.open(address, n).1, None);
        }
        assert_eq!(h.open(ip(1), usize::MAX).1, Some(0));
        assert_eq!(h.len(), MAX_HANDSHAKES);
    }

    #[test]
    fn pending_connections_and_new_ids_are_budgeted() {
        let now = Instant::now();
        let mut p = PendingBudget::new(now);
        let id = |n: usize| ChargerId::new(format!("NEW-{n}")).unwrap();
        for n in 0..MAX_PENDING_PER_ADDRESS {
            p.admit(ip(2), &id(n), now).unwrap();
        }
        assert_eq!(p.admit(ip(2), &id(99), now), Err(PendingFull::Connections));
        p.release(ip(2));
        // A known id reconnects without a token; new ids run out of tokens.
        p.admit(ip(2), &id(0), now).unwrap();
        let mut new_ids = MAX_PENDING_PER_ADDRESS;
        let mut refused = None;
        for n in 100..200 {
            p.release(ip(2));
            match p.admit(ip(2), &id(n), now) {
                Ok(()) => new_ids += 1,
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        assert_eq!(refused, Some(PendingFull::NewIds));
        assert_eq!(new_ids, PENDING_NEW_ID_BURST as usize);
        assert!(p.admit(ip(3), &id(500), now + PENDING_NEW_ID_EVERY).is_ok());
    }

    #[test]
    fn backoff_starts_after_free_failures_doubles_and_clears() {
        let now = Instant::now();
        let mut b = Backoff::new(8);
        for _ in 1..FREE_FAILURES {
            assert_eq!(b.fail(&"k", now), None);
        }
        assert_eq!(b.fail(&"k", now), Some(BACKOFF_FIRST));
        assert!(b.backing_off(&"k", now));
        assert!(!b.backing_off(&"k", now + BACKOFF_FIRST));
        let later = now + BACKOFF_FIRST;
        assert_eq!(b.fail(&"k", later), Some(BACKOFF_FIRST * 2));
        // Attempts during the backoff are neither counted nor logged again.
        assert_eq!(b.fail(&"k", later), None);
        let mut at = later;
        for _ in 0..20 {
            at += BACKOFF_MAX;
            b.fail(&"k", at);
        }
        assert_eq!(b.fail(&"k", at + BACKOFF_MAX), Some(BACKOFF_MAX));
        b.succeed(&"k");
        assert!(!b.backing_off(&"k", at));
    }

    #[test]
    fn a_full_backoff_table_forgets_old_keys_first() {
        let now = Instant::now();
        let mut b = Backoff::new(2);
        b.fail(&1, now);
        b.fail(&2, now);
        assert_eq!(b.keys.len(), 2);
        b.fail(&3, now);
        assert!(!b.keys.contains_key(&3), "full of live keys: not tracked");
        b.fail(&3, now + FAILURE_MEMORY);
        assert!(b.keys.contains_key(&3));
    }

    #[test]
    fn warnings_are_rate_limited_with_a_count() {
        let now = Instant::now();
        let mut l = LogLimit::default();
        assert_eq!(l.allow(now), Some(0));
        assert_eq!(l.allow(now), None);
        assert_eq!(l.allow(now + LOG_EVERY / 2), None);
        assert_eq!(l.allow(now + LOG_EVERY), Some(2));
    }
}
