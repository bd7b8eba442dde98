//! The high-level charger behaviour of `SimChargePoint`: boot, heartbeat, status,
//! authorize and transactions, each in the message of the negotiated OCPP version.
//!
//! Payloads come from `messages` (plain `json!`, independent of chargegate's own types);
//! this file only picks the action and keeps the 2.0.1 seqNo per transaction.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::answers::TxMemory;
use super::charge_point::{SimChargePoint, SimError, StartedTransaction};
use super::messages;
use crate::ocpp::model::OcppVersion;

impl SimChargePoint {
    /// BootNotification (2.0.1 reason `PowerUp`).
    pub async fn boot(&self) -> Result<Value, SimError> {
        let payload = messages::boot_notification(self.version(), &self.id, "PowerUp");
        self.call("BootNotification", payload).await
    }

    /// Heartbeat.
    pub async fn heartbeat(&self) -> Result<Value, SimError> {
        self.call("Heartbeat", serde_json::json!({})).await
    }

    /// StatusNotification for connector (1.6) or EVSE (2.0.1, connector 1) `evse`;
    /// `status` in either version's words (see `messages::status_v201`).
    pub async fn status(&self, evse: u32, status: &str) -> Result<Value, SimError> {
        self.shared
            .lock()
            .state
            .statuses
            .insert(evse, status.to_string());
        let payload =
            messages::status_notification(self.version(), evse, status, &self.shared.clock.now());
        self.call("StatusNotification", payload).await
    }

    /// Authorize.
    pub async fn authorize(&self, id_tag: &str) -> Result<Value, SimError> {
        let payload = messages::authorize(self.version(), id_tag);
        self.call("Authorize", payload).await
    }

    /// 1.6 StartTransaction (key: the CSMS's transactionId) or 2.0.1 TransactionEvent
    /// Started with seqNo 0 (key: a UUID-like id the charger chose).
    pub async fn start_transaction(
        &self,
        evse: u32,
        id_tag: &str,
        meter_start_wh: i64,
        at: DateTime<Utc>,
    ) -> Result<StartedTransaction, SimError> {
        match self.version() {
            OcppVersion::V16 => {
                let payload = messages::start_transaction_v16(evse, id_tag, meter_start_wh, &at);
                let response = self.call("StartTransaction", payload).await?;
                let key = response
                    .get("transactionId")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| {
                        SimError::BadResponse(format!("no integer transactionId in {response}"))
                    })?
                    .to_string();
                Ok(StartedTransaction { key, response })
            }
            OcppVersion::V201 => {
                let key = uuid_like();
                {
                    let mut inner = self.shared.lock();
                    inner.seq.insert(key.clone(), 1);
                    let ongoing = TxMemory {
                        ongoing: true,
                        queued: false,
                    };
                    inner.state.transactions.insert(key.clone(), ongoing);
                }
                let payload =
                    messages::transaction_started_v201(&key, evse, id_tag, meter_start_wh, &at);
                let response = self.call("TransactionEvent", payload).await?;
                Ok(StartedTransaction { key, response })
            }
        }
    }

    /// The seqNo the next 2.0.1 TransactionEvent of `tx` carries, counting it as used
    /// (for tests that build their own TransactionEvents).
    pub fn next_seq_no(&self, tx: &str) -> u64 {
        let mut inner = self.shared.lock();
        let seq = inner.seq.entry(tx.to_string()).or_insert(0);
        let n = *seq;
        *seq += 1;
        n
    }

    fn tx_id_v16(tx: &str) -> Result<i64, SimError> {
        tx.parse()
            .map_err(|_| SimError::Options(format!("1.6 transaction ids are integers, not {tx:?}")))
    }

    /// The vehicle stopped drawing (its battery is full): 1.6 MeterValues and a
    /// StatusNotification `SuspendedEV` (§4.9: sent when the status changes); 2.0.1
    /// TransactionEvent `Updated` with chargingState `SuspendedEV` (E02).
    pub async fn vehicle_suspended(
        &self,
        evse: u32,
        tx: &str,
        energy_wh: f64,
        currents_a: &[f64],
    ) -> Result<Value, SimError> {
        match self.version() {
            OcppVersion::V16 => {
                self.meter_values(evse, tx, energy_wh, currents_a).await?;
                self.status(evse, "SuspendedEV").await
            }
            OcppVersion::V201 => {
                let now = self.shared.clock.now();
                let seq = self.next_seq_no(tx);
                let payload = messages::transaction_state_v201(
                    tx,
                    seq,
                    evse,
                    "SuspendedEV",
                    energy_wh,
                    currents_a,
                    &now,
                );
                self.call("TransactionEvent", payload).await
            }
        }
    }

    /// A reading inside transaction `tx`: 1.6 MeterValues with transactionId, 2.0.1
    /// TransactionEvent Updated (next seqNo). `currents_a` are per phase, L1 first.
    pub async fn meter_values(
        &self,
        evse: u32,
        tx: &str,
        energy_wh: f64,
        currents_a: &[f64],
    ) -> Result<Value, SimError> {
        let now = self.shared.clock.now();
        match self.version() {
            OcppVersion::V16 => {
                let tx = Self::tx_id_v16(tx)?;
                let payload = messages::meter_values(
                    OcppVersion::V16,
                    evse,
                    Some(tx),
                    energy_wh,
                    currents_a,
                    &now,
                );
                self.call("MeterValues", self.with_offered(payload, now))
                    .await
            }
            OcppVersion::V201 => {
                let seq = self.next_seq_no(tx);
                let payload =
                    messages::transaction_updated_v201(tx, seq, evse, energy_wh, currents_a, &now);
                self.call("TransactionEvent", self.with_offered(payload, now))
                    .await
            }
        }
    }

    /// A MeterValues outside any transaction, in both versions.
    pub async fn meter_values_plain(
        &self,
        evse: u32,
        energy_wh: f64,
        currents_a: &[f64],
    ) -> Result<Value, SimError> {
        let payload = messages::meter_values(
            self.version(),
            evse,
            None,
            energy_wh,
            currents_a,
            &self.shared.clock.now(),
        );
        self.call("MeterValues", payload).await
    }

    /// 1.6 StopTransaction or 2.0.1 TransactionEvent Ended (next seqNo). `reason` is the
    /// version's own word (1.6 Reason, 2.0.1 stoppedReason), e.g. `Local`, `Remote`.
    pub async fn stop_transaction(
        &self,
        tx: &str,
        meter_stop_wh: i64,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<Value, SimError> {
        match self.version() {
            OcppVersion::V16 => {
                let tx = Self::tx_id_v16(tx)?;
                let payload = messages::stop_transaction_v16(tx, meter_stop_wh, reason, &at);
                self.call("StopTransaction", payload).await
            }
            OcppVersion::V201 => {
                let seq = self.next_seq_no(tx);
                {
                    let mut inner = self.shared.lock();
                    inner.seq.remove(tx);
                    inner.state.transactions.remove(tx);
                }
                let payload = messages::transaction_ended_v201(tx, seq, meter_stop_wh, reason, &at);
                self.call("TransactionEvent", payload).await
            }
        }
    }
}

impl SimChargePoint {
    /// Adds Current.Offered (what the charger's profiles let the vehicle draw now, as real
    /// chargers report it) to a meter-value payload's first MeterValue.
    fn with_offered(&self, mut payload: Value, now: DateTime<Utc>) -> Value {
        let Some(offered) = self.applied_limit(now) else {
            return payload;
        };
        let sample = match self.version() {
            OcppVersion::V16 => serde_json::json!({
                "value": messages::value_string(offered),
                "context": "Sample.Periodic",
                "measurand": "Current.Offered",
                "unit": "A",
            }),
            OcppVersion::V201 => serde_json::json!({
                "value": offered,
                "context": "Sample.Periodic",
                "measurand": "Current.Offered",
                "unitOfMeasure": { "unit": "A" },
            }),
        };
        if let Some(samples) = payload["meterValue"][0]["sampledValue"].as_array_mut() {
            samples.push(sample);
        }
        payload
    }
}

/// A random id in the shape of a UUID v4 (36 characters, the 2.0.1 limit).
pub(super) fn uuid_like() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let a = std::collections::hash_map::RandomState::new().hash_one((n, nanos));
    let b = std::collections::hash_map::RandomState::new().hash_one((nanos, n));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}
