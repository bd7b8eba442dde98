//! What the alert task follows in the store, every `STORE_CHECK`: the open transactions
//! (with when each last had meter data, from the charger events) and the audit log's
//! SetChargingProfile rows after the last one read, and dispatch's composite-schedule
//! verdicts (charger events) after the last one read.
//!
//! Times of meter data are when chargegate received it (tokio `Instant`), not the
//! charger's own timestamps, which a charger with an unset clock gets wrong.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::{Book, Step, audit_rules};
use crate::csms::SiteEvent;
use crate::ocpp::model::{ChargerEvent, TxKey};
use crate::store::{self, Store};
use crate::units::ChargerId;

/// How often the store is read for the rules of `audit_rules`: well within their
/// windows (an hour, 15 min), and cheap (indexed reads of what is new).
pub const STORE_CHECK: Duration = Duration::from_secs(10);

/// Audit rows read per check at most; the rest comes with the next one.
const AUDIT_BATCH: u32 = 1000;

#[derive(Debug, Default)]
pub struct Follow {
    /// When each transaction (charger, its OCPP id) last had meter data.
    tx_meter: HashMap<(ChargerId, String), Instant>,
    /// When each charger's EVSE (1.6 connector) last had meter data without a
    /// transaction id (1.6 MeterValues may omit it).
    evse_meter: HashMap<(ChargerId, u32), Instant>,
    /// When each open transaction was first seen open by this task.
    tx_seen: HashMap<(ChargerId, String), Instant>,
    /// The last audit row read; `None` before the first check.
    audit_cursor: Option<i64>,
    /// The guard cuts of each charger within `GUARD_WINDOW`, by audit time.
    cuts: HashMap<ChargerId, Vec<DateTime<Utc>>>,
    /// The last charger event read for composite verifications; `None` before the first
    /// check (then from the newest: an alert open before a restart waits for the next
    /// verification).
    verify_cursor: Option<i64>,
}

fn tx_label(tx: &TxKey) -> String {
    match tx {
        TxKey::Csms(id) => id.to_string(),
        TxKey::Charger(id) => id.clone(),
    }
}

impl Follow {
    /// Notes meter data in a charger event (1.6 MeterValues, 2.0.1 TransactionEvent
    /// with meterValue, 1.6 StartTransaction/StopTransaction's transactionData).
    pub fn event(&mut self, e: &SiteEvent, now: Instant) {
        match &e.event {
            ChargerEvent::MeterValues {
                evse_id,
                tx,
                samples,
                ..
            } if !samples.is_empty() => match tx {
                Some(tx) => {
                    self.tx_meter.insert((e.charger.clone(), tx_label(tx)), now);
                }
                None => {
                    self.evse_meter.insert((e.charger.clone(), *evse_id), now);
                }
            },
            ChargerEvent::Transaction(t) if !t.samples.is_empty() => {
                if let Some(tx) = &t.tx {
                    self.tx_meter.insert((e.charger.clone(), tx_label(tx)), now);
                }
            }
            _ => {}
        }
    }

    /// Reads the store and returns the steps: each open transaction's quiet time, the
    /// alerts of transactions no longer open, the baseline answers and the guard cuts.
    pub async fn check(
        &mut self,
        store: &Store,
        book: &Book,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Vec<Step> {
        let mut steps = match store.call(|c| store::open_transactions(c)).await {
            Ok(open) => self.transactions(&open, book, now),
            Err(e) => {
                tracing::warn!("alerts cannot read the open transactions: {e}");
                Vec::new()
            }
        };
        steps.extend(self.audit(store, wall).await);
        steps.extend(self.no_cuts(book));
        steps.extend(self.verifications(store).await);
        steps
    }

    /// Dispatch's composite-schedule verdicts since the last check.
    async fn verifications(&mut self, store: &Store) -> Vec<Step> {
        let cursor = match self.verify_cursor {
            Some(cursor) => cursor,
            None => match store.call(|c| store::last_charger_event(c)).await {
                Ok(cursor) => cursor,
                Err(e) => {
                    tracing::warn!("alerts cannot read the charger events: {e}");
                    return Vec::new();
                }
            },
        };
        let rows = match store
            .call(move |c| store::verifications_after(c, cursor, AUDIT_BATCH))
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!("alerts cannot read the charger events: {e}");
                return Vec::new();
            }
        };
        self.verify_cursor = Some(rows.last().map_or(cursor, |r| r.id));
        rows.iter()
            .filter_map(|v| audit_rules::composite(&ChargerId::new(&v.charger).ok()?, v))
            .collect()
    }

    fn transactions(&mut self, open: &[store::TxFollowed], book: &Book, now: Instant) -> Vec<Step> {
        let open: Vec<(ChargerId, String, Option<u32>)> = open
            .iter()
            .filter_map(|t| Some((ChargerId::new(&t.charger).ok()?, t.ocpp_id.clone(), t.evse)))
            .collect();
        let keys: Vec<(ChargerId, String)> = open
            .iter()
            .map(|(c, t, _)| (c.clone(), t.clone()))
            .collect();
        self.tx_seen.retain(|k, _| keys.contains(k));
        self.tx_meter.retain(|k, _| keys.contains(k));
        let mut steps = Vec::new();
        for (charger, tx, evse) in open {
            let key = (charger, tx);
            let seen = *self.tx_seen.entry(key.clone()).or_insert(now);
            let by_evse = evse
                .and_then(|e| self.evse_meter.get(&(key.0.clone(), e)).copied())
                .filter(|at| *at >= seen);
            let by_tx = self.tx_meter.get(&key).copied();
            let last = [Some(seen), by_tx, by_evse]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(now);
            let step = audit_rules::tx_quiet(&key.0, &key.1, now.saturating_duration_since(last));
            // An alert open before a restart stays open until meter data comes: the quiet
            // time counts from the restart only for raising.
            if let Step::Clear(k) = &step
                && by_tx.is_none()
                && by_evse.is_none()
                && book.is_open(k)
            {
                continue;
            }
            steps.push(step);
        }
        steps.extend(
            book.open()
                .filter_map(|(key, _)| audit_rules::tx_ended(key, &keys)),
        );
        steps
    }

    async fn audit(&mut self, store: &Store, wall: DateTime<Utc>) -> Vec<Step> {
        let cursor = match self.audit_cursor {
            Some(cursor) => cursor,
            None => {
                // After a restart, the cuts of the last window still count.
                let window = chrono::Duration::from_std(audit_rules::GUARD_WINDOW)
                    .unwrap_or(chrono::Duration::zero());
                let since = crate::ocpp::time::format(&(wall - window));
                match store.call(move |c| store::audit_before(c, &since)).await {
                    Ok(cursor) => cursor,
                    Err(e) => {
                        tracing::warn!("alerts cannot read the audit log: {e}");
                        return Vec::new();
                    }
                }
            }
        };
        let rows = match store
            .call(move |c| store::profiles_sent_after(c, cursor, AUDIT_BATCH))
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!("alerts cannot read the audit log: {e}");
                return Vec::new();
            }
        };
        self.audit_cursor = Some(rows.last().map_or(cursor, |r| r.id));
        let mut steps = Vec::new();
        for row in &rows {
            let Ok(charger) = ChargerId::new(&row.charger) else {
                continue;
            };
            steps.extend(audit_rules::baseline(&charger, row));
            if audit_rules::is_guard_cut(row) {
                let at = crate::ocpp::time::parse(&row.ts).unwrap_or(wall);
                self.cuts.entry(charger).or_default().push(at);
            }
        }
        for (charger, cuts) in &mut self.cuts {
            audit_rules::within_window(cuts, wall);
            steps.extend(audit_rules::guard_cuts(charger, cuts.len()));
        }
        self.cuts.retain(|_, cuts| !cuts.is_empty());
        steps
    }

    /// Open `repeated-guard-cuts` alerts of chargers without a cut in the window (one
    /// read back after a restart, whose cuts are older): their clearing steps.
    pub fn no_cuts(&self, book: &Book) -> Vec<Step> {
        book.open()
            .filter(|(key, _)| key.kind == super::Kind::RepeatedGuardCuts)
            .filter_map(|(key, _)| {
                let charger = key.charger.as_ref()?;
                (!self.cuts.contains_key(charger)).then(|| Step::Clear(key.clone()))
            })
            .collect()
    }
}
