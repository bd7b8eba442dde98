//! The local CSMS's answers to charger events, and the records they leave in the store.
//!
//! `Csms::handle` takes a version-blind `ChargerEvent`, writes what must be kept, and only
//! then returns the reply (the CALLRESULT is the charger's acknowledgement: after it the
//! charger forgets its copy). The decisions themselves are pure functions in `rules`.
//! Must never see a wire payload or a socket.

pub mod rules;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::config::{Config, TokenStatus, UnknownChargers};
use crate::ocpp::model::{
    ChargerEvent, DataTransferStatus, EventReply, IdTokenInfo, OcppVersion, RegistrationStatus,
    TxKey, TxPhase,
};
use crate::store::{self, BootRecord, Store, StoreError, TokenRecord};
use crate::units::ChargerId;

/// How a connected charger was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Listed in the config.
    Known,
    /// Not listed, admitted because `unknown-chargers = "pending"`: it gets Pending at boot
    /// and nothing else is processed until the operator adds it.
    Pending,
}

/// The per-connection facts the rules need.
#[derive(Debug, Clone)]
pub struct ChargerContext {
    pub id: ChargerId,
    pub version: OcppVersion,
    pub admission: Admission,
}

/// What the CSMS needs from the config.
#[derive(Debug, Clone)]
pub struct Policy {
    pub heartbeat_interval_s: u32,
    pub unknown_chargers: UnknownChargers,
    /// The retry interval for Pending chargers, in seconds.
    pub pending_retry_s: u32,
}

/// A charger event as the rest of chargegate sees it (the site state, later the planner
/// and upstream sync, subscribe to these).
#[derive(Debug, Clone)]
pub struct SiteEvent {
    pub charger: ChargerId,
    pub at: DateTime<Utc>,
    pub event: ChargerEvent,
}

/// A charger's connection came or went (the dispatch baseline and the site state need it:
/// a 1.6 charger that reconnects does not necessarily boot again).
#[derive(Debug, Clone)]
pub struct ConnectionEvent {
    pub charger: ChargerId,
    pub version: OcppVersion,
    pub admission: Admission,
    pub connected: bool,
    pub at: DateTime<Utc>,
}

/// Why an event could not be handled. The connection answers with a CALLERROR
/// (InternalError) and the charger resends later, so nothing is lost.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("charger is pending: only BootNotification and Heartbeat are processed")]
    NotAccepted,
    #[error("event and reply do not match")]
    Mismatch,
}

/// The local CSMS. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Csms {
    store: Store,
    policy: Arc<Policy>,
    events: broadcast::Sender<SiteEvent>,
    connections: broadcast::Sender<ConnectionEvent>,
}

impl Csms {
    pub fn new(store: Store, policy: Policy) -> Self {
        let (events, _) = broadcast::channel(1024);
        let (connections, _) = broadcast::channel(256);
        Self {
            store,
            policy: Arc::new(policy),
            events,
            connections,
        }
    }

    pub fn from_config(store: Store, config: &Config) -> Self {
        Self::new(
            store,
            Policy {
                heartbeat_interval_s: config.csms.heartbeat_interval_s,
                unknown_chargers: config.csms.unknown_chargers,
                pending_retry_s: 60,
            },
        )
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every handled event, for the site state and upstream sync.
    pub fn subscribe(&self) -> broadcast::Receiver<SiteEvent> {
        self.events.subscribe()
    }

    /// Every connection and disconnection of a charger.
    pub fn subscribe_connections(&self) -> broadcast::Receiver<ConnectionEvent> {
        self.connections.subscribe()
    }

    fn announce(&self, ctx: &ChargerContext, connected: bool, at: DateTime<Utc>) {
        let event = ConnectionEvent {
            charger: ctx.id.clone(),
            version: ctx.version,
            admission: ctx.admission,
            connected,
            at,
        };
        // Nobody listening is fine.
        let _ = self.connections.send(event);
    }

    /// Copies the config's local authorization list into the store.
    pub async fn load_tokens(&self, config: &Config) -> Result<(), StoreError> {
        let tokens: Vec<TokenRecord> = config
            .id_tokens
            .iter()
            .map(|t| TokenRecord {
                id: t.id.clone(),
                status: match t.status {
                    TokenStatus::Accepted => "accepted".into(),
                    TokenStatus::Blocked => "blocked".into(),
                },
                expires: t.expires,
                group: t.group.clone(),
            })
            .collect();
        self.store
            .call(move |c| store::replace_config_tokens(c, &tokens))
            .await
    }

    pub async fn connected(
        &self,
        ctx: &ChargerContext,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let id = ctx.id.to_string();
        let version = ctx.version.subprotocol();
        let result = self
            .store
            .call(move |c| store::charger_connected(c, &id, version, now))
            .await;
        self.announce(ctx, true, now);
        result
    }

    pub async fn disconnected(
        &self,
        ctx: &ChargerContext,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let id = ctx.id.to_string();
        let result = self
            .store
            .call(move |c| store::charger_disconnected(c, &id, now))
            .await;
        self.announce(ctx, false, now);
        result
    }

    /// Handles one event and returns the reply to send.
    pub async fn handle(
        &self,
        ctx: &ChargerContext,
        event: &ChargerEvent,
        now: DateTime<Utc>,
    ) -> Result<EventReply, SessionError> {
        if ctx.admission == Admission::Pending
            && !matches!(event, ChargerEvent::Boot { .. } | ChargerEvent::Heartbeat)
        {
            // 2.0.1 B02.FR.09 and 1.6 §4.2: a Pending station may only boot (and keep alive).
            return Err(SessionError::NotAccepted);
        }
        let id = ctx.id.to_string();
        let reply = match event {
            ChargerEvent::Boot {
                vendor,
                model,
                serial,
                firmware,
                ..
            } => {
                let (status, interval_s, registration) = match ctx.admission {
                    Admission::Known => (
                        RegistrationStatus::Accepted,
                        self.policy.heartbeat_interval_s,
                        "accepted",
                    ),
                    Admission::Pending => (
                        RegistrationStatus::Pending,
                        self.policy.pending_retry_s,
                        "pending",
                    ),
                };
                let boot = BootRecord {
                    vendor: vendor.clone(),
                    model: model.clone(),
                    serial: serial.clone(),
                    firmware: firmware.clone(),
                };
                self.store
                    .call(move |c| store::charger_booted(c, &id, &boot, registration, now))
                    .await?;
                EventReply::Boot {
                    status,
                    current_time: now,
                    interval_s,
                }
            }
            ChargerEvent::Heartbeat => {
                self.store
                    .call(move |c| store::charger_seen(c, &id, now))
                    .await?;
                EventReply::Heartbeat { current_time: now }
            }
            ChargerEvent::Status {
                evse,
                status,
                error_code,
                info,
                ..
            } => {
                let (evse_id, connector_id) = (evse.evse_id, evse.connector_id.unwrap_or(0));
                let (status, error_code, info) =
                    (status.as_str(), error_code.clone(), info.clone());
                self.store
                    .call(move |c| {
                        store::connector_status(
                            c,
                            &id,
                            evse_id,
                            connector_id,
                            status,
                            error_code.as_deref(),
                            info.as_deref(),
                            now,
                        )
                    })
                    .await?;
                EventReply::Empty
            }
            ChargerEvent::Authorize { id_token } => EventReply::Authorize {
                info: self.authorize(&id_token.id, true, now).await?,
            },
            ChargerEvent::Transaction(tx) => self.transaction(ctx, tx, now).await?,
            ChargerEvent::MeterValues {
                evse_id,
                tx,
                samples,
            } => {
                let samples: Vec<_> = samples.iter().cloned().map(rules::normalise).collect();
                let register = rules::energy_register_wh(&samples);
                let (evse_id, key) = (*evse_id, tx.clone());
                self.store
                    .call(move |c| {
                        let tx_id = match &key {
                            Some(key) => store::find_transaction(c, &id, key)?,
                            None => None,
                        };
                        store::add_samples(c, &id, evse_id, tx_id, &samples)?;
                        if let (Some(tx_id), Some(wh)) = (tx_id, register) {
                            store::transaction_register(c, tx_id, wh, now)?;
                        }
                        Ok(())
                    })
                    .await?;
                EventReply::Empty
            }
            ChargerEvent::DataTransfer {
                vendor_id,
                message_id,
                ..
            } => {
                // No vendor extensions are implemented: OCPP 1.6 §4.3 says to answer
                // UnknownVendorId, which tells the charger not to retry.
                let detail = format!(
                    "vendor {vendor_id} message {}",
                    message_id.as_deref().unwrap_or("-")
                );
                self.note(&id, "DataTransfer", detail, now).await?;
                EventReply::DataTransfer {
                    status: DataTransferStatus::UnknownVendorId,
                    data: None,
                }
            }
            ChargerEvent::DiagnosticsStatus { status, .. } => {
                self.note(&id, "DiagnosticsStatus", status.clone(), now)
                    .await?;
                EventReply::Empty
            }
            ChargerEvent::FirmwareStatus { status, .. } => {
                self.note(&id, "FirmwareStatus", status.clone(), now)
                    .await?;
                EventReply::Empty
            }
            ChargerEvent::SecurityEvent {
                kind, tech_info, ..
            } => {
                tracing::warn!(charger = %ctx.id, kind, tech_info, "security event");
                self.note(
                    &id,
                    "SecurityEvent",
                    format!("{kind} {}", tech_info.as_deref().unwrap_or("")),
                    now,
                )
                .await?;
                EventReply::Empty
            }
            ChargerEvent::Report {
                request_id,
                seq_no,
                variables,
                ..
            } => {
                let detail = format!(
                    "request {request_id} part {seq_no}: {} variable(s)",
                    variables.len()
                );
                self.note(&id, "Report", detail, now).await?;
                EventReply::Empty
            }
            ChargerEvent::EvChargingNeeds(needs) => {
                let detail = format!(
                    "evse {} departure {} energy {:?} Wh max {:?} A",
                    needs.evse_id,
                    needs
                        .departure_time
                        .map(|t| crate::ocpp::time::format(&t))
                        .unwrap_or_default(),
                    needs.energy_wh,
                    needs.max_current_a
                );
                self.note(&id, "EvChargingNeeds", detail, now).await?;
                EventReply::EvChargingNeeds { accepted: true }
            }
            ChargerEvent::ChargingLimit {
                source, evse_id, ..
            } => {
                tracing::warn!(charger = %ctx.id, source, ?evse_id, "charging limit set by another party");
                self.note(
                    &id,
                    "ChargingLimit",
                    format!("source {source} evse {evse_id:?}"),
                    now,
                )
                .await?;
                EventReply::Empty
            }
            ChargerEvent::ChargingProfilesReport {
                request_id,
                evse_id,
                profiles,
                ..
            } => {
                let detail = format!(
                    "request {request_id} evse {evse_id}: {} profile(s)",
                    profiles.len()
                );
                self.note(&id, "ChargingProfilesReport", detail, now)
                    .await?;
                EventReply::Empty
            }
            ChargerEvent::Notify { events } => {
                for e in events {
                    let detail = format!(
                        "{}.{} {} = {}",
                        e.component, e.variable, e.trigger, e.actual_value
                    );
                    self.note(&id, "Notify", detail, now).await?;
                }
                EventReply::Empty
            }
        };
        // Nobody listening is fine: the site state subscribes when it exists.
        let _ = self.events.send(SiteEvent {
            charger: ctx.id.clone(),
            at: now,
            event: event.clone(),
        });
        Ok(reply)
    }

    async fn note(
        &self,
        id: &str,
        kind: &'static str,
        detail: String,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let id = id.to_string();
        self.store
            .call(move |c| store::charger_event(c, &id, kind, &detail, now))
            .await
    }

    async fn authorize(
        &self,
        token: &str,
        check_concurrent: bool,
        now: DateTime<Utc>,
    ) -> Result<IdTokenInfo, StoreError> {
        let token = token.to_string();
        self.store
            .call(move |c| {
                let record = store::token(c, &token)?;
                let busy = check_concurrent && store::token_has_open_transaction(c, &token)?;
                Ok(rules::authorize(record.as_ref(), busy, now))
            })
            .await
    }

    async fn transaction(
        &self,
        ctx: &ChargerContext,
        tx: &crate::ocpp::model::TransactionEvent,
        now: DateTime<Utc>,
    ) -> Result<EventReply, SessionError> {
        let id = ctx.id.to_string();
        let samples: Vec<_> = tx.samples.iter().cloned().map(rules::normalise).collect();
        // The token's status is reported back whenever the event carries one, so a charger
        // stops a session whose card was blocked meanwhile (1.6 §5.11, 2.0.1 E05).
        let info = match &tx.id_token {
            Some(token) => Some(self.authorize(&token.id, false, now).await?),
            None => None,
        };
        let evse_id = tx.evse.map(|e| e.evse_id).unwrap_or(0);
        let event = tx.clone();
        match (&tx.tx, tx.phase) {
            // 1.6 StartTransaction: the CSMS assigns the id.
            (None, TxPhase::Started) => {
                let token = tx
                    .id_token
                    .as_ref()
                    .map(|t| t.id.clone())
                    .unwrap_or_default();
                let meter = tx.meter_wh.unwrap_or(0.0);
                let write = self
                    .store
                    .call(move |c| {
                        let write = store::start_transaction_v16(
                            c,
                            &id,
                            evse_id,
                            &token,
                            meter,
                            event.timestamp,
                            now,
                        )?;
                        store::add_samples(c, &id, evse_id, Some(write.id), &samples)?;
                        Ok(write)
                    })
                    .await?;
                if write.duplicate {
                    tracing::info!(charger = %ctx.id, transaction = write.id, "resent StartTransaction recognised");
                }
                Ok(EventReply::Transaction {
                    transaction_id: Some(write.id),
                    info,
                })
            }
            // 1.6 StopTransaction: the id is ours.
            (Some(TxKey::Csms(tx_id)), TxPhase::Ended) if ctx.version == OcppVersion::V16 => {
                let (tx_id, meter, reason) =
                    (*tx_id, tx.meter_wh.unwrap_or(0.0), tx.stop_reason.clone());
                let write = self
                    .store
                    .call(move |c| {
                        let write = store::stop_transaction_v16(
                            c,
                            &id,
                            tx_id,
                            meter,
                            event.timestamp,
                            reason.as_deref(),
                            now,
                        )?;
                        let known = write.map(|w| w.id);
                        // 1.6 StopTransaction names no connector: take the transaction's.
                        let evse_id = match known {
                            Some(tx) => store::transaction(c, tx)?
                                .and_then(|t| t.evse_id)
                                .unwrap_or(evse_id),
                            None => evse_id,
                        };
                        store::add_samples(c, &id, evse_id, known, &samples)?;
                        Ok(write)
                    })
                    .await?;
                if write.is_none() {
                    tracing::warn!(charger = %ctx.id, transaction = tx_id, "StopTransaction for an unknown transaction");
                }
                Ok(EventReply::Transaction {
                    transaction_id: None,
                    info,
                })
            }
            // 2.0.1 TransactionEvent.
            (Some(_), _) => {
                let register = rules::energy_register_wh(&samples);
                let write = self
                    .store
                    .call(move |c| {
                        let write = store::transaction_event(c, &id, &event, register, now)?;
                        if !write.duplicate {
                            store::add_samples(c, &id, evse_id, Some(write.id), &samples)?;
                        }
                        Ok(write)
                    })
                    .await?;
                if write.duplicate {
                    tracing::info!(charger = %ctx.id, seq_no = ?tx.seq_no, "resent TransactionEvent recognised");
                }
                Ok(EventReply::Transaction {
                    transaction_id: None,
                    info,
                })
            }
            (None, _) => Err(SessionError::Mismatch),
        }
    }
}

/// The admission of a charger id under the config: `None` means refuse it.
pub fn admission(
    known: &HashMap<ChargerId, crate::config::Charger>,
    id: &ChargerId,
    policy: UnknownChargers,
) -> Option<Admission> {
    if known.contains_key(id) {
        Some(Admission::Known)
    } else {
        match policy {
            UnknownChargers::Reject => None,
            UnknownChargers::Pending => Some(Admission::Pending),
        }
    }
}
