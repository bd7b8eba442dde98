//! A 2.0.1 charger's SignCertificate (A02/A03), after chargegate answered it Accepted
//! (`csms::decide`): the CSR is checked and signed by the configured CA
//! (`csms::signing`) and the chain sent back in a CertificateSigned, through
//! `charger::Chargers`, which audits it (S6). A CSR that is refused (not PKCS#10, a bad
//! signature, another CN, a V2G certificate) gets no CertificateSigned: the refusal is
//! logged and written to the audit log as a `not-sent` CertificateSigned with why, so the
//! operator sees it where every command is (A02.FR.07 lets the charger retry later).

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use crate::charger::Chargers;
use crate::clock::Clock;
use crate::csms::signing::CertificateAuthority;
use crate::csms::{Csms, SiteEvent};
use crate::ocpp::model::{ChargerCommand, ChargerEvent};
use crate::store::{self, AuditRecord, Store};

/// Why the command goes out, for the audit log.
const REASON: &str = "the charger's SignCertificate (OCPP 2.0.1 A02/A03)";

/// Subscribes to the CSMS's events now and returns the loop (which runs until `shutdown`
/// turns true), or `None` when no CA key is configured (SignCertificate is then
/// answered Rejected and nothing follows).
pub fn run(
    csms: &Csms,
    chargers: Chargers,
    clock: Clock,
    shutdown: watch::Receiver<bool>,
) -> Option<impl Future<Output = ()> + Send + 'static> {
    let authority = csms.certificate_authority()?;
    let events = csms.subscribe();
    let store = csms.store().clone();
    Some(serve(events, authority, chargers, store, clock, shutdown))
}

async fn serve(
    mut events: broadcast::Receiver<SiteEvent>,
    authority: Arc<CertificateAuthority>,
    chargers: Chargers,
    store: Store,
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let event = tokio::select! {
            _ = shutdown.changed() => break,
            event = events.recv() => match event {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "certificate signing missed charger events");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        let ChargerEvent::SignCertificate { csr, kind } = event.event else {
            continue;
        };
        let signed = authority.sign(event.charger.as_str(), &csr, kind.as_deref(), clock.now());
        let chain = match signed {
            Ok(chain) => chain,
            Err(why) => {
                tracing::warn!(charger = %event.charger, "certificate request refused: {why}");
                let record = AuditRecord {
                    ts: crate::ocpp::time::format(&clock.now()),
                    charger_id: event.charger.to_string(),
                    action: "CertificateSigned".into(),
                    request: String::new(),
                    response: None,
                    outcome: "not-sent".into(),
                    reason: format!("SignCertificate refused: {why}"),
                };
                if let Err(e) = store.call(move |c| store::audit(c, &record)).await {
                    tracing::warn!("audit entry not stored: {e}");
                }
                continue;
            }
        };
        let command = ChargerCommand::CertificateSigned { chain, kind };
        let chargers = chargers.clone();
        // Not awaited here: one slow charger must not hold the others' requests.
        tokio::spawn(async move {
            match chargers.send(&event.charger, command, REASON).await {
                Ok(reply) if reply.is_accepted() => {
                    tracing::info!(charger = %event.charger, "signed certificate installed");
                }
                Ok(reply) => tracing::warn!(charger = %event.charger,
                    "the charger refused the signed certificate: {reply:?}"),
                Err(e) => tracing::warn!(charger = %event.charger,
                    "CertificateSigned failed: {e}"),
            }
        });
    }
}
