//! After a 2.0.1 charger (re)connects, the transactions the store still has open on it
//! are checked with GetTransactionStatus (OCPP 2.0.1 E14): one the charger says is not
//! ongoing (`ongoingIndicator` false) and about which it has no messages queued
//! (`messagesInQueue` false) will never be reported as ended, so it is closed in the store
//! with stop reason `NotOngoing` and `closed_by = not-ongoing` (E14.FR.05/06; a charger
//! that then reports on it again reopens it, as for every close chargegate guesses).
//! Anything else leaves it open: an ongoing transaction, or queued messages (the charger
//! will send its end itself, E14.FR.03/04), or no answer.
//!
//! 1.6 has no such message; a 1.6 charger's forgotten transactions are closed at its boot
//! or by a new transaction on the connector (`csms::rules`). A Pending charger is not
//! asked: nothing it says is processed until the operator accepts it.

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, watch};

use crate::charger::Chargers;
use crate::charger::registry::CommandError;
use crate::clock::Clock;
use crate::csms::{Admission, ConnectionEvent, Csms};
use crate::ocpp::model::{ChargerCommand, CommandReply, OcppVersion};
use crate::store::{self, ClosedBy, Store};
use crate::units::ChargerId;

/// Why the command goes out, for the audit log.
const REASON: &str =
    "transactions open in the store after the charger reconnected (OCPP 2.0.1 E14)";
/// The stop reason of a transaction closed this way.
pub const STOP_REASON: &str = "NotOngoing";

/// Subscribes to the CSMS's connection events now and returns the loop, which runs until
/// `shutdown` turns true.
pub fn run(
    csms: &Csms,
    chargers: Chargers,
    clock: Clock,
    shutdown: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + 'static {
    let connections = csms.subscribe_connections();
    let store = csms.store().clone();
    serve(connections, chargers, store, clock, shutdown)
}

async fn serve(
    mut connections: broadcast::Receiver<ConnectionEvent>,
    chargers: Chargers,
    store: Store,
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let event = tokio::select! {
            _ = shutdown.changed() => break,
            event = connections.recv() => match event {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "transaction status check missed connections");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        if !event.connected
            || event.version != OcppVersion::V201
            || event.admission == Admission::Pending
        {
            continue;
        }
        // Not awaited here: one slow charger must not hold the others' connections.
        tokio::spawn(check(event.charger, chargers.clone(), store.clone(), clock));
    }
}

/// Asks `charger` about each transaction the store has open on it, one at a time.
async fn check(charger: ChargerId, chargers: Chargers, store: Store, clock: Clock) {
    let id = charger.to_string();
    let open = match store
        .call(move |c| store::open_charger_named_transactions(c, &id))
        .await
    {
        Ok(open) => open,
        Err(e) => {
            tracing::warn!(%charger, "transaction status look-up failed: {e}");
            return;
        }
    };
    for (row, tx) in open {
        let command = ChargerCommand::GetTransactionStatus {
            tx: Some(tx.clone()),
        };
        match chargers.send(&charger, command, REASON).await {
            Ok(reply) => {
                if settle(&charger, row, &tx, &reply, &store, clock.now()).await {
                    continue;
                }
            }
            // Gone again: its next connection asks again.
            Err(CommandError::NotConnected | CommandError::Disconnected) => return,
            Err(e) => {
                tracing::warn!(%charger, transaction = %tx,
                    "GetTransactionStatus failed ({e}): the transaction stays open");
            }
        }
    }
}

/// Closes the transaction when the answer says it is over and nothing about it is queued;
/// true when the answer was understood.
async fn settle(
    charger: &ChargerId,
    row: i64,
    tx: &str,
    reply: &CommandReply,
    store: &Store,
    now: DateTime<Utc>,
) -> bool {
    let CommandReply::TransactionStatus {
        ongoing,
        messages_in_queue,
    } = reply
    else {
        return false;
    };
    match (ongoing, messages_in_queue) {
        (Some(false), false) => {
            let id = charger.to_string();
            let closed = store
                .call(move |c| {
                    store::close_transaction(c, &id, row, STOP_REASON, ClosedBy::NotOngoing, now)
                })
                .await;
            match closed {
                Ok(true) => tracing::info!(%charger, transaction = %tx,
                    "the charger says the transaction is not ongoing and has nothing queued \
                     about it: closed at its last reading (reason NotOngoing)"),
                Ok(false) => {}
                Err(e) => tracing::warn!(%charger, transaction = %tx,
                    "closing a transaction that is not ongoing failed: {e}"),
            }
        }
        (Some(false), true) => tracing::info!(%charger, transaction = %tx,
            "the transaction is over but the charger still has messages about it queued: \
             left open for its own end"),
        (Some(true), _) => tracing::debug!(%charger, transaction = %tx, "transaction ongoing"),
        (None, _) => tracing::warn!(%charger, transaction = %tx,
            "GetTransactionStatus answer without ongoingIndicator (E14.FR.06): left open"),
    }
    true
}
