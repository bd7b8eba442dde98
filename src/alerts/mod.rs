//! Alerts (fault recognition, issue 10): what an electrician must look at, raised when a
//! condition appears and cleared when it goes, with times, a severity and a message that
//! says what to check.
//!
//! `Book` (pure) holds the open alerts keyed by (kind, charger, meter, part), so a
//! condition that persists raises once; `rules` turns what the other tasks publish (the
//! CSMS's charger events and connections, the meters' statuses, how long a connected
//! charger has been silent) into raise and clear steps, `audit_rules` does so for what
//! the store holds (open transactions, the audit log's SetChargingProfile answers, dispatch's composite-schedule verdicts);
//! `task` is the IO loop: it feeds the book, keeps the store's list (`store::alerts`)
//! in step, logs each raise at WARN and each clear at INFO, and broadcasts the changes
//! for `/api/v1/events`. Times come from the injected `Clock`.

pub mod audit_rules;
pub mod follow;
pub mod rules;
pub mod task;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::store::AlertRecord;
use crate::units::ChargerId;

pub use task::{AlertInputs, Alerts};

/// What an alert is about. The names are the API's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A connector (1.6) or EVSE connector (2.0.1) reported Faulted.
    ConnectorFaulted,
    /// A 2.0.1 component reported its `Problem` variable true (NotifyEvent).
    ChargerProblem,
    /// The charger's connection is gone.
    ChargerOffline,
    /// The connection is open but the charger has sent no CALL for twice its heartbeat
    /// interval: it may hang. The connection is left open (the charger may still answer
    /// our commands, and closing it would not make a hung charger come back).
    ChargerSilent,
    /// A meter has no new good reading for its `stale-after-ms` (S5: worst case assumed).
    MeterStale,
    /// An open transaction without meter data for an hour: its billing lacks readings
    /// and the planner its charger's draw (1.6 MeterValues, 2.0.1 TransactionEvent).
    TxWithoutMeterValues,
    /// The charger rejected the failsafe baseline (S3): it counts at its maximum (S1).
    FailsafeRefused,
    /// The guard cut the charger more than `GUARD_CUTS` times within `GUARD_WINDOW`.
    RepeatedGuardCuts,
    /// With `[dispatch] verify`: the charger's composite schedule is not the limit it
    /// accepted (it ignores or misapplies ChargingProfiles; counted at its maximum).
    CompositeMisreported,
}

/// Every kind, for reading stored rows back.
const KINDS: [Kind; 9] = [
    Kind::ConnectorFaulted,
    Kind::ChargerProblem,
    Kind::ChargerOffline,
    Kind::ChargerSilent,
    Kind::MeterStale,
    Kind::TxWithoutMeterValues,
    Kind::FailsafeRefused,
    Kind::RepeatedGuardCuts,
    Kind::CompositeMisreported,
];

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ConnectorFaulted => "connector-faulted",
            Kind::ChargerProblem => "charger-problem",
            Kind::ChargerOffline => "charger-offline",
            Kind::ChargerSilent => "charger-silent",
            Kind::MeterStale => "meter-stale",
            Kind::TxWithoutMeterValues => "transaction-without-meter-values",
            Kind::FailsafeRefused => "failsafe-refused",
            Kind::RepeatedGuardCuts => "repeated-guard-cuts",
            Kind::CompositeMisreported => "composite-misreported",
        }
    }
}

/// How urgent: `Critical` stops charging or the site's safety margin (the site runs on
/// worst-case assumptions meanwhile); `Warning` degrades it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Critical,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        }
    }
}

/// What identifies one alert: a condition with the same key raises once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub kind: Kind,
    pub charger: Option<ChargerId>,
    pub meter: Option<String>,
    /// The part of the charger or meter, e.g. `evse 1`, a component name.
    pub part: Option<String>,
}

impl Key {
    pub fn charger(kind: Kind, charger: &ChargerId, part: Option<String>) -> Self {
        Self {
            kind,
            charger: Some(charger.clone()),
            meter: None,
            part,
        }
    }

    pub fn meter(kind: Kind, meter: &str) -> Self {
        Self {
            kind,
            charger: None,
            meter: Some(meter.to_string()),
            part: None,
        }
    }

    /// The key of a stored alert; `None` for a kind this version does not know (a
    /// newer version's row: left as it is).
    fn of(record: &AlertRecord) -> Option<Self> {
        let kind = KINDS.into_iter().find(|k| k.as_str() == record.kind)?;
        let charger = match &record.charger {
            Some(id) => Some(ChargerId::new(id).ok()?),
            None => None,
        };
        Some(Self {
            kind,
            charger,
            meter: record.meter.clone(),
            part: record.part.clone(),
        })
    }
}

/// A condition that is present: raise its alert unless it is open already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub key: Key,
    pub severity: Severity,
    pub message: String,
}

/// What to do with the book, from `rules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Raise(Condition),
    Clear(Key),
}

/// The open alerts. Pure: every change takes `now` and returns the record to store and
/// announce, or `None` when nothing changed.
#[derive(Debug, Default)]
pub struct Book {
    open: BTreeMap<Key, AlertRecord>,
}

impl Book {
    /// The book with the alerts the store holds open (after a restart).
    pub fn from_open(records: Vec<AlertRecord>) -> Self {
        let open = records
            .into_iter()
            .filter_map(|r| Some((Key::of(&r)?, r)))
            .collect();
        Self { open }
    }

    /// Raises the condition's alert: the new record (id 0, for the store to number), or
    /// `None` when the alert is open already.
    pub fn raise(&mut self, c: Condition, now: DateTime<Utc>) -> Option<AlertRecord> {
        if self.open.contains_key(&c.key) {
            return None;
        }
        let record = AlertRecord {
            id: 0,
            kind: c.key.kind.as_str().to_string(),
            charger: c.key.charger.as_ref().map(ToString::to_string),
            meter: c.key.meter.clone(),
            part: c.key.part.clone(),
            severity: c.severity.as_str().to_string(),
            raised: now,
            cleared: None,
            message: c.message,
        };
        self.open.insert(c.key, record.clone());
        Some(record)
    }

    /// The store's id for the open alert of `key`.
    pub fn numbered(&mut self, key: &Key, id: i64) {
        if let Some(r) = self.open.get_mut(key) {
            r.id = id;
        }
    }

    /// Clears the alert of `key`: the cleared record, or `None` when it was not open.
    pub fn clear(&mut self, key: &Key, now: DateTime<Utc>) -> Option<AlertRecord> {
        let mut record = self.open.remove(key)?;
        record.cleared = Some(now);
        Some(record)
    }

    /// Applies a step; the record that changed, if any.
    pub fn apply(&mut self, step: Step, now: DateTime<Utc>) -> Option<(Key, AlertRecord)> {
        match step {
            Step::Raise(c) => {
                let key = c.key.clone();
                self.raise(c, now).map(|r| (key, r))
            }
            Step::Clear(key) => self.clear(&key, now).map(|r| (key, r)),
        }
    }

    pub fn is_open(&self, key: &Key) -> bool {
        self.open.contains_key(key)
    }

    /// The open alerts, in key order.
    pub fn open(&self) -> impl Iterator<Item = (&Key, &AlertRecord)> {
        self.open.iter()
    }
}

#[cfg(test)]
mod tests;
