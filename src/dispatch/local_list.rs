//! Keeps each charger's local authorization list in step with the store's (1.6
//! LocalAuthListManagement §5.10/§5.15, 2.0.1 D01/D02), so that drivers can start while
//! the gateway is down or the link to it is.
//!
//! On every connect of a configured charger (a reboot is a new connection) it asks
//! GetLocalListVersion; when the
//! charger's version differs from the site's (`store::local_list_version`, raised by every
//! change of a card through the API or the site file) it sends the whole list
//! (SendLocalList Full). Every `POLL` it looks at the site's version and sends the list
//! again to each charger that holds an older one. A charger without a local list (1.6
//! version -1, a CALLERROR, or `NotSupported`) is left alone until it reconnects. Each
//! card goes with its group's verdict folded in: a charger cannot know that a group was
//! blocked. Sends go through the command API, which audits them (S6).
//!
//! Full lists only: with a depot's few hundred cards a full list is a few kB, and it
//! cannot drift the way a lost differential update can. A list longer than `MAX_ENTRIES`
//! is not sent (logged): those chargers ask chargegate for every card.

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
use crate::store::{self, Store, TokenRecord};
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
    let (site_version, cards) = store
        .call(|c| store::local_list(c, MAX_ENTRIES + 1))
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
    let entries = entries(&cards, version, clock.now());
    let command = ChargerCommand::SendLocalList {
        version: list_version,
        full: true,
        entries,
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
                    kind: match version {
                        OcppVersion::V16 => None,
                        OcppVersion::V201 => {
                            Some(token_type.clone().unwrap_or_else(|| DEFAULT_TYPE.into()))
                        }
                    },
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
