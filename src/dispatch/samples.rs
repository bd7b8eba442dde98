//! The samples dispatch asks chargers for (TriggerMessage MeterValues on the transaction's
//! EVSE; OCPP 1.6 §5.17, 2.0.1 F06), outside their own `MeterValueSampleInterval`:
//! - after an accepted increase, to confirm the vehicle's ramp (`confirm_ramp`);
//! - after a rise of the load on a phase a charger is not counted on, which may be its
//!   vehicle switching that phase on (`site::switch_watch`, `after_rise`).
//!
//! A charger that refuses (or whose version has no such trigger) is not asked again while
//! it stays connected: its samples then come at its own interval only. A reconnection
//! (after a reboot, perhaps with new firmware) clears the refusal.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::task::open_transaction;
use crate::charger::{Chargers, CommandError};
use crate::csms::Csms;
use crate::ev::RAMP_SETTLE;
use crate::ocpp::model::{ChargerCommand, TriggerKind};
use crate::units::{Amps, ChargerId};

/// Chargers that refused a TriggerMessage(MeterValues).
pub type Refusing = Mutex<HashSet<ChargerId>>;

/// After an accepted increase, asks the charger for a sample once the vehicle has had
/// `RAMP_SETTLE` to follow. Until a sample taken that late arrives, the grid-meter
/// derivation puts a rise of the meter down to this vehicle's ramp (`site::load`), so a
/// rise of the other load that coincides with it stays hidden until then, for at most
/// `site::load::MAX_ATTRIBUTION`; a charger that answers the trigger confirms the ramp a
/// round trip past `RAMP_SETTLE`, well within that (S1's response time). A charger that
/// refuses: past `MAX_ATTRIBUTION` its ramp counts as other load (the guard may cut it)
/// until its periodic sample shows it.
pub async fn confirm_ramp(
    chargers: &Chargers,
    csms: &Csms,
    id: &ChargerId,
    limit: Amps,
    refusing: &Refusing,
) {
    if refuses(refusing, id) {
        return;
    }
    tokio::time::sleep(RAMP_SETTLE).await;
    let why = format!("confirm the vehicle's ramp to {} A (S1)", limit.0);
    ask(chargers, csms, id, why, Remember::Rejected, refusing).await;
}

/// Asks the charger for a sample at once: the load on a phase it is wired to but not
/// counted on (its vehicle's learned phases) rose at `rise`, which may be its vehicle
/// switching that phase on; its sample shows it, and its limit then counts there too (S1).
pub async fn after_rise(
    chargers: &Chargers,
    csms: &Csms,
    id: &ChargerId,
    rise: DateTime<Utc>,
    refusing: &Refusing,
) {
    if refuses(refusing, id) {
        return;
    }
    let why = format!(
        "the load rose at {} on a phase it is not counted on: has its vehicle switched \
         that phase on? (S1)",
        rise.format("%H:%M:%S")
    );
    ask(chargers, csms, id, why, Remember::Unsupported, refusing).await;
}

/// Forgets that the charger refused: it (re)connected, and a firmware update may have
/// brought the trigger.
pub fn forget_refusal(refusing: &Refusing, id: &ChargerId) {
    refusals(refusing).remove(id);
}

/// Forgets every refusal: connection events were missed, any charger may have rebooted.
pub fn forget_refusals(refusing: &Refusing) {
    refusals(refusing).clear();
}

fn refuses(refusing: &Refusing, id: &ChargerId) -> bool {
    refusals(refusing).contains(id)
}

/// The set, locked. A panic while it was held cannot leave it half-changed (each use is
/// one set operation), so a poisoned lock is taken as it is.
fn refusals(refusing: &Refusing) -> std::sync::MutexGuard<'_, HashSet<ChargerId>> {
    refusing
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Which answers mark a charger as refusing for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Remember {
    /// Rejected too: after an accepted increase its transaction runs, so a Rejected says
    /// the charger will not send triggered samples.
    Rejected,
    /// Only a CALLERROR or a version without the trigger: a Rejected after a rise may be
    /// for a transaction that just ended, and must not turn off `confirm_ramp`.
    Unsupported,
}

/// Sends TriggerMessage(MeterValues) for the charger's running transaction; remembers a
/// refusal as `remember` says. No transaction, no vehicle to sample (1.6 connector 0
/// would report the station meter).
async fn ask(
    chargers: &Chargers,
    csms: &Csms,
    id: &ChargerId,
    why: String,
    remember: Remember,
    refusing: &Refusing,
) {
    let Some((evse_id, _)) = open_transaction(csms, id).await else {
        return;
    };
    let command = ChargerCommand::Trigger {
        message: TriggerKind::MeterValues,
        evse_id: Some(evse_id),
    };
    let refused = match chargers.send(id, command, why).await {
        Ok(reply) => remember == Remember::Rejected && !reply.is_accepted(),
        Err(CommandError::CallError { .. } | CommandError::NotInVersion(_)) => true,
        // Gone, busy or slow: asked again on the next occasion.
        Err(_) => false,
    };
    if refused {
        tracing::info!(
            charger = %id,
            "charger refuses TriggerMessage(MeterValues): its samples come at its own \
             interval only (a vehicle's ramp or a phase switched on is seen that late)"
        );
        refusals(refusing).insert(id.clone());
    }
}
