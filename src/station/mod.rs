//! What chargegate asks of a 2.0.1 station on its own, outside the control loop:
//! `tx_status` checks the transactions the store has open on a charger that reconnects
//! (GetTransactionStatus, E14); `signing` answers a charger's SignCertificate with a
//! CertificateSigned (A02/A03). Every command goes through `charger::Chargers`, which
//! audits it (S6).

pub mod signing;
pub mod tx_status;

use tokio::sync::watch;

use crate::charger::Chargers;
use crate::clock::Clock;
use crate::csms::Csms;

/// Subscribes the tasks to the CSMS now (before the listener runs, so no connection is
/// missed) and spawns them; they run until `shutdown` turns true.
pub fn spawn(csms: &Csms, chargers: &Chargers, clock: Clock, shutdown: &watch::Receiver<bool>) {
    // A 2.0.1 charger that reconnects is asked about the transactions still open on it.
    tokio::spawn(tx_status::run(
        csms,
        chargers.clone(),
        clock,
        shutdown.clone(),
    ));
    // With `[csms] client-ca-key-file`: a charger's certificate request is signed.
    if let Some(signing) = signing::run(csms, chargers.clone(), clock, shutdown.clone()) {
        tokio::spawn(signing);
    }
}
