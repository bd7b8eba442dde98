//! The local authorization list as the operator edits it (`/api/v1/id-tokens`).
//!
//! Each card has a source: `config` (the site file's `[[id-token]]`, copied in at every
//! start and reload; it wins over an API entry of the same id) or `api` (written by the
//! operator, kept across restarts). The API never changes or deletes a config entry: the
//! next reload would silently undo it. Every change raises the site's local-list version
//! (`local_list`), the number chargers get with SendLocalList, and records which cards
//! it changed (`list_changes`, for SendLocalList Differential).
//!
//! A card's group is another card's id (1.6 parentIdTag, 2.0.1 groupIdToken). A blocked
//! group blocks its members; a group that expires ends its members with it
//! (`effective_token`).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, TokenRecord};

/// One card of the list with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenEntry {
    pub record: TokenRecord,
    /// 2.0.1 IdTokenEnumType (`ISO14443`, ...), when the operator said.
    pub token_type: Option<String>,
    /// `config` or `api`.
    pub source: String,
}

/// What a write through the API did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenWrite {
    Created,
    Updated,
    Deleted,
    /// No such card.
    NotFound,
    /// The card is in the site file; the API leaves it alone.
    FromConfig,
}

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenEntry> {
    let expires: Option<String> = r.get(2)?;
    Ok(TokenEntry {
        record: TokenRecord {
            id: r.get(0)?,
            status: r.get(1)?,
            expires: expires.as_deref().and_then(crate::ocpp::time::parse),
            group: r.get(3)?,
        },
        token_type: r.get(4)?,
        source: r.get(5)?,
    })
}

const COLUMNS: &str = "id, status, expires, group_id, token_type, source";

/// Cards in id order after `after`, at most `limit`.
pub fn token_entries(
    c: &Connection,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<TokenEntry>, StoreError> {
    let mut stmt = c.prepare(&format!(
        "SELECT {COLUMNS} FROM id_tokens WHERE id > ?1 ORDER BY id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![after.unwrap_or(""), limit], entry)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn token_entry(c: &Connection, id: &str) -> Result<Option<TokenEntry>, StoreError> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM id_tokens WHERE id = ?1"),
        [id],
        entry,
    )
    .optional()?)
}

/// The site's local-list version: raised by every change of the list.
pub fn local_list_version(c: &Connection) -> Result<i64, StoreError> {
    Ok(
        c.query_row("SELECT version FROM local_list WHERE one = 1", [], |r| {
            r.get(0)
        })?,
    )
}

/// Creates or replaces an API card; a config card of that id is left alone.
pub fn put_api_token(
    c: &mut Connection,
    record: &TokenRecord,
    token_type: Option<&str>,
) -> Result<TokenWrite, StoreError> {
    let tx = c.savepoint()?;
    let source: Option<String> = tx
        .query_row(
            "SELECT source FROM id_tokens WHERE id = ?1",
            [&record.id],
            |r| r.get(0),
        )
        .optional()?;
    let outcome = match source.as_deref() {
        Some("config") => return Ok(TokenWrite::FromConfig),
        Some(_) => TokenWrite::Updated,
        None => TokenWrite::Created,
    };
    tx.execute(
        "INSERT INTO id_tokens (id, status, expires, group_id, token_type, source)
         VALUES (?1, ?2, ?3, ?4, ?5, 'api')
         ON CONFLICT(id) DO UPDATE SET status = ?2, expires = ?3, group_id = ?4,
             token_type = ?5",
        params![
            record.id,
            record.status,
            record.expires.as_ref().map(rfc3339),
            record.group,
            token_type
        ],
    )?;
    super::record_change(&tx, std::slice::from_ref(&record.id))?;
    tx.commit()?;
    Ok(outcome)
}

/// Deletes an API card; a config card is left alone.
pub fn delete_api_token(c: &mut Connection, id: &str) -> Result<TokenWrite, StoreError> {
    let tx = c.savepoint()?;
    let source: Option<String> = tx
        .query_row("SELECT source FROM id_tokens WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    match source.as_deref() {
        None => return Ok(TokenWrite::NotFound),
        Some("config") => return Ok(TokenWrite::FromConfig),
        Some(_) => {}
    }
    // Recorded first: the removal's entry needs the card's IdTokenEnumType.
    super::record_change(&tx, &[id.to_string()])?;
    tx.execute("DELETE FROM id_tokens WHERE id = ?1", [id])?;
    tx.commit()?;
    Ok(TokenWrite::Deleted)
}

/// A card of the local list and its 2.0.1 IdTokenEnumType, if known.
pub type ListCard = (TokenRecord, Option<String>);

/// The whole list as chargers get it with SendLocalList: every card with its group's
/// verdict folded in (`effective_token`; a charger does not know that a group is
/// blocked), in id order, at most `limit` cards. With the list's version.
pub fn local_list(c: &Connection, limit: u32) -> Result<(i64, Vec<ListCard>), StoreError> {
    let version = local_list_version(c)?;
    let mut out = Vec::new();
    for entry in token_entries(c, None, limit)? {
        if let Some(record) = effective_token(c, &entry.record.id)? {
            out.push((record, entry.token_type));
        }
    }
    Ok((version, out))
}

/// A card as Authorize sees it: its own record with its group's verdict folded in. A
/// group that is not `accepted` blocks its members; a group that expires before the
/// member ends the member then. One level: a group's own group is not followed (OCPP
/// groups are flat).
pub fn effective_token(c: &Connection, id: &str) -> Result<Option<TokenRecord>, StoreError> {
    let Some(mut record) = super::token(c, id)? else {
        return Ok(None);
    };
    let group = match record.group.as_deref() {
        Some(g) if g != id => super::token(c, g)?,
        _ => None,
    };
    if let Some(group) = group {
        if group.status != "accepted" {
            record.status = "blocked".into();
        }
        record.expires = match (record.expires, group.expires) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(Some(record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::replace_config_tokens;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::schema::prepare(&mut c).unwrap();
        c
    }

    fn card(id: &str, status: &str, group: Option<&str>) -> TokenRecord {
        TokenRecord {
            id: id.into(),
            status: status.into(),
            expires: None,
            group: group.map(str::to_string),
        }
    }

    #[test]
    fn api_cards_persist_and_config_cards_are_left_to_the_file() {
        let mut c = db();
        replace_config_tokens(&mut c, &[card("FILE", "accepted", None)]).unwrap();
        let v0 = local_list_version(&c).unwrap();
        let new = card("API-1", "accepted", None);
        assert_eq!(
            put_api_token(&mut c, &new, Some("ISO14443")).unwrap(),
            TokenWrite::Created
        );
        assert_eq!(
            put_api_token(&mut c, &new, None).unwrap(),
            TokenWrite::Updated
        );
        assert_eq!(local_list_version(&c).unwrap(), v0 + 2);
        assert_eq!(
            put_api_token(&mut c, &card("FILE", "blocked", None), None).unwrap(),
            TokenWrite::FromConfig
        );
        assert_eq!(
            delete_api_token(&mut c, "FILE").unwrap(),
            TokenWrite::FromConfig
        );
        assert_eq!(
            local_list_version(&c).unwrap(),
            v0 + 2,
            "a refused write changes nothing"
        );
        assert_eq!(
            token_entry(&c, "FILE").unwrap().unwrap().record.status,
            "accepted"
        );
        // A restart copies the file again; the API card stays.
        replace_config_tokens(&mut c, &[card("FILE", "accepted", None)]).unwrap();
        let all = token_entries(&c, None, 10).unwrap();
        let ids: Vec<_> = all
            .iter()
            .map(|e| (e.record.id.as_str(), e.source.as_str()))
            .collect();
        assert_eq!(ids, [("API-1", "api"), ("FILE", "config")]);
        assert_eq!(token_entries(&c, Some("API-1"), 10).unwrap().len(), 1);
        assert_eq!(
            delete_api_token(&mut c, "API-1").unwrap(),
            TokenWrite::Deleted
        );
        assert_eq!(
            delete_api_token(&mut c, "API-1").unwrap(),
            TokenWrite::NotFound
        );
    }

    #[test]
    fn a_blocked_or_expiring_group_carries_over_to_its_members() {
        let mut c = db();
        let soon = "2030-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        put_api_token(&mut c, &card("FLEET", "accepted", None), None).unwrap();
        put_api_token(&mut c, &card("DRIVER-1", "accepted", Some("FLEET")), None).unwrap();
        assert_eq!(
            effective_token(&c, "DRIVER-1").unwrap().unwrap().status,
            "accepted"
        );
        let mut fleet = card("FLEET", "accepted", None);
        fleet.expires = Some(soon);
        put_api_token(&mut c, &fleet, None).unwrap();
        assert_eq!(
            effective_token(&c, "DRIVER-1").unwrap().unwrap().expires,
            Some(soon)
        );
        put_api_token(&mut c, &card("FLEET", "blocked", None), None).unwrap();
        assert_eq!(
            effective_token(&c, "DRIVER-1").unwrap().unwrap().status,
            "blocked"
        );
        // The group itself and a card without a group are as stored.
        assert_eq!(
            effective_token(&c, "FLEET").unwrap().unwrap().status,
            "blocked"
        );
        assert_eq!(effective_token(&c, "NOBODY").unwrap(), None);
    }
}
