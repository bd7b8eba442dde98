//! The database schema as numbered, forward-only migrations.
//!
//! Never edit a migration that has shipped: add a new one. Empty strings stand for "none"
//! in columns that take part in a UNIQUE key, because SQLite treats NULLs as distinct and a
//! resent record would then not be recognised.

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use super::StoreError;

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the local CSMS.
    r#"
    CREATE TABLE chargers (
        id            TEXT PRIMARY KEY,
        ocpp_version  TEXT,
        vendor        TEXT,
        model         TEXT,
        serial        TEXT,
        firmware      TEXT,
        registration  TEXT NOT NULL DEFAULT 'accepted',
        first_seen    TEXT NOT NULL,
        last_seen     TEXT NOT NULL,
        last_boot     TEXT,
        connected     INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE connectors (
        charger_id    TEXT NOT NULL,
        evse_id       INTEGER NOT NULL,
        connector_id  INTEGER NOT NULL,
        status        TEXT NOT NULL,
        error_code    TEXT,
        info          TEXT,
        updated_at    TEXT NOT NULL,
        PRIMARY KEY (charger_id, evse_id, connector_id)
    );
    CREATE TABLE id_tokens (
        id            TEXT PRIMARY KEY,
        status        TEXT NOT NULL,
        expires       TEXT,
        group_id      TEXT,
        source        TEXT NOT NULL
    );
    CREATE TABLE transactions (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        charger_id      TEXT NOT NULL,
        ocpp_tx_id      TEXT,
        start_key       TEXT,
        evse_id         INTEGER,
        connector_id    INTEGER,
        id_token        TEXT,
        started_at      TEXT,
        meter_start_wh  REAL,
        meter_last_wh   REAL,
        stopped_at      TEXT,
        meter_stop_wh   REAL,
        energy_wh       REAL,
        stop_reason     TEXT,
        charging_state  TEXT,
        last_seq_no     INTEGER,
        offline         INTEGER NOT NULL DEFAULT 0,
        status          TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        UNIQUE (charger_id, ocpp_tx_id),
        UNIQUE (charger_id, start_key)
    );
    CREATE INDEX transactions_open ON transactions (status) WHERE status = 'open';
    CREATE TABLE transaction_events (
        transaction_id  INTEGER NOT NULL REFERENCES transactions(id),
        seq_no          INTEGER NOT NULL,
        phase           TEXT NOT NULL,
        received_at     TEXT NOT NULL,
        PRIMARY KEY (transaction_id, seq_no)
    );
    CREATE TABLE samples (
        id              INTEGER PRIMARY KEY,
        charger_id      TEXT NOT NULL,
        evse_id         INTEGER NOT NULL,
        transaction_id  INTEGER REFERENCES transactions(id),
        ts              TEXT NOT NULL,
        measurand       TEXT NOT NULL,
        phase           TEXT NOT NULL DEFAULT '',
        location        TEXT NOT NULL DEFAULT '',
        context         TEXT,
        value           REAL NOT NULL,
        unit            TEXT,
        UNIQUE (charger_id, evse_id, ts, measurand, phase, location)
    );
    CREATE INDEX samples_tx ON samples (transaction_id);
    CREATE TABLE audit (
        id              INTEGER PRIMARY KEY,
        ts              TEXT NOT NULL,
        charger_id      TEXT NOT NULL,
        action          TEXT NOT NULL,
        request         TEXT NOT NULL,
        response        TEXT,
        outcome         TEXT NOT NULL,
        reason          TEXT NOT NULL
    );
    CREATE INDEX audit_charger ON audit (charger_id, ts);
    CREATE TABLE charger_events (
        id              INTEGER PRIMARY KEY,
        ts              TEXT NOT NULL,
        charger_id      TEXT NOT NULL,
        kind            TEXT NOT NULL,
        detail          TEXT NOT NULL
    );
    "#,
    // 2: 1-minute meter history (per-phase max and mean current), for forecasting and
    // the status page; pruned after `[store] history-days`.
    r#"
    CREATE TABLE meter_history (
        meter_id      TEXT NOT NULL,
        minute        TEXT NOT NULL,
        samples       INTEGER NOT NULL,
        l1_max_a      REAL,
        l2_max_a      REAL,
        l3_max_a      REAL,
        l1_mean_a     REAL,
        l2_mean_a     REAL,
        l3_mean_a     REAL,
        mean_power_w  REAL,
        PRIMARY KEY (meter_id, minute)
    );
    CREATE INDEX meter_history_minute ON meter_history (minute);
    "#,
    // 3: audit reads by charger or action, newest first (the HTTP API), without a scan.
    r#"
    CREATE INDEX audit_charger_id ON audit (charger_id, id);
    CREATE INDEX audit_action_id ON audit (action, id);
    "#,
    // 4: who assigned a transaction's OCPP id, so it goes back to the charger in its own
    // kind: 'csms' (1.6: the integer chargegate gave out) or 'charger' (2.0.1: the
    // station's identifierString, kept as text: "0042" is not 42). Rows written before
    // this migration are 1.6 exactly when they carry a StartTransaction key.
    r#"
    ALTER TABLE transactions ADD COLUMN ocpp_tx_id_by TEXT NOT NULL DEFAULT 'charger';
    UPDATE transactions SET ocpp_tx_id_by = 'csms' WHERE start_key IS NOT NULL;
    "#,
    // 5: a resend is the same record, not the same label. A charger with an unset clock
    // stamps different readings alike, so a sample's key includes its value; a 2.0.1
    // station that restarts its seqNo reuses numbers for new events, so an event's key
    // includes a digest of its content (`queries::event_digest`; '' for older rows).
    r#"
    CREATE TABLE samples_new (
        id              INTEGER PRIMARY KEY,
        charger_id      TEXT NOT NULL,
        evse_id         INTEGER NOT NULL,
        transaction_id  INTEGER REFERENCES transactions(id),
        ts              TEXT NOT NULL,
        measurand       TEXT NOT NULL,
        phase           TEXT NOT NULL DEFAULT '',
        location        TEXT NOT NULL DEFAULT '',
        context         TEXT,
        value           REAL NOT NULL,
        unit            TEXT,
        UNIQUE (charger_id, evse_id, ts, measurand, phase, location, value)
    );
    INSERT INTO samples_new SELECT id, charger_id, evse_id, transaction_id, ts, measurand,
        phase, location, context, value, unit FROM samples;
    DROP TABLE samples;
    ALTER TABLE samples_new RENAME TO samples;
    CREATE INDEX samples_tx ON samples (transaction_id);
    CREATE TABLE transaction_events_new (
        transaction_id  INTEGER NOT NULL REFERENCES transactions(id),
        seq_no          INTEGER NOT NULL,
        digest          TEXT NOT NULL,
        phase           TEXT NOT NULL,
        received_at     TEXT NOT NULL,
        PRIMARY KEY (transaction_id, seq_no, digest)
    );
    INSERT INTO transaction_events_new SELECT transaction_id, seq_no, '', phase, received_at
        FROM transaction_events;
    DROP TABLE transaction_events;
    ALTER TABLE transaction_events_new RENAME TO transaction_events;
    "#,
    // 6: billing (issue 10). Signed meter values (1.6 `SignedData`, 2.0.1
    // `signedMeterValue`, e.g. OCMF) kept verbatim for a billing backend to verify; who
    // closed a transaction ('charger', or chargegate on the charger's 'boot' or a
    // 'new-transaction' on its connector), so the charger's own late stop still counts;
    // the id token's group when the session began; indexes for the billing reads.
    r#"
    CREATE TABLE signed_meter_values (
        id              INTEGER PRIMARY KEY,
        charger_id      TEXT NOT NULL,
        evse_id         INTEGER NOT NULL,
        transaction_id  INTEGER REFERENCES transactions(id),
        ts              TEXT NOT NULL,
        measurand       TEXT NOT NULL,
        context         TEXT NOT NULL DEFAULT '',
        phase           TEXT NOT NULL DEFAULT '',
        location        TEXT NOT NULL DEFAULT '',
        value           REAL,
        data            TEXT NOT NULL,
        signing_method  TEXT NOT NULL DEFAULT '',
        encoding_method TEXT NOT NULL DEFAULT '',
        public_key      TEXT NOT NULL DEFAULT '',
        UNIQUE (charger_id, evse_id, ts, measurand, context, phase, location, data)
    );
    CREATE INDEX signed_meter_values_tx ON signed_meter_values (transaction_id);
    ALTER TABLE transactions ADD COLUMN closed_by TEXT;
    UPDATE transactions SET closed_by = 'charger' WHERE status = 'closed';
    ALTER TABLE transactions ADD COLUMN id_token_group TEXT;
    UPDATE transactions SET id_token_group =
        (SELECT group_id FROM id_tokens WHERE id_tokens.id = transactions.id_token);
    CREATE INDEX transactions_started ON transactions (started_at, id);
    CREATE INDEX transactions_charger ON transactions (charger_id, id);
    CREATE INDEX transactions_token ON transactions (id_token, id);
    "#,
    // 7: the operator's cards (`/api/v1/id-tokens`): the 2.0.1 IdTokenEnumType of each,
    // and one local-list version for the site, raised by every change of the list, so a
    // charger whose SendLocalList version differs gets the list again.
    r#"
    ALTER TABLE id_tokens ADD COLUMN token_type TEXT;
    CREATE TABLE local_list (
        one      INTEGER PRIMARY KEY CHECK (one = 1),
        version  INTEGER NOT NULL
    );
    INSERT INTO local_list (one, version) VALUES (1, 1);
    "#,
    // 8: alerts (fault recognition, issue 10): raised and cleared with times, one open
    // alert per (kind, charger, meter, part) — the partial unique index makes a condition
    // that persists, or is seen again after a restart, raise once. '' for "none" in the
    // key columns (see the module doc). `open_alerts` reads the open ones back at start.
    r#"
    CREATE TABLE alerts (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,
        charger_id  TEXT NOT NULL DEFAULT '',
        meter_id    TEXT NOT NULL DEFAULT '',
        part        TEXT NOT NULL DEFAULT '',
        severity    TEXT NOT NULL,
        raised_at   TEXT NOT NULL,
        cleared_at  TEXT,
        message     TEXT NOT NULL
    );
    CREATE UNIQUE INDEX alerts_open ON alerts (kind, charger_id, meter_id, part)
        WHERE cleared_at IS NULL;
    "#,
    // 9: reservations (`/api/v1/reservations`, store/reservations.rs). The id is the
    // reservationId the charger gets: AUTOINCREMENT, so an id is never given out twice,
    // not even after a restart. `evse_id` NULL: any EVSE of the charger.
    r#"
    CREATE TABLE reservations (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        charger_id      TEXT NOT NULL,
        evse_id         INTEGER,
        id_token        TEXT NOT NULL,
        group_id        TEXT,
        expires         TEXT NOT NULL,
        state           TEXT NOT NULL,
        charger_status  TEXT,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        transaction_id  INTEGER REFERENCES transactions(id)
    );
    CREATE INDEX reservations_open ON reservations (charger_id, state, expires);
    "#,
    // 10: device management (issue 10). The newest firmware update and log upload per
    // charger (`kind` 'firmware' or 'log'), with the charger's latest status on it (each
    // status is also a row of charger_events, with its time); request_id NULL for 1.6,
    // which has none; location NULL for a status of a request chargegate did not send.
    // The chargers the operator accepted at run time (admitted Pending, not in the site
    // file), kept apart from `chargers` so that pruning strangers never forgets one.
    // GetBaseReport requests and their assembled NotifyReport (`variables`, JSON), the
    // newest `reports::KEEP_REPORTS` per charger. What the operator set Inoperative
    // (evse 0: the whole station; connector 0: the whole EVSE), sent again when the
    // charger comes back from a reboot reporting it Available.
    r#"
    CREATE TABLE availability (
        charger_id    TEXT NOT NULL,
        evse_id       INTEGER NOT NULL,
        connector_id  INTEGER NOT NULL,
        set_at        TEXT NOT NULL,
        PRIMARY KEY (charger_id, evse_id, connector_id)
    );
    CREATE TABLE reports (
        charger_id    TEXT NOT NULL,
        request_id    INTEGER NOT NULL,
        base          TEXT NOT NULL,
        status        TEXT NOT NULL,
        parts         INTEGER NOT NULL DEFAULT 0,
        detail        TEXT,
        variables     TEXT,
        requested_at  TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        PRIMARY KEY (charger_id, request_id)
    );
    CREATE TABLE accepted_chargers (
        id            TEXT PRIMARY KEY,
        accepted_at   TEXT NOT NULL,
        accepted_by   TEXT NOT NULL
    );
    CREATE TABLE device_requests (
        charger_id    TEXT NOT NULL,
        kind          TEXT NOT NULL,
        request_id    INTEGER,
        location      TEXT,
        status        TEXT NOT NULL,
        file_name     TEXT,
        requested_at  TEXT,
        updated_at    TEXT NOT NULL,
        PRIMARY KEY (charger_id, kind)
    );
    "#,
    // A temporary lower grid limit set through the API (curtailment): at most one row,
    // kept across restarts so that a restart never lifts it early.
    r#"
    CREATE TABLE site_limit (
        one           INTEGER PRIMARY KEY CHECK (one = 1),
        limit_a       REAL NOT NULL,
        until         TEXT,
        set_at        TEXT NOT NULL
    );
    "#,
    // CustomerInformation requests (2.0.1 N09/N10) and the text of their assembled
    // NotifyCustomerInformation parts, the newest `customer::KEEP_CUSTOMER_REPORTS` per
    // charger.
    r#"
    CREATE TABLE customer_information (
        charger_id    TEXT NOT NULL,
        request_id    INTEGER NOT NULL,
        report        INTEGER NOT NULL,
        clear         INTEGER NOT NULL,
        customer      TEXT NOT NULL,
        status        TEXT NOT NULL,
        parts         INTEGER NOT NULL DEFAULT 0,
        detail        TEXT,
        data          TEXT,
        requested_at  TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        PRIMARY KEY (charger_id, request_id)
    );
    "#,
    // 13: the local list's change log (store/list_changes.rs): which cards each version
    // changed, so that a charger holding version V gets SendLocalList Differential with
    // exactly the cards changed since V. `diff_from` is the oldest version from which
    // every change is recorded: the current one at migration (earlier changes unknown),
    // raised when old entries are pruned. `token_type` keeps a removed 2.0.1 card's
    // IdTokenEnumType, which its removal entry needs.
    r#"
    ALTER TABLE local_list ADD COLUMN diff_from INTEGER;
    UPDATE local_list SET diff_from = version;
    CREATE TABLE local_list_changes (
        version     INTEGER NOT NULL,
        id          TEXT NOT NULL,
        token_type  TEXT,
        PRIMARY KEY (version, id)
    );
    "#,
    // 14: the upstream outbox (store/outbox.rs, issue 12). While `upstream.enabled`,
    // triggers note every change of a transaction or an alert in `upstream_changes` in
    // the same statement as the change itself, so no record can commit without its note
    // (a crash between the two is impossible); the upstream task turns notes into outbox
    // messages and deletes them in one transaction. `upstream_published` remembers what
    // was last put in the outbox per record, so an unchanged row adds nothing. `outbox`
    // holds each message until the broker acknowledged it; `seq` never repeats
    // (AUTOINCREMENT), `stream_seq` counts per stream without gaps. `epoch` is random per
    // database and part of every msg_id, so a new database never reuses one.
    r#"
    CREATE TABLE upstream (
        one      INTEGER PRIMARY KEY CHECK (one = 1),
        enabled  INTEGER NOT NULL,
        epoch    TEXT NOT NULL
    );
    INSERT INTO upstream (one, enabled, epoch) VALUES (1, 0, lower(hex(randomblob(8))));
    CREATE TABLE upstream_changes (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        kind     TEXT NOT NULL,
        row_id   INTEGER NOT NULL
    );
    CREATE TRIGGER upstream_transaction_inserted AFTER INSERT ON transactions
        WHEN (SELECT enabled FROM upstream WHERE one = 1)
        BEGIN INSERT INTO upstream_changes (kind, row_id) VALUES ('transaction', NEW.id); END;
    CREATE TRIGGER upstream_transaction_updated AFTER UPDATE ON transactions
        WHEN (SELECT enabled FROM upstream WHERE one = 1)
        BEGIN INSERT INTO upstream_changes (kind, row_id) VALUES ('transaction', NEW.id); END;
    CREATE TRIGGER upstream_alert_inserted AFTER INSERT ON alerts
        WHEN (SELECT enabled FROM upstream WHERE one = 1)
        BEGIN INSERT INTO upstream_changes (kind, row_id) VALUES ('alert', NEW.id); END;
    CREATE TRIGGER upstream_alert_updated AFTER UPDATE ON alerts
        WHEN (SELECT enabled FROM upstream WHERE one = 1)
        BEGIN INSERT INTO upstream_changes (kind, row_id) VALUES ('alert', NEW.id); END;
    CREATE TABLE upstream_published (
        kind     TEXT NOT NULL,
        row_id   INTEGER NOT NULL,
        event    TEXT NOT NULL,
        digest   TEXT NOT NULL,
        PRIMARY KEY (kind, row_id)
    ) WITHOUT ROWID;
    CREATE TABLE outbox (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        stream      TEXT NOT NULL,
        stream_seq  INTEGER NOT NULL,
        topic       TEXT NOT NULL,
        retain      INTEGER NOT NULL,
        payload     TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX outbox_stream ON outbox (stream, created_at);
    CREATE TABLE outbox_streams (
        stream    TEXT PRIMARY KEY,
        last_seq  INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 15: the OCPP Local Controller's journal (issue 13, `uplink`): every transaction
    // message a charger sent, as it sent it, kept until the cloud CSMS answered it; the
    // cloud's 1.6 transaction ids for the local ones; the last local-list version the
    // cloud sent.
    r#"
    CREATE TABLE uplink_journal (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        charger      TEXT NOT NULL,
        version      TEXT NOT NULL,
        action       TEXT NOT NULL,
        payload      TEXT NOT NULL,
        offline      INTEGER NOT NULL,
        local_tx     INTEGER,
        received_at  TEXT NOT NULL
    );
    CREATE INDEX uplink_journal_charger ON uplink_journal (charger, seq);
    CREATE TABLE uplink_tx_map (
        charger   TEXT NOT NULL,
        local_tx  INTEGER NOT NULL,
        cloud_tx  INTEGER NOT NULL,
        PRIMARY KEY (charger, local_tx)
    ) WITHOUT ROWID;
    CREATE TABLE uplink_list (
        one      INTEGER PRIMARY KEY CHECK (one = 1),
        version  INTEGER NOT NULL
    );
    INSERT INTO uplink_list (one, version) VALUES (1, 0);
    "#,
    // 16: one temporary grid limit per source (`site_limit`): the operator's (the API,
    // MQTT) and the cloud CSMS's station maximum (the Local Controller) are kept apart, so
    // neither can lift or raise the other's; the lowest in force applies. The cloud's
    // per-charger cap from a TxDefaultProfile (`cloud_caps`), kept across a restart as a
    // charger keeps its profiles.
    r#"
    CREATE TABLE site_limits (
        source   TEXT PRIMARY KEY CHECK (source IN ('operator', 'cloud')),
        limit_a  REAL NOT NULL,
        until    TEXT,
        set_at   TEXT NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO site_limits (source, limit_a, until, set_at)
        SELECT 'operator', limit_a, until, set_at FROM site_limit;
    DROP TABLE site_limit;
    CREATE TABLE cloud_caps (
        charger_id  TEXT PRIMARY KEY,
        limit_a     REAL NOT NULL,
        until       TEXT,
        set_at      TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
];

/// Prepared statements the store thread keeps (rusqlite's default is 16). One batch runs
/// the statements of several kinds of job (a message's lookups and writes, its audit row,
/// dispatch's reads); with fewer slots they evict each other and are parsed again, which
/// was the largest single CPU cost of a message (BENCHMARKS.md "Where the CPU and the
/// memory go"). A cached statement costs a few KiB.
const STATEMENT_CACHE: usize = 64;

/// Sets the connection pragmas and applies pending migrations.
pub fn prepare(conn: &mut Connection) -> Result<(), StoreError> {
    // WAL: readers never block the writer. FULL: every commit is synced to disk before
    // the commit returns, so a record is durable before the CALLRESULT that acknowledges
    // it (issue 17: a depot gateway loses power; NORMAL may roll back the last commits
    // then, after the charger has forgotten them). BENCHMARKS.md has the cost.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Every transaction takes the write lock when it begins. A deferred one that reads
    // first and then writes while another connection writes (a restart: the old daemon's
    // store thread still finishing its last jobs) gets SQLITE_BUSY at once, without the
    // busy timeout, since waiting there could deadlock (sqlite3_busy_handler). One
    // writer thread per process, so nothing waits that did not have to.
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let migrations = Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect());
    migrations.to_latest(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_synced_before_they_are_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("s.db")).unwrap();
        prepare(&mut conn).unwrap();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        // 2 = FULL (SQLite's PRAGMA synchronous numbering).
        assert_eq!((mode.as_str(), sync), ("wal", 2));
    }

    /// A restart: the old daemon's connection still writes while the new one reads and
    /// then writes in one transaction (the site file's cards at start). The new one waits
    /// for the lock instead of failing the start with "database is locked".
    #[test]
    fn a_read_then_write_transaction_waits_for_another_connections_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cg.db");
        let mut old = Connection::open(&path).unwrap();
        prepare(&mut old).unwrap();
        let mut new = Connection::open(&path).unwrap();
        prepare(&mut new).unwrap();
        let (locked, wait) = std::sync::mpsc::channel();
        let writer = std::thread::spawn(move || {
            let tx = old.transaction().unwrap();
            tx.execute(
                "INSERT INTO chargers (id, first_seen, last_seen) VALUES ('CP-OLD', 'x', 'x')",
                [],
            )
            .unwrap();
            locked.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            tx.commit().unwrap();
        });
        wait.recv().unwrap();
        let tx = new.transaction().expect("waits for the write lock");
        let n: i64 = tx
            .query_row("SELECT COUNT(*) FROM chargers", [], |r| r.get(0))
            .unwrap();
        tx.execute(
            "INSERT INTO chargers (id, first_seen, last_seen) VALUES ('CP-NEW', 'x', 'x')",
            [],
        )
        .expect("the write after a read in the same transaction is not refused");
        tx.commit().unwrap();
        writer.join().unwrap();
        assert_eq!(n, 1, "began after the other's commit, so it saw its row");
    }

    #[test]
    fn migrations_are_valid_and_idempotent() {
        let migrations = Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect());
        assert!(migrations.validate().is_ok());
        let mut conn = Connection::open_in_memory().unwrap();
        prepare(&mut conn).unwrap();
        prepare(&mut conn).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }
}
