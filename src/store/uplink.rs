//! The OCPP Local Controller's store (issue 13, migration 15).
//!
//! `uplink_journal` holds every transaction message a charger sent (1.6 StartTransaction,
//! MeterValues, StopTransaction; 2.0.1 TransactionEvent; SecurityEventNotification), as the
//! charger sent it, written in the same commit as the local CSMS's records of it
//! (`csms::Csms::handle_relayed`), so the CALLRESULT the charger gets means the cloud will
//! get the message too. A row leaves only when the cloud answered it (`journal_delivered`),
//! so a cloud that is down, rejects or times out loses nothing, and one that answered never
//! gets it again. `uplink_tx_map` keeps the cloud's 1.6 transaction id for each local one
//! (the charger only ever knows the local id). The cloud's cards (SendLocalList, Authorize
//! answers) live in `id_tokens` with source `cloud`; the operator's and the site file's
//! cards win over them.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, TokenRecord};

/// One journaled charger message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRow {
    pub seq: i64,
    pub charger: String,
    /// The charger's OCPP subprotocol word (`ocpp1.6`, `ocpp2.0.1`).
    pub version: String,
    pub action: String,
    /// The CALL's payload as the charger sent it (JSON text).
    pub payload: String,
    /// The charger's link to the cloud was down when chargegate received it.
    pub offline: bool,
    /// 1.6 StartTransaction: the transaction id chargegate gave the charger.
    pub local_tx: Option<i64>,
}

/// A message to journal, as `Csms::handle_relayed` hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub version: String,
    pub action: String,
    pub payload: String,
    pub offline: bool,
}

/// Keeps `entry` for the cloud; `local_tx` is the id a 1.6 StartTransaction was given.
pub fn journal(
    c: &Connection,
    charger: &str,
    entry: &JournalEntry,
    local_tx: Option<i64>,
    at: DateTime<Utc>,
) -> Result<i64, StoreError> {
    c.execute(
        "INSERT INTO uplink_journal
             (charger, version, action, payload, offline, local_tx, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            charger,
            entry.version,
            entry.action,
            entry.payload,
            entry.offline,
            local_tx,
            crate::ocpp::time::format(&at)
        ],
    )?;
    Ok(c.last_insert_rowid())
}

/// The oldest message for `charger` the cloud has not answered yet.
pub fn journal_head(c: &Connection, charger: &str) -> Result<Option<JournalRow>, StoreError> {
    Ok(c.query_row(
        "SELECT seq, charger, version, action, payload, offline, local_tx
         FROM uplink_journal WHERE charger = ?1 ORDER BY seq LIMIT 1",
        [charger],
        |r| {
            Ok(JournalRow {
                seq: r.get(0)?,
                charger: r.get(1)?,
                version: r.get(2)?,
                action: r.get(3)?,
                payload: r.get(4)?,
                offline: r.get(5)?,
                local_tx: r.get(6)?,
            })
        },
    )
    .optional()?)
}

/// The cloud answered message `seq`: it leaves the journal, and a 1.6 StartTransaction's
/// cloud id is kept for its local one, in one savepoint (a crash between the two would
/// send the Start again, and the cloud would open a second transaction).
pub fn journal_delivered(
    c: &mut Connection,
    seq: i64,
    cloud_tx: Option<i64>,
) -> Result<(), StoreError> {
    let sp = c.savepoint()?;
    let row: Option<(String, Option<i64>)> = sp
        .query_row(
            "SELECT charger, local_tx FROM uplink_journal WHERE seq = ?1",
            [seq],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let (Some((charger, Some(local))), Some(cloud)) = (row, cloud_tx) {
        sp.execute(
            "INSERT INTO uplink_tx_map (charger, local_tx, cloud_tx) VALUES (?1, ?2, ?3)
             ON CONFLICT (charger, local_tx) DO UPDATE SET cloud_tx = ?3",
            params![charger, local, cloud],
        )?;
    }
    sp.execute("DELETE FROM uplink_journal WHERE seq = ?1", [seq])?;
    sp.commit()?;
    Ok(())
}

/// How many messages wait for `charger` (or for every charger, `None`).
pub fn journal_pending(c: &Connection, charger: Option<&str>) -> Result<i64, StoreError> {
    Ok(match charger {
        Some(id) => c.query_row(
            "SELECT COUNT(*) FROM uplink_journal WHERE charger = ?1",
            [id],
            |r| r.get(0),
        )?,
        None => c.query_row("SELECT COUNT(*) FROM uplink_journal", [], |r| r.get(0))?,
    })
}

/// How many messages wait for the cloud in all, and when the oldest was received.
pub fn journal_stats(c: &Connection) -> Result<(u64, Option<String>), StoreError> {
    Ok(c.query_row(
        "SELECT COUNT(*), MIN(received_at) FROM uplink_journal",
        [],
        |r| Ok((r.get::<_, i64>(0)?.max(0).unsigned_abs(), r.get(1)?)),
    )?)
}

/// Every charger with messages waiting, and its version: their links start at boot even
/// before the charger reconnects.
pub fn journal_chargers(c: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT charger, version FROM uplink_journal
         WHERE seq IN (SELECT MAX(seq) FROM uplink_journal GROUP BY charger)
         ORDER BY charger",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The cloud's id for a local 1.6 transaction, once the cloud answered its Start.
pub fn cloud_tx(c: &Connection, charger: &str, local: i64) -> Result<Option<i64>, StoreError> {
    Ok(c.query_row(
        "SELECT cloud_tx FROM uplink_tx_map WHERE charger = ?1 AND local_tx = ?2",
        params![charger, local],
        |r| r.get(0),
    )
    .optional()?)
}

/// The local id the charger knows for the cloud's transaction id (RemoteStopTransaction).
pub fn local_tx(c: &Connection, charger: &str, cloud: i64) -> Result<Option<i64>, StoreError> {
    Ok(c.query_row(
        "SELECT local_tx FROM uplink_tx_map WHERE charger = ?1 AND cloud_tx = ?2
         ORDER BY local_tx DESC LIMIT 1",
        params![charger, cloud],
        |r| r.get(0),
    )
    .optional()?)
}

/// The local-list version the cloud last sent (SendLocalList), 0 before any.
pub fn cloud_list_version(c: &Connection) -> Result<i64, StoreError> {
    Ok(
        c.query_row("SELECT version FROM uplink_list WHERE one = 1", [], |r| {
            r.get(0)
        })?,
    )
}

/// One card of the cloud's SendLocalList; `record: None` removes it (Differential only).
#[derive(Debug, Clone, PartialEq)]
pub struct CloudCard {
    pub id: String,
    pub record: Option<TokenRecord>,
}

/// Applies the cloud's SendLocalList to chargegate's own list: `full` replaces every card
/// the cloud gave before. Cards of the site file or the operator are left alone (theirs
/// is the local word). Raises the local list version for what changed, so chargegate's
/// own SendLocalList brings it to the chargers.
pub fn apply_cloud_list(
    c: &mut Connection,
    version: i64,
    full: bool,
    cards: &[CloudCard],
) -> Result<(), StoreError> {
    let sp = c.savepoint()?;
    let mut changed: Vec<String> = Vec::new();
    if full {
        let mut stmt = sp.prepare("SELECT id FROM id_tokens WHERE source = 'cloud'")?;
        let old: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        drop(stmt);
        sp.execute("DELETE FROM id_tokens WHERE source = 'cloud'", [])?;
        changed.extend(old);
    }
    for card in cards {
        match &card.record {
            Some(record) => {
                if put_cloud_card(&sp, record, CLOUD_LIST)? {
                    changed.push(card.id.clone());
                }
            }
            None => {
                let n = sp.execute(
                    "DELETE FROM id_tokens WHERE id = ?1 AND source = 'cloud'",
                    [&card.id],
                )?;
                if n > 0 {
                    changed.push(card.id.clone());
                }
            }
        }
    }
    sp.execute(
        "UPDATE uplink_list SET version = ?1 WHERE one = 1",
        [version],
    )?;
    changed.sort();
    changed.dedup();
    if !changed.is_empty() {
        super::record_change(&sp, &changed)?;
    }
    sp.commit()?;
    Ok(())
}

/// Keeps the cloud's verdict on a card (its Authorize answer), so the card works while the
/// cloud is down and the local CSMS agrees with the cloud on the StartTransaction that
/// follows. A card of the site file or the operator is not overwritten.
pub fn remember_cloud_verdict(c: &mut Connection, record: &TokenRecord) -> Result<(), StoreError> {
    let sp = c.savepoint()?;
    if put_cloud_card(&sp, record, CLOUD_CACHE)? {
        super::record_change(&sp, std::slice::from_ref(&record.id))?;
    }
    sp.commit()?;
    Ok(())
}

/// The source of a card from the cloud's SendLocalList.
const CLOUD_LIST: &str = "cloud";
/// The source of a card the cloud answered an Authorize for (its cache, ClearCache ends it).
const CLOUD_CACHE: &str = "cloud-cache";

/// Forgets the cloud's verdicts from Authorize answers (the cloud's ClearCache); returns
/// how many.
pub fn clear_cloud_verdicts(c: &mut Connection) -> Result<usize, StoreError> {
    let sp = c.savepoint()?;
    let mut stmt = sp.prepare("SELECT id FROM id_tokens WHERE source = ?1")?;
    let ids: Vec<String> = stmt
        .query_map([CLOUD_CACHE], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    drop(stmt);
    sp.execute("DELETE FROM id_tokens WHERE source = ?1", [CLOUD_CACHE])?;
    if !ids.is_empty() {
        super::record_change(&sp, &ids)?;
    }
    sp.commit()?;
    Ok(ids.len())
}

/// Writes a cloud card (`source`: list or cache) unless a card of that id came from
/// elsewhere: the site file and the operator win over the cloud, the cloud's list over its
/// cached verdicts. True when a row changed.
fn put_cloud_card(c: &Connection, record: &TokenRecord, source: &str) -> Result<bool, StoreError> {
    let expires = record.expires.as_ref().map(crate::ocpp::time::format);
    let before: Option<(String, Option<String>, Option<String>, String)> = c
        .query_row(
            "SELECT status, expires, group_id, source FROM id_tokens WHERE id = ?1",
            [&record.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let may_replace = |old: &str| old == source || (old == CLOUD_CACHE && source == CLOUD_LIST);
    match before {
        Some((_, _, _, old)) if !may_replace(&old) => return Ok(false),
        Some((status, old_expires, group, _))
            if status == record.status && old_expires == expires && group == record.group =>
        {
            return Ok(false);
        }
        _ => {}
    }
    c.execute(
        "INSERT INTO id_tokens (id, status, expires, group_id, source)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(id) DO UPDATE SET status = ?2, expires = ?3, group_id = ?4, source = ?5",
        params![record.id, record.status, expires, record.group, source],
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::schema::prepare(&mut c).unwrap();
        c
    }

    fn entry(action: &str, payload: &str) -> JournalEntry {
        JournalEntry {
            version: "ocpp1.6".into(),
            action: action.into(),
            payload: payload.into(),
            offline: true,
        }
    }

    fn card(id: &str, status: &str) -> TokenRecord {
        TokenRecord {
            id: id.into(),
            status: status.into(),
            expires: None,
            group: None,
        }
    }

    #[test]
    fn the_journal_gives_each_chargers_messages_oldest_first_until_answered() {
        let mut c = db();
        let now = Utc::now();
        let start = journal(&c, "CS-1", &entry("StartTransaction", "{}"), Some(7), now).unwrap();
        journal(&c, "CS-2", &entry("MeterValues", "{}"), None, now).unwrap();
        let meter = journal(&c, "CS-1", &entry("MeterValues", "{\"a\":1}"), None, now).unwrap();
        let head = journal_head(&c, "CS-1").unwrap().unwrap();
        assert_eq!((head.seq, head.local_tx), (start, Some(7)));
        assert!(head.offline);
        assert_eq!(journal_pending(&c, None).unwrap(), 3);
        journal_delivered(&mut c, start, Some(9001)).unwrap();
        assert_eq!(journal_head(&c, "CS-1").unwrap().unwrap().seq, meter);
        assert_eq!(cloud_tx(&c, "CS-1", 7).unwrap(), Some(9001));
        assert_eq!(local_tx(&c, "CS-1", 9001).unwrap(), Some(7));
        assert_eq!(cloud_tx(&c, "CS-2", 7).unwrap(), None, "per charger");
        journal_delivered(&mut c, meter, None).unwrap();
        assert_eq!(journal_head(&c, "CS-1").unwrap(), None);
        assert_eq!(
            journal_chargers(&c).unwrap(),
            vec![("CS-2".to_string(), "ocpp1.6".to_string())]
        );
    }

    #[test]
    fn seq_is_never_reused_after_the_journal_empties() {
        let mut c = db();
        let now = Utc::now();
        let first = journal(&c, "CS-1", &entry("MeterValues", "{}"), None, now).unwrap();
        journal_delivered(&mut c, first, None).unwrap();
        let second = journal(&c, "CS-1", &entry("MeterValues", "{}"), None, now).unwrap();
        assert!(second > first);
    }

    #[test]
    fn the_clouds_list_never_overwrites_a_local_card_and_full_replaces_its_own() {
        let mut c = db();
        crate::store::put_api_token(&mut c, &card("OPERATOR", "accepted"), None).unwrap();
        let v0 = crate::store::local_list_version(&c).unwrap();
        let cards = [
            CloudCard {
                id: "OPERATOR".into(),
                record: Some(card("OPERATOR", "blocked")),
            },
            CloudCard {
                id: "C1".into(),
                record: Some(card("C1", "accepted")),
            },
        ];
        apply_cloud_list(&mut c, 5, true, &cards).unwrap();
        assert_eq!(
            crate::store::token(&c, "OPERATOR").unwrap().unwrap().status,
            "accepted"
        );
        assert_eq!(
            crate::store::token(&c, "C1").unwrap().unwrap().status,
            "accepted"
        );
        assert_eq!(cloud_list_version(&c).unwrap(), 5);
        assert!(
            crate::store::local_list_version(&c).unwrap() > v0,
            "chargers get it"
        );
        let replace = [CloudCard {
            id: "C2".into(),
            record: Some(card("C2", "accepted")),
        }];
        apply_cloud_list(&mut c, 6, true, &replace).unwrap();
        assert_eq!(
            crate::store::token(&c, "C1").unwrap(),
            None,
            "full replaced it"
        );
        let remove = [CloudCard {
            id: "C2".into(),
            record: None,
        }];
        apply_cloud_list(&mut c, 7, false, &remove).unwrap();
        assert_eq!(crate::store::token(&c, "C2").unwrap(), None);
        assert!(crate::store::token(&c, "OPERATOR").unwrap().is_some());
    }

    #[test]
    fn a_cloud_verdict_is_kept_but_not_over_a_local_card() {
        let mut c = db();
        crate::store::put_api_token(&mut c, &card("OPERATOR", "accepted"), None).unwrap();
        remember_cloud_verdict(&mut c, &card("OPERATOR", "blocked")).unwrap();
        remember_cloud_verdict(&mut c, &card("CLOUD", "blocked")).unwrap();
        assert_eq!(
            crate::store::token(&c, "OPERATOR").unwrap().unwrap().status,
            "accepted"
        );
        assert_eq!(
            crate::store::token(&c, "CLOUD").unwrap().unwrap().status,
            "blocked"
        );
    }
}
