//! Keeps each charger's local authorization list in step with the store's (1.6
//! LocalAuthListManagement §5.10/§5.15, 2.0.1 D01/D02), so that drivers can start while
//! the gateway is down or the link to it is.
//!
//! On every connect of a configured charger (a reboot is a new connection) it asks
//! GetLocalListVersion; every `POLL` it compares the site's version
//! (`store::local_list_version`, raised by every change of a card through the API or the
//! site file) with the one each charger holds (what it said, or what it accepted from us
//! since). A charger behind gets SendLocalList Differential with exactly the cards changed
//! since its version (`store::list_changes`; a removal is an entry without info), or
//! Full when that is not known (its version is 0, older than the change log reaches, or
//! newer than the site's after a restore), when the update would not be smaller than the
//! whole list, or when it answers the differential with VersionMismatch or Failed (1.6
//! §5.15, 2.0.1 D02). A charger without a local list (1.6 version -1, a CALLERROR, or
//! `NotSupported`) is left alone until it reconnects. Each card goes with its group's
//! verdict folded in: a charger cannot know that a group was blocked, so a change of a
//! group is a change of each member's entry. Sends go through the command API, which
//! audits them (S6).
//!
//! A list longer than `MAX_ENTRIES` is not sent (logged): those chargers ask chargegate
//! for every card.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};

use crate::charger::{Chargers, CommandError};
use crate::clock::Clock;
use crate::csms::{Admission, ConnectionEvent, Csms};
use crate::ocpp::model::{
    AuthorizationStatus, ChargerCommand, CommandReply, IdToken, IdTokenInfo, LocalListEntry,
    OcppVersion,
};
use crate::store::{self, ListChange, Store, TokenRecord};
use crate::units::ChargerId;

/// How often the site's list version is compared with the chargers'.
const POLL: Duration = Duration::from_secs(10);
/// Cards sent in one SendLocalList at most (1.6 SendLocalListMaxLength and 2.0.1
/// ItemsPerMessageSendLocalList are commonly a few hundred to a few thousand).
pub const MAX_ENTRIES: u32 = 1000;
/// 1.6 idTag is a CiString20: a longer card cannot be in a 1.6 charger's list.
const MAX_V16_ID: usize = 20;
/// The 2.0.1 IdTokenEnumType of a card whose type the operator did not give.
const DEFAULT_TYPE: &str = "ISO14443";

/// What a charger holds, as far as chargegate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// The site's list at this version.
    Version(i64),
    /// No local list on this charger.
    Unsupported,
}

/// Subscribes to the CSMS's announcements now and returns the loop, which runs until
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
    let mut held: HashMap<ChargerId, Held> = HashMap::new();
    let mut busy: HashSet<ChargerId> = HashSet::new();
    let (done_tx, mut done) = mpsc::channel::<(ChargerId, Option<Held>)>(64);
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let due: Vec<ChargerId> = tokio::select! {
            _ = shutdown.changed() => break,
            change = connections.recv() => match change {
                Ok(c) if c.admission == Admission::Known => {
                    held.remove(&c.charger);
                    if c.connected { vec![c.charger] } else { Vec::new() }
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            },
            Some((id, outcome)) = done.recv() => {
                busy.remove(&id);
                match outcome {
                    Some(h) if chargers.is_connected(&id) => { held.insert(id, h); }
                    _ => { held.remove(&id); }
                }
                continue;
            }
            _ = poll.tick() => {
                let Ok(version) = store.call(|c| store::local_list_version(c)).await else {
                    continue;
                };
                held.iter()
                    .filter(|(_, h)| matches!(h, Held::Version(v) if *v != version))
                    .map(|(id, _)| id.clone())
                    .collect()
            }
        };
        for id in due {
            // One sync per charger at a time; the next poll catches what it missed.
            if !busy.insert(id.clone()) {
                continue;
            }
            let known = held.get(&id).copied();
            let (chargers, store, clock, done) =
                (chargers.clone(), store.clone(), clock, done_tx.clone());
            tokio::spawn(async move {
                let outcome = sync(&chargers, &store, clock, &id, known).await;
                let _ = done.send((id, outcome)).await;
            });
        }
    }
}

/// Brings one charger's list to the site's version; what it holds afterwards (`None`:
/// not known, asked again at its next connect).
async fn sync(
    chargers: &Chargers,
    store: &Store,
    clock: Clock,
    id: &ChargerId,
    known: Option<Held>,
) -> Option<Held> {
    let version = chargers.version(id)?;
    let holds = match known {
        Some(Held::Version(v)) => v,
        Some(Held::Unsupported) => return Some(Held::Unsupported),
        None => match chargers
            .send(
                id,
                ChargerCommand::GetLocalListVersion,
                "local list: which version does the charger hold",
            )
            .await
        {
            // 1.6 §6.21: -1 means the charge point has no local list.
            Ok(CommandReply::LocalListVersion(v)) if v >= 0 => i64::from(v),
            Ok(_) | Err(CommandError::CallError { .. } | CommandError::NotInVersion(_)) => {
                tracing::debug!(charger = %id, "no local authorization list on this charger");
                return Some(Held::Unsupported);
            }
            Err(e) => {
                tracing::debug!(charger = %id, "local list version not read: {e}");
                return None;
            }
        },
    };
    let (site_version, cards, changes) = store
        .call(move |c| {
            let (site_version, cards) = store::local_list(c, MAX_ENTRIES + 1)?;
            Ok((site_version, cards, store::list_changes(c, holds)?))
        })
        .await
        .ok()?;
    if holds == site_version {
        return Some(Held::Version(holds));
    }
    if cards.len() > MAX_ENTRIES as usize {
        tracing::warn!(charger = %id, "the local authorization list has more than {MAX_ENTRIES} cards: not sent; the charger asks chargegate for each card");
        return Some(Held::Unsupported);
    }
    let Ok(list_version) = i32::try_from(site_version) else {
        return Some(Held::Unsupported);
    };
    // Differential when every change since the charger's version is known and the
    // update is smaller than the whole list.
    if let Some(changes) = changes.filter(|ch| ch.len() < cards.len()) {
        let update = Update {
            from: holds,
            to: site_version,
            list_version,
        };
        if let Some(outcome) =
            send_differential(chargers, clock, id, version, update, &changes).await
        {
            return outcome;
        }
    }
    let command = ChargerCommand::SendLocalList {
        version: list_version,
        full: true,
        entries: entries(&cards, version, clock.now()),
    };
    let reason = format!("local list: version {holds} -> {site_version} (full)");
    match chargers.send(id, command, reason).await {
        Ok(reply) if reply.is_accepted() => {
            tracing::info!(charger = %id, version = site_version, cards = cards.len(), "local authorization list sent");
            Some(Held::Version(site_version))
        }
        Ok(CommandReply::Status { status, .. }) if status == "NotSupported" => {
            Some(Held::Unsupported)
        }
        Ok(reply) => {
            tracing::warn!(charger = %id, ?reply, "charger did not take the local authorization list");
            None
        }
        Err(e) => {
            tracing::warn!(charger = %id, "local authorization list not sent: {e}");
            None
        }
    }
}

/// The versions of one update.
#[derive(Debug, Clone, Copy)]
struct Update {
    from: i64,
    to: i64,
    list_version: i32,
}

/// Sends the cards changed since the charger's version; `Some(held)` when that settles
/// it, `None` when the charger wants the whole list (VersionMismatch or Failed: 1.6
/// §5.15 / 2.0.1 D02, its list is not the one chargegate thinks or it could not apply the
/// update).
async fn send_differential(
    chargers: &Chargers,
    clock: Clock,
    id: &ChargerId,
    version: OcppVersion,
    update: Update,
    changes: &[ListChange],
) -> Option<Option<Held>> {
    let command = ChargerCommand::SendLocalList {
        version: update.list_version,
        full: false,
        entries: changes
            .iter()
            .filter_map(|ch| change_entry(ch, version, clock.now()))
            .collect(),
    };
    let reason = format!(
        "local list: version {} -> {} (differential)",
        update.from, update.to
    );
    match chargers.send(id, command, reason).await {
        Ok(reply) if reply.is_accepted() => {
            tracing::info!(charger = %id, version = update.to, cards = changes.len(), "local authorization list updated (differential)");
            Some(Some(Held::Version(update.to)))
        }
        Ok(CommandReply::Status { status, .. }) if status == "NotSupported" => {
            Some(Some(Held::Unsupported))
        }
        Ok(CommandReply::Status { status, .. })
            if status == "VersionMismatch" || status == "Failed" =>
        {
            tracing::info!(charger = %id, %status, "differential local list update refused: sending the whole list");
            None
        }
        Ok(reply) => {
            tracing::warn!(charger = %id, ?reply, "charger did not take the local authorization list update");
            Some(None)
        }
        Err(e) => {
            tracing::warn!(charger = %id, "local authorization list update not sent: {e}");
            Some(None)
        }
    }
}

/// The differential entry for one changed card: its entry now, or one without info
/// (removal). `None` for a card a 1.6 charger cannot hold.
fn change_entry(
    change: &ListChange,
    version: OcppVersion,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<LocalListEntry> {
    if version == OcppVersion::V16 && change.id.len() > MAX_V16_ID {
        return None;
    }
    match &change.record {
        Some(record) => entries(&[(record.clone(), change.token_type.clone())], version, now).pop(),
        None => Some(LocalListEntry {
            id_token: IdToken {
                id: change.id.clone(),
                kind: token_kind(version, &change.token_type),
            },
            info: None,
        }),
    }
}

fn token_kind(version: OcppVersion, token_type: &Option<String>) -> Option<String> {
    match version {
        OcppVersion::V16 => None,
        OcppVersion::V201 => Some(token_type.clone().unwrap_or_else(|| DEFAULT_TYPE.into())),
    }
}

/// The list entries for a charger of `version`: each card's verdict now (expired cards
/// as Expired, so the charger refuses them offline too).
fn entries(
    cards: &[(TokenRecord, Option<String>)],
    version: OcppVersion,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<LocalListEntry> {
    cards
        .iter()
        .filter(|(card, _)| version != OcppVersion::V16 || card.id.len() <= MAX_V16_ID)
        .map(|(card, token_type)| {
            let status = if card.status != "accepted" {
                AuthorizationStatus::Blocked
            } else if card.expires.is_some_and(|e| e <= now) {
                AuthorizationStatus::Expired
            } else {
                AuthorizationStatus::Accepted
            };
            LocalListEntry {
                id_token: IdToken {
                    id: card.id.clone(),
                    kind: token_kind(version, token_type),
                },
                info: Some(IdTokenInfo {
                    status,
                    expiry: card.expires,
                    group_id: card.group.clone(),
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(id: &str, status: &str, expires: Option<&str>) -> (TokenRecord, Option<String>) {
        (
            TokenRecord {
                id: id.into(),
                status: status.into(),
                expires: expires.map(|e| e.parse().unwrap()),
                group: Some("FLEET".into()),
            },
            None,
        )
    }

    #[test]
    fn each_card_goes_with_its_verdict_now_and_1_6_gets_only_cards_it_can_hold() {
        let now = "2026-11-30T12:00:00Z".parse().unwrap();
        let cards = vec![
            card("A", "accepted", None),
            card("B", "blocked", None),
            card("C", "accepted", Some("2026-01-01T00:00:00Z")),
            card("D-WITH-A-VERY-LONG-ID-0123", "accepted", None),
        ];
        let v201 = entries(&cards, OcppVersion::V201, now);
        let statuses: Vec<_> = v201
            .iter()
            .map(|e| (e.id_token.id.as_str(), e.info.as_ref().unwrap().status))
            .collect();
        assert_eq!(
            statuses,
            [
                ("A", AuthorizationStatus::Accepted),
                ("B", AuthorizationStatus::Blocked),
                ("C", AuthorizationStatus::Expired),
                ("D-WITH-A-VERY-LONG-ID-0123", AuthorizationStatus::Accepted),
            ]
        );
        assert_eq!(v201[0].id_token.kind.as_deref(), Some("ISO14443"));
        assert_eq!(
            v201[0].info.as_ref().unwrap().group_id.as_deref(),
            Some("FLEET")
        );
        let v16 = entries(&cards, OcppVersion::V16, now);
        assert_eq!(v16.len(), 3);
        assert!(v16.iter().all(|e| e.id_token.kind.is_none()));
    }
}
