//! The local list's change log: which cards each version of the list changed, so that a
//! charger known to hold version V gets SendLocalList Differential with exactly the
//! cards changed since V (1.6 §5.15, 2.0.1 D01) instead of the whole list.
//!
//! Every raise of the site's list version goes through `record_change`, in the same
//! transaction as the change itself, and records the changed cards and the members of
//! each (a member's entry carries its group's verdict, `effective_token`, so a change of
//! a group changes each member's entry). `diff_from` is the oldest version from which
//! every change is recorded; `list_changes` answers `None` (send Full) for a version
//! older than that, newer than the site's (a restored store) or 0 (no list). The log
//! keeps the last `KEEP_VERSIONS` versions.

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, TokenRecord};

/// Versions whose changes are kept. A charger that missed more falls back to Full,
/// which with a depot's few hundred cards is a few kB.
pub const KEEP_VERSIONS: i64 = 200;

/// One card changed since a version, as the charger's entry should now be.
#[derive(Debug, Clone, PartialEq)]
pub struct ListChange {
    pub id: String,
    /// The card with its group's verdict folded in; `None`: removed from the list.
    pub record: Option<TokenRecord>,
    /// 2.0.1 IdTokenEnumType: the card's, or for a removed card the last one known.
    pub token_type: Option<String>,
}

/// Raises the site's list version by one and records `ids` and their group members as
/// changed by it. Call inside the transaction that changes the cards; for a removal,
/// before the row is deleted (its IdTokenEnumType is read from it). Returns the new
/// version.
pub fn record_change(c: &Connection, ids: &[String]) -> Result<i64, StoreError> {
    c.execute(
        "UPDATE local_list SET version = version + 1,
             diff_from = COALESCE(diff_from, version) WHERE one = 1",
        [],
    )?;
    let version = super::local_list_version(c)?;
    let mut changed: BTreeSet<String> = ids.iter().cloned().collect();
    {
        let mut members = c.prepare("SELECT id FROM id_tokens WHERE group_id = ?1")?;
        for id in ids {
            let rows = members.query_map([id], |r| r.get::<_, String>(0))?;
            for member in rows {
                changed.insert(member?);
            }
        }
    }
    for id in &changed {
        let token_type = token_type(c, id)?;
        c.execute(
            "INSERT OR REPLACE INTO local_list_changes (version, id, token_type)
             VALUES (?1, ?2, ?3)",
            params![version, id, token_type],
        )?;
    }
    // Pruning: a charger holding a version older than this gets Full.
    let floor = version - KEEP_VERSIONS;
    c.execute(
        "DELETE FROM local_list_changes WHERE version <= ?1",
        [floor],
    )?;
    c.execute(
        "UPDATE local_list SET diff_from = MAX(diff_from, ?1) WHERE one = 1",
        [floor],
    )?;
    Ok(version)
}

/// The card's IdTokenEnumType now, or the last recorded one when it is gone.
fn token_type(c: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    let now: Option<Option<String>> = c
        .query_row(
            "SELECT token_type FROM id_tokens WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(Some(t)) = now {
        return Ok(Some(t));
    }
    Ok(c.query_row(
        "SELECT token_type FROM local_list_changes
         WHERE id = ?1 AND token_type IS NOT NULL ORDER BY version DESC LIMIT 1",
        [id],
        |r| r.get(0),
    )
    .optional()?)
}

/// The cards changed from version `since` to the site's version, each as its entry
/// should be now, in id order; `None` when that is not known from the log (send Full):
/// `since` is 0 or less (no list), older than the log reaches, or newer than the site's
/// version (the store was restored from a backup).
pub fn list_changes(c: &Connection, since: i64) -> Result<Option<Vec<ListChange>>, StoreError> {
    let (version, diff_from): (i64, Option<i64>) = c.query_row(
        "SELECT version, diff_from FROM local_list WHERE one = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if since <= 0 || since > version || since < diff_from.unwrap_or(version) {
        return Ok(None);
    }
    let ids: Vec<String> = {
        let mut stmt =
            c.prepare("SELECT DISTINCT id FROM local_list_changes WHERE version > ?1 ORDER BY id")?;
        stmt.query_map([since], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let record = super::effective_token(c, &id)?;
        let token_type = token_type(c, &id)?;
        out.push(ListChange {
            id,
            record,
            token_type,
        });
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{
        delete_api_token, local_list_version, put_api_token, replace_config_tokens,
    };

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

    fn changed(c: &Connection, since: i64) -> Option<Vec<(String, Option<String>)>> {
        list_changes(c, since).unwrap().map(|l| {
            l.into_iter()
                .map(|ch| (ch.id, ch.record.map(|r| r.status)))
                .collect()
        })
    }

    #[test]
    fn each_version_records_its_cards_and_a_groups_members() {
        let mut c = db();
        let v0 = local_list_version(&c).unwrap();
        assert_eq!(changed(&c, v0), Some(vec![]), "nothing changed since now");
        assert_eq!(changed(&c, v0 - 1), None, "before the log began: Full");
        assert_eq!(changed(&c, 0), None, "a charger without a list: Full");
        put_api_token(&mut c, &card("FLEET", "accepted", None), None).unwrap();
        put_api_token(
            &mut c,
            &card("D1", "accepted", Some("FLEET")),
            Some("ISO15693"),
        )
        .unwrap();
        let v2 = local_list_version(&c).unwrap();
        assert_eq!(v2, v0 + 2);
        assert_eq!(
            changed(&c, v0 + 1),
            Some(vec![("D1".into(), Some("accepted".into()))])
        );
        // Blocking the group changes its member's entry too.
        put_api_token(&mut c, &card("FLEET", "blocked", None), None).unwrap();
        assert_eq!(
            changed(&c, v2),
            Some(vec![
                ("D1".into(), Some("blocked".into())),
                ("FLEET".into(), Some("blocked".into()))
            ])
        );
        // A removal is an entry without a record, with the type the card had.
        delete_api_token(&mut c, "D1").unwrap();
        let last = list_changes(&c, v2 + 1).unwrap().unwrap();
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].record, None);
        assert_eq!(last[0].token_type.as_deref(), Some("ISO15693"));
        let now = local_list_version(&c).unwrap();
        assert_eq!(
            changed(&c, now + 1),
            None,
            "newer than ours (a restore): Full"
        );
    }

    #[test]
    fn the_site_files_changes_are_recorded_per_card() {
        let mut c = db();
        replace_config_tokens(
            &mut c,
            &[card("A", "accepted", None), card("B", "accepted", None)],
        )
        .unwrap();
        let v = local_list_version(&c).unwrap();
        replace_config_tokens(
            &mut c,
            &[card("A", "blocked", None), card("C", "accepted", None)],
        )
        .unwrap();
        assert_eq!(
            changed(&c, v),
            Some(vec![
                ("A".into(), Some("blocked".into())),
                ("B".into(), None),
                ("C".into(), Some("accepted".into()))
            ])
        );
        // The same file again changes nothing.
        let v = local_list_version(&c).unwrap();
        replace_config_tokens(
            &mut c,
            &[card("A", "blocked", None), card("C", "accepted", None)],
        )
        .unwrap();
        assert_eq!(local_list_version(&c).unwrap(), v);
    }

    #[test]
    fn old_versions_are_pruned_and_then_get_full() {
        let mut c = db();
        let v0 = local_list_version(&c).unwrap();
        for i in 0..(KEEP_VERSIONS + 5) {
            put_api_token(
                &mut c,
                &card(&format!("C{}", i % 7), "accepted", None),
                None,
            )
            .unwrap();
        }
        let now = local_list_version(&c).unwrap();
        assert_eq!(changed(&c, v0), None, "pruned: Full");
        assert!(changed(&c, now - KEEP_VERSIONS).is_some());
        assert_eq!(changed(&c, now - KEEP_VERSIONS - 1), None);
        let rows: i64 = c
            .query_row("SELECT COUNT(*) FROM local_list_changes", [], |r| r.get(0))
            .unwrap();
        assert!(rows <= KEEP_VERSIONS, "{rows} rows kept");
    }
}
