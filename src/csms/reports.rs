//! NotifyReport parts (2.0.1 B07/B08, the answer to GetBaseReport) and
//! NotifyCustomerInformation parts (N09/N10, the answer to CustomerInformation) assembled
//! per charger and requestId, in memory, until the last part (`tbc` false) and every seqNo
//! before it have arrived; the whole report is then stored by `Csms::handle`. One
//! `Assembler` per kind of report: a part is a list of variables or a piece of text.
//!
//! Pure and bounded: it takes `now`, never reads a clock or the store. A charger decides
//! how many parts it sends, so a hostile or broken one could otherwise grow this without
//! end. The caps: `MAX_PARTS` parts and `MAX_REPORT_BYTES` of names and values per report
//! (a real station's FullInventory is a few thousand variables, well under 1 MiB), at most
//! `MAX_ASSEMBLIES` reports in assembly at once across all chargers (the oldest dropped
//! first), and an assembly without a new part for `IDLE` is dropped (the charger stopped).
//! A dropped or refused report is marked failed in the store with why; the operator asks
//! again. A part resent with the same seqNo replaces the earlier copy (idempotent).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};

use crate::ocpp::model::ReportedVariable;

/// Parts one report may have.
pub const MAX_PARTS: usize = 1000;
/// Bytes of component, variable and value text one report may hold (4 MiB).
pub const MAX_REPORT_BYTES: usize = 4 << 20;
/// Reports in assembly at once, across chargers: 4 x 4 MiB at worst.
pub const MAX_ASSEMBLIES: usize = 4;
/// An assembly without a new part for this long is dropped.
pub const IDLE: Duration = Duration::minutes(10);

/// What one part did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartOutcome<P = Vec<ReportedVariable>> {
    /// Parts are still missing; `parts` have arrived.
    Incomplete { parts: usize },
    /// Every part is in: their contents in seqNo order.
    Complete { parts: usize, contents: Vec<P> },
    /// Over a cap: the assembly is dropped, and why.
    Refused(String),
}

/// The content of one part, measured against `MAX_REPORT_BYTES`.
pub trait Part: Clone {
    /// Bytes of text it holds.
    fn bytes(&self) -> usize;
}

impl Part for Vec<ReportedVariable> {
    fn bytes(&self) -> usize {
        self.iter()
            .map(|v| v.component.len() + v.variable.len() + v.value.as_ref().map_or(0, String::len))
            .sum()
    }
}

impl Part for String {
    fn bytes(&self) -> usize {
        self.len()
    }
}

#[derive(Debug)]
struct Assembly<P> {
    parts: BTreeMap<u32, P>,
    bytes: usize,
    /// The seqNo of the part with `tbc` false, once it came.
    last: Option<u32>,
    touched: Option<DateTime<Utc>>,
}

impl<P> Default for Assembly<P> {
    fn default() -> Self {
        Self {
            parts: BTreeMap::new(),
            bytes: 0,
            last: None,
            touched: None,
        }
    }
}

/// The reports in assembly, keyed by charger and requestId.
#[derive(Debug)]
pub struct Assembler<P = Vec<ReportedVariable>> {
    open: HashMap<(String, i32), Assembly<P>>,
}

impl<P> Default for Assembler<P> {
    fn default() -> Self {
        Self {
            open: HashMap::new(),
        }
    }
}

impl<P: Part> Assembler<P> {
    /// Adds one part of `charger`'s report `request_id`.
    pub fn add(
        &mut self,
        charger: &str,
        request_id: i32,
        seq_no: u32,
        more_to_follow: bool,
        part: P,
        now: DateTime<Utc>,
    ) -> PartOutcome<P> {
        self.open
            .retain(|_, a| a.touched.is_none_or(|t| now - t < IDLE));
        let key = (charger.to_string(), request_id);
        if !self.open.contains_key(&key) && self.open.len() >= MAX_ASSEMBLIES {
            let oldest = self
                .open
                .iter()
                .min_by_key(|(_, a)| a.touched)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.open.remove(&oldest);
            }
        }
        let assembly = self.open.entry(key.clone()).or_default();
        let bytes = part.bytes();
        if let Some(old) = assembly.parts.get(&seq_no) {
            assembly.bytes -= old.bytes();
        }
        assembly.bytes += bytes;
        assembly.parts.insert(seq_no, part);
        assembly.touched = Some(now);
        if !more_to_follow {
            assembly.last = Some(seq_no);
        }
        let refused = if assembly.parts.len() > MAX_PARTS {
            Some(format!("more than {MAX_PARTS} parts"))
        } else if assembly.bytes > MAX_REPORT_BYTES {
            Some(format!("more than {MAX_REPORT_BYTES} bytes of text"))
        } else if assembly.parts.keys().next_back() > assembly.last.as_ref()
            && assembly.last.is_some()
        {
            Some("a part after the last one (tbc false)".to_string())
        } else {
            None
        };
        if let Some(why) = refused {
            self.open.remove(&key);
            return PartOutcome::Refused(why);
        }
        let parts = assembly.parts.len();
        match assembly.last {
            // seqNo counts from 0 (B07.FR.03): complete when 0..=last are all there.
            Some(last) if usize::try_from(last).is_ok_and(|l| l + 1 == parts) => {
                let done = self.open.remove(&key).unwrap_or_default();
                PartOutcome::Complete {
                    parts,
                    contents: done.parts.into_values().collect(),
                }
            }
            _ => PartOutcome::Incomplete { parts },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, value: &str) -> Vec<ReportedVariable> {
        vec![ReportedVariable {
            component: "C".into(),
            variable: name.into(),
            value: Some(value.into()),
        }]
    }

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn parts_out_of_order_and_resent_are_assembled_in_seq_no_order() {
        let mut a: Assembler = Assembler::default();
        assert_eq!(
            a.add("CP", 7, 2, false, var("c", "3"), t(0)),
            PartOutcome::Incomplete { parts: 1 }
        );
        assert_eq!(
            a.add("CP", 7, 0, true, var("a", "1"), t(1)),
            PartOutcome::Incomplete { parts: 2 }
        );
        // A resend of part 0 replaces it; another charger's request 7 is its own.
        a.add("CP", 7, 0, true, var("a", "1"), t(2));
        a.add("CP2", 7, 0, true, var("x", "9"), t(2));
        match a.add("CP", 7, 1, true, var("b", "2"), t(3)) {
            PartOutcome::Complete { parts, contents } => {
                assert_eq!(parts, 3);
                let names: Vec<_> = contents
                    .iter()
                    .flatten()
                    .map(|v| v.variable.as_str())
                    .collect();
                assert_eq!(names, ["a", "b", "c"]);
            }
            other => panic!("{other:?}"),
        }
        // Done: a late copy starts a new assembly rather than completing anything.
        assert_eq!(
            a.add("CP", 7, 1, true, var("b", "2"), t(4)),
            PartOutcome::Incomplete { parts: 1 }
        );
    }

    #[test]
    fn the_caps_refuse_a_charger_that_never_ends() {
        let mut a: Assembler = Assembler::default();
        let mut outcome = PartOutcome::Incomplete { parts: 0 };
        for seq in 0..=MAX_PARTS as u32 {
            outcome = a.add("CP", 1, seq, true, var("v", "x"), t(0));
        }
        assert_eq!(
            outcome,
            PartOutcome::Refused(format!("more than {MAX_PARTS} parts"))
        );
        let big = var("v", &"x".repeat(MAX_REPORT_BYTES));
        assert!(matches!(
            a.add("CP", 2, 0, true, big, t(0)),
            PartOutcome::Refused(_)
        ));
        // A part after the last one.
        a.add("CP", 3, 0, false, Vec::new(), t(0));
        assert!(matches!(
            a.add("CP", 4, 1, false, Vec::new(), t(0)),
            PartOutcome::Incomplete { .. }
        ));
        assert!(matches!(
            a.add("CP", 4, 2, true, Vec::new(), t(0)),
            PartOutcome::Refused(_)
        ));
    }

    #[test]
    fn idle_and_surplus_assemblies_are_dropped_oldest_first() {
        let mut a: Assembler = Assembler::default();
        for id in 0..MAX_ASSEMBLIES as i32 {
            a.add("CP", id, 0, true, var("v", "x"), t(i64::from(id)));
        }
        // A new one drops request 0, the oldest.
        a.add("CP", 99, 0, true, var("v", "x"), t(100));
        assert_eq!(a.open.len(), MAX_ASSEMBLIES);
        assert!(!a.open.contains_key(&("CP".to_string(), 0)));
        // After IDLE without a part every one of them is gone.
        a.add(
            "CP",
            100,
            0,
            true,
            Vec::new(),
            t(100) + IDLE + Duration::seconds(1),
        );
        assert_eq!(a.open.len(), 1);
    }

    #[test]
    fn text_parts_are_assembled_and_capped_alike() {
        let mut a: Assembler<String> = Assembler::default();
        a.add("CP", 1, 1, false, "world".into(), t(0));
        assert_eq!(
            a.add("CP", 1, 0, true, "hello ".into(), t(1)),
            PartOutcome::Complete {
                parts: 2,
                contents: vec!["hello ".into(), "world".into()]
            }
        );
        let big = "x".repeat(MAX_REPORT_BYTES + 1);
        assert!(matches!(
            a.add("CP", 2, 0, true, big, t(2)),
            PartOutcome::Refused(_)
        ));
    }
}
