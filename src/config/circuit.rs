//! `[[circuit]]`: the sub-distribution boards under the grid connection, and their checks.
//!
//! A circuit has a per-phase limit and a parent (`"site"` for the grid connection or
//! another circuit), so circuits form a tree rooted at the grid connection. This module
//! reads the tables and rejects unknown parents, cycles, duplicate ids and unknown
//! `circuit = ...` references from chargers. It never performs IO.

use std::collections::{HashMap, HashSet};

use super::Config;
use super::decode::{Doc, Table};
use crate::units::Amps;

/// The reserved parent name of top-level circuits: the grid connection itself.
pub const SITE: &str = "site";
const CIRCUIT_KEYS: &[&str] = &["id", "limit-a", "parent", "worst-case-load-a"];

/// A sub-circuit (distribution board) with its own per-phase limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Circuit {
    pub id: String,
    /// Per phase, in A (the board's fuse rating).
    pub limit: Amps,
    /// `None`: directly under the grid connection (`parent = "site"`).
    pub parent: Option<String>,
    /// Non-charger load per phase assumed on this board while its reading is stale (S5);
    /// defaults to the site's `worst-case-load-a`. 0 for a board that feeds only chargers.
    pub worst_case_load: Option<Amps>,
}

pub fn read_circuit(t: &Table<'_, '_>) -> Option<Circuit> {
    let id = t.req_str("id", "name the board, e.g. id = \"board-a\"");
    let limit = t.req_f64("limit-a", "the board's fuse rating per phase, in A");
    let parent = t.opt_str("parent");
    let worst = t.opt_f64("worst-case-load-a");
    t.finish(CIRCUIT_KEYS);
    if worst.is_some_and(|w| w < 0.0) {
        t.problem("worst-case-load-a", "a current cannot be negative", None);
    }
    let limit = limit?;
    if limit <= 0.0 {
        t.problem(
            "limit-a",
            format!("a circuit limit must be above 0 A ({limit} A)"),
            None,
        );
    }
    let id = id?;
    if id == SITE {
        t.problem(
            "id",
            "\"site\" is reserved for the grid connection",
            Some("choose another id, e.g. \"board-a\"".into()),
        );
    }
    Some(Circuit {
        id,
        limit: Amps(limit),
        parent: parent.filter(|p| p != SITE),
        worst_case_load: worst.map(Amps),
    })
}

/// Duplicate ids, unknown parents, cycles, unknown charger references.
pub fn check(doc: &Doc<'_>, config: &Config) {
    let mut ids = HashSet::new();
    for (i, c) in config.circuits.iter().enumerate() {
        if !ids.insert(c.id.as_str()) {
            doc.report(
                &format!("circuit[{i}].id"),
                None,
                format!("circuit id {} is used twice", c.id),
                None,
            );
        }
    }
    let parent_of: HashMap<&str, Option<&str>> = config
        .circuits
        .iter()
        .map(|c| (c.id.as_str(), c.parent.as_deref()))
        .collect();
    for (i, c) in config.circuits.iter().enumerate() {
        if let Some(p) = &c.parent
            && !parent_of.contains_key(p.as_str())
        {
            doc.report(
                &format!("circuit[{i}].parent"),
                None,
                format!("parent {p:?} is not a circuit"),
                Some("use \"site\" or the id of another [[circuit]]".into()),
            );
            continue;
        }
        // Walk up; more steps than circuits means a cycle.
        let mut at = c.parent.as_deref();
        let mut steps = 0;
        while let Some(p) = at {
            steps += 1;
            if steps > config.circuits.len() {
                doc.report(
                    &format!("circuit[{i}].parent"),
                    None,
                    format!("circuit {} is its own ancestor (a cycle)", c.id),
                    Some("circuits form a tree under \"site\"".into()),
                );
                break;
            }
            at = parent_of.get(p).copied().flatten();
        }
    }
    for (i, ch) in config.chargers.iter().enumerate() {
        if let Some(circuit) = &ch.circuit
            && !parent_of.contains_key(circuit.as_str())
        {
            doc.report(
                &format!("charger[{i}].circuit"),
                None,
                format!("circuit {circuit:?} is not defined"),
                Some("add a [[circuit]] with this id, or remove the key".into()),
            );
        }
    }
}

/// The chain of circuits from `circuit` up to (not including) the grid connection.
/// Stops at an unknown id or after as many steps as there are circuits (a cycle).
pub fn ancestors<'c>(circuits: &'c [Circuit], circuit: Option<&'c str>) -> Vec<&'c Circuit> {
    let mut out = Vec::new();
    let mut at = circuit;
    while let Some(id) = at {
        let Some(c) = circuits.iter().find(|c| c.id == id) else {
            break;
        };
        if out.len() > circuits.len() {
            break;
        }
        out.push(c);
        at = c.parent.as_deref();
    }
    out
}
