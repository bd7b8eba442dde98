//! The local CSMS's answers to charger events, and the records they leave in the store.
//!
//! `Csms::handle` takes a version-blind `ChargerEvent`, writes what must be kept, and only
//! then returns the reply (the CALLRESULT is the charger's acknowledgement: after it the
//! charger forgets its copy). The decisions themselves are pure functions in `rules`.
//! Must never see a wire payload or a socket.

mod apply;
pub mod decide;
pub mod reports;
pub mod reservations;
pub mod rules;
pub mod signing;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::config::{Config, TokenStatus, UnknownChargers};
use crate::ocpp::model::{ChargerEvent, EventReply, OcppVersion};
use crate::store::{self, Store, StoreError, TokenRecord};
use crate::units::ChargerId;

/// How a connected charger was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Listed in the config.
    Known,
    /// Not listed, admitted because `unknown-chargers = "pending"`: it gets Pending at boot
    /// and nothing else is processed until the operator adds it.
    Pending,
    /// Not listed, but the operator accepted it at run time (`POST
    /// /api/v1/chargers/<id>/accept`, kept in the store): Accepted at boot and its events
    /// processed. It is in no circuit of the site file, so the baseline and dispatch leave
    /// it alone (they serve `Known` chargers) until it is added there; meanwhile every
    /// card on it is refused (`decide::refuse_charging`, S1).
    Accepted,
}

/// The per-connection facts the rules need.
#[derive(Debug, Clone)]
pub struct ChargerContext {
    pub id: ChargerId,
    pub version: OcppVersion,
    pub admission: Admission,
}

/// How the CSMS registers chargers at boot (from `[csms]`).
#[derive(Debug, Clone)]
pub struct RegistrationPolicy {
    pub heartbeat_interval_s: u32,
    pub unknown_chargers: UnknownChargers,
    /// The retry interval for Pending chargers, in seconds.
    pub pending_retry_s: u32,
    /// `[csms] client-ca-key-file` is set: SignCertificate is answered Accepted (A02/A03).
    pub signs_certificates: bool,
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
pub enum CsmsError {
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
    policy: Arc<RegistrationPolicy>,
    events: broadcast::Sender<SiteEvent>,
    connections: broadcast::Sender<ConnectionEvent>,
    /// NotifyReport parts in assembly (`reports`); locked only on the store thread, for
    /// one part at a time.
    reports: Arc<std::sync::Mutex<reports::Assembler>>,
    /// NotifyCustomerInformation parts in assembly, likewise.
    customer: Arc<std::sync::Mutex<reports::Assembler<String>>>,
    /// Signs chargers' certificate requests (`station::signing`), when configured.
    authority: Option<Arc<signing::CertificateAuthority>>,
    /// The Local Controller's link to a cloud CSMS (`upstream::ocpp`), once started: set
    /// after the CSMS exists (the links follow its connection events), before the first
    /// charger is admitted.
    uplink: Arc<std::sync::OnceLock<crate::upstream::ocpp::Uplink>>,
}

impl Csms {
    pub fn new(store: Store, policy: RegistrationPolicy) -> Self {
        let (events, _) = broadcast::channel(1024);
        let (connections, _) = broadcast::channel(256);
        Self {
            store,
            policy: Arc::new(policy),
            events,
            connections,
            reports: Arc::default(),
            customer: Arc::default(),
            authority: None,
            uplink: Arc::default(),
        }
    }

    /// Hands the Local Controller's link to every connection (once; a second is ignored).
    pub fn set_uplink(&self, uplink: crate::upstream::ocpp::Uplink) {
        if self.uplink.set(uplink).is_err() {
            tracing::warn!("the Local Controller was started twice; the first one stays");
        }
    }

    /// The Local Controller's link, when `[upstream.ocpp]` is configured.
    pub fn uplink(&self) -> Option<&crate::upstream::ocpp::Uplink> {
        self.uplink.get()
    }

    /// Answers SignCertificate Accepted and lends `authority` to whoever signs.
    #[must_use]
    pub fn with_certificate_authority(mut self, authority: signing::CertificateAuthority) -> Self {
        let mut policy = (*self.policy).clone();
        policy.signs_certificates = true;
        self.policy = Arc::new(policy);
        self.authority = Some(Arc::new(authority));
        self
    }

    /// The CA that signs chargers' certificate requests, if configured.
    pub fn certificate_authority(&self) -> Option<Arc<signing::CertificateAuthority>> {
        self.authority.clone()
    }

    pub fn from_config(store: Store, config: &Config) -> Self {
        Self::new(
            store,
            RegistrationPolicy {
                heartbeat_interval_s: config.csms.heartbeat_interval_s,
                unknown_chargers: config.csms.unknown_chargers,
                pending_retry_s: 60,
                signs_certificates: false,
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

    /// Records the connection and returns the admission it has: a Pending charger the
    /// operator accepted (`store::operator_accepted`) is `Accepted`, so a charger that
    /// reconnects without booting again (1.6 allows it) has its events processed.
    pub async fn connected(
        &self,
        ctx: &ChargerContext,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError> {
        let id = ctx.id.to_string();
        let version = ctx.version.subprotocol();
        let pending = ctx.admission == Admission::Pending;
        let result = self
            .store
            .call(move |c| {
                store::charger_connected(c, &id, version, now)?;
                Ok(pending && store::operator_accepted(c, &id)?)
            })
            .await;
        let admission = match result {
            Ok(true) => Admission::Accepted,
            _ => ctx.admission,
        };
        let announced = ChargerContext {
            admission,
            ..ctx.clone()
        };
        self.announce(&announced, true, now);
        result.map(|_| admission)
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

    /// Handles one event and returns the reply to send: looks up what the rules need,
    /// decides (`decide`, pure), writes the records, and only then answers.
    pub async fn handle(
        &self,
        ctx: &ChargerContext,
        event: &ChargerEvent,
        now: DateTime<Utc>,
    ) -> Result<EventReply, CsmsError> {
        self.handle_relayed(ctx, event, now, None).await
    }

    /// `handle`, keeping `journal` (the CALL as the charger sent it, for the cloud CSMS) in
    /// the same commit as the records, so the answer means the cloud will get it too. A
    /// resent transaction record the store recognised is not kept twice.
    pub async fn handle_relayed(
        &self,
        ctx: &ChargerContext,
        event: &ChargerEvent,
        now: DateTime<Utc>,
        journal: Option<store::JournalEntry>,
    ) -> Result<EventReply, CsmsError> {
        // Look-up, decision and writes in one store call: one round trip per event, and
        // no other charger's write between the facts read and the records written.
        let (id, ctx_owned, policy, owned, assembler, customer) = (
            ctx.id.to_string(),
            ctx.clone(),
            Arc::clone(&self.policy),
            event.clone(),
            Arc::clone(&self.reports),
            Arc::clone(&self.customer),
        );
        let outcome = self
            .store
            .call(move |c| {
                // Reservations whose time has passed end now, on the daemon's clock.
                store::expire_due(c, now)?;
                let facts = apply::look_up(c, &id, &decide::needs(&owned), now)?;
                let decision = match decide::decide(&ctx_owned, &policy, &owned, &facts, now) {
                    Ok(decision) => decision,
                    Err(refused) => return Ok(Err(refused)),
                };
                let applied = apply::write(c, &id, &decision.writes, now)?;
                if let Some(entry) = journal.as_ref().filter(|_| !applied.resent) {
                    store::journal(c, &id, entry, applied.assigned, now)?;
                }
                assemble_report(c, &id, &owned, &assembler, now)?;
                assemble_customer_information(c, &id, &owned, &customer, now)?;
                Ok(Ok((decision, applied)))
            })
            .await??;
        let (decision, applied) = outcome;
        for w in &decision.writes {
            if let decide::Write::Note {
                kind,
                detail,
                severity: decide::Severity::Warning,
            } = w
            {
                tracing::warn!(charger = %ctx.id, kind, detail, "charger reports");
            }
        }
        if applied.closed > 0 {
            tracing::info!(charger = %ctx.id, closed = applied.closed,
                "open transaction(s) the charger no longer runs were closed at their last reading");
        }
        if applied.resent {
            tracing::info!(charger = %ctx.id, "resent transaction record recognised");
        }
        let reply = decision.reply.complete(applied.assigned)?;
        // Nobody listening is fine: the site state subscribes when it exists.
        let _ = self.events.send(SiteEvent {
            charger: ctx.id.clone(),
            at: now,
            event: event.clone(),
        });
        Ok(reply)
    }
}

/// Adds a NotifyReport part to its report, if chargegate asked for that report
/// (`store::report_open`), and stores where the report stands: the whole report once
/// complete, before the last part is acknowledged. A part of a report nobody asked for is
/// only in the event log (`decide`).
fn assemble_report(
    c: &rusqlite::Connection,
    charger: &str,
    event: &ChargerEvent,
    assembler: &std::sync::Mutex<reports::Assembler>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let ChargerEvent::Report {
        request_id,
        seq_no,
        more_to_follow,
        variables,
    } = event
    else {
        return Ok(());
    };
    if !store::report_open(c, charger, *request_id)? {
        return Ok(());
    }
    // A poisoned lock only means another part's assembly panicked; the map is still whole.
    let outcome = assembler
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .add(
            charger,
            *request_id,
            *seq_no,
            *more_to_follow,
            variables.clone(),
            now,
        );
    match outcome {
        reports::PartOutcome::Incomplete { parts } => {
            store::report_progress(c, charger, *request_id, parts, now)
        }
        reports::PartOutcome::Complete { parts, contents } => {
            let variables: Vec<_> = contents.into_iter().flatten().collect();
            store::report_complete(c, charger, *request_id, parts, &variables, now)
        }
        reports::PartOutcome::Refused(why) => {
            tracing::warn!(charger, request_id, "report dropped: {why}");
            store::report_failed(c, charger, *request_id, &why, now)
        }
    }
}

/// Adds a NotifyCustomerInformation part to its report, as `assemble_report` does for
/// NotifyReport: only for a CustomerInformation chargegate sent
/// (`store::customer_information_open`); the whole text is stored once complete.
fn assemble_customer_information(
    c: &rusqlite::Connection,
    charger: &str,
    event: &ChargerEvent,
    assembler: &std::sync::Mutex<reports::Assembler<String>>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let ChargerEvent::CustomerInformation {
        request_id,
        seq_no,
        more_to_follow,
        data,
    } = event
    else {
        return Ok(());
    };
    if !store::customer_information_open(c, charger, *request_id)? {
        return Ok(());
    }
    let outcome = assembler
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .add(
            charger,
            *request_id,
            *seq_no,
            *more_to_follow,
            data.clone(),
            now,
        );
    match outcome {
        reports::PartOutcome::Incomplete { parts } => {
            store::customer_information_progress(c, charger, *request_id, parts, now)
        }
        reports::PartOutcome::Complete { parts, contents } => {
            // The parts are pieces of one text (N09.FR.04 splits it at no boundary).
            let text = contents.concat();
            store::customer_information_complete(c, charger, *request_id, parts, &text, now)
        }
        reports::PartOutcome::Refused(why) => {
            tracing::warn!(charger, request_id, "customer information dropped: {why}");
            store::customer_information_failed(c, charger, *request_id, &why, now)
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
