//! The guard: on every meter reading, cut committed limits that would break a circuit now.
//!
//! The plan is made for a forecast; the guard checks the measured (or, if stale, worst-case)
//! non-charger load plus every charger's committed limit against limit - margin on every
//! phase of every circuit (DESIGN.md S1). Where that breaks, it reduces the lowest-priority
//! chargers first, by exactly the excess, and pauses a charger rather than going below its
//! minimum (S4). Offline chargers count at least at their failsafe and cannot be reduced.
//! It returns reductions for dispatch; it never sends anything, awaits or reads the clock.

use crate::site::SiteSnapshot;
use crate::units::{Amps, ChargerId};

/// A limit the guard lowers at once, in A per phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Reduction {
    pub charger: ChargerId,
    pub from: Amps,
    pub to: Amps,
    /// The circuit phase that forced it, with its numbers, for the log and the audit.
    pub why: String,
}

/// Below this an excess is round-off, in A.
const EPS_A: f64 = 1e-6;

/// The reductions that bring every circuit phase within limit - margin, lowest priority
/// first. `committed` holds each charger's effective limit (missing: 0 A).
pub fn guard(snap: &SiteSnapshot, committed: &[(ChargerId, Amps)]) -> Vec<Reduction> {
    let mut x = drawn(snap, committed);
    let before = x.clone();
    let mut why: Vec<Option<String>> = vec![None; x.len()];
    let chains: Vec<Vec<usize>> = snap
        .chargers
        .iter()
        .map(|c| snap.chain(c.circuit))
        .collect();
    // Each step either clears one circuit phase or pauses one charger, so this ends.
    for _ in 0..(4 * snap.chargers.len() + 16) {
        let Some((c, p, over)) = (0..snap.circuits.len())
            .flat_map(|c| (0..3).map(move |p| (c, p)))
            .map(|(c, p)| (c, p, excess(snap, &chains, &x, c, p)))
            .find(|(_, _, over)| *over > EPS_A)
        else {
            break;
        };
        let Some(i) = victim(snap, &chains, &x, c, p) else {
            break; // nothing left to cut: only offline failsafes and the load itself
        };
        if why[i].is_none() {
            let load = snap.assumed_load(c, p);
            why[i] = Some(format!(
                "{}/L{}: load {load:.1} A + limits {:.1} A > {:.1} A",
                snap.circuits[c].id,
                p + 1,
                snap.budget(c) + over - load,
                snap.budget(c)
            ));
        }
        let target = x[i] - over;
        x[i] = if target >= snap.chargers[i].min_current.0 - EPS_A {
            target.max(0.0)
        } else {
            0.0
        };
    }
    snap.chargers
        .iter()
        .enumerate()
        .filter(|(i, _)| x[*i] < before[*i] - EPS_A)
        .map(|(i, c)| Reduction {
            charger: c.id.clone(),
            from: Amps(before[i]),
            to: Amps(x[i]),
            why: why[i].take().unwrap_or_default(),
        })
        .collect()
}

/// What each charger may draw, in A: its committed limit, and an offline one at least
/// its failsafe.
fn drawn(snap: &SiteSnapshot, committed: &[(ChargerId, Amps)]) -> Vec<f64> {
    snap.chargers
        .iter()
        .map(|c| {
            let limit = committed
                .iter()
                .find(|(id, _)| id == &c.id)
                .map_or(0.0, |(_, a)| a.0);
            if c.online {
                limit
            } else {
                limit.max(c.failsafe_current.0)
            }
        })
        .collect()
}

/// How far circuit `c`, phase `p` is over its budget with the chargers at `x`, in A.
fn excess(snap: &SiteSnapshot, chains: &[Vec<usize>], x: &[f64], c: usize, p: usize) -> f64 {
    let sum: f64 = snap
        .chargers
        .iter()
        .enumerate()
        .filter(|(i, ch)| ch.site_phases[p] && chains[*i].contains(&c))
        .map(|(i, _)| x[i])
        .sum();
    snap.assumed_load(c, p) + sum - snap.budget(c)
}

/// The charger to cut on circuit `c`, phase `p`: online and drawing, lowest priority
/// first, then the highest limit, then by id.
fn victim(
    snap: &SiteSnapshot,
    chains: &[Vec<usize>],
    x: &[f64],
    c: usize,
    p: usize,
) -> Option<usize> {
    snap.chargers
        .iter()
        .enumerate()
        .filter(|(i, ch)| {
            ch.online && ch.site_phases[p] && chains[*i].contains(&c) && x[*i] > EPS_A
        })
        .min_by(|(i, a), (j, b)| {
            a.priority
                .cmp(&b.priority)
                .then(x[*j].total_cmp(&x[*i]))
                .then(a.id.cmp(&b.id))
        })
        .map(|(i, _)| i)
}
