//! The guard: on every meter reading, cut committed limits that would break a circuit now.
//!
//! The plan is made for a forecast; the guard checks the measured (or, if stale, worst-case)
//! non-charger load plus every charger's committed limit against limit - margin on every
//! phase of every circuit (DESIGN.md S1). Where that breaks, it reduces the lowest-priority
//! chargers first, by the excess rounded up to the wire's resolution (`WIRE_STEP_A`: the
//! cut limit is rounded down to it), and pauses a charger rather than going below its
//! minimum (S4). Offline chargers count at least at their failsafe and cannot be reduced.
//! It returns reductions for dispatch; it never sends anything, awaits or reads the clock.

use crate::site::SiteSnapshot;
use crate::units::{Amps, ChargerId, floor_limit};

/// The resolution limits go out at, in A per phase: both OCPP versions write a limit with
/// one decimal (`dispatch::profile` rounds down to it, or to a charger's coarser step).
/// The guard's cuts land on it, and the control loop and dispatch set limits into room
/// rounded down to it: a limit between two steps gives the vehicle nothing the step below
/// does not, while the part above the step left no headroom, so that a rise of the load by
/// float round-off (a meter's f32 registers, the load derivation's sums) made a cut of a
/// few µA that went out as a whole step and restarted the charger's `min-interval-s`.
/// Site-wide, not per charger: a charger whose profile has a coarser `step_a` quirk (1 A)
/// still gets limits between its own steps counted here (safe: counted above what it
/// applies); `dispatch::task` restarts its `min-interval-s` only when the value on its own
/// step changes.
pub const WIRE_STEP_A: f64 = 0.1;

/// `a` rounded down to `WIRE_STEP_A`, as the decimal the wire carries (never up: S1).
pub fn on_wire(a: f64) -> f64 {
    floor_limit(a, WIRE_STEP_A)
}

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
        // Down to the wire's step: the cut clears the excess and the jitter of the load
        // below the step with it, instead of one cut per jitter.
        let target = on_wire(x[i] - over);
        x[i] = if target >= snap.chargers[i].min_current.0 - EPS_A {
            target
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
        .filter(|(i, ch)| snap.counted_at(ch, c)[p] && chains[*i].contains(&c))
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
            ch.online && snap.counted_at(ch, c)[p] && chains[*i].contains(&c) && x[*i] > EPS_A
        })
        .min_by(|(i, a), (j, b)| {
            a.priority
                .cmp(&b.priority)
                .then(x[*j].total_cmp(&x[*i]))
                .then(a.id.cmp(&b.id))
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::site::SiteState;

    /// Grid limit 65 A, margin 5 A: a budget of 60 A per phase for LOW and HIGH (32 A each).
    const SITE: &str = "[site]\nid = \"t\"\nworst-case-load-a = 10\nmargin-a = 5\ngrid-limit-a = 65\n\
        [[charger]]\nid = \"LOW\"\npassword = \"pw-long-enough\"\nmax-current-a = 32\npriority = 0\n\
        [[charger]]\nid = \"HIGH\"\npassword = \"pw-long-enough\"\nmax-current-a = 32\npriority = 9\n";

    /// The site with `load` A on every phase, both chargers online.
    fn site(load: f64) -> SiteSnapshot {
        let config = config::parse(SITE).unwrap_or_else(|p| panic!("{p:#?}"));
        let mut state = SiteState::from_config(&config);
        state.apply_load(None, Some([Amps(load); 3]));
        let wall = chrono::DateTime::parse_from_rfc3339("2026-12-01T17:30:00Z")
            .unwrap()
            .to_utc();
        let mut snap = state.snapshot(wall);
        for c in &mut snap.chargers {
            c.online = true;
        }
        snap
    }

    fn committed(snap: &SiteSnapshot, low_a: f64, high_a: f64) -> Vec<(ChargerId, Amps)> {
        vec![
            (snap.chargers[0].id.clone(), Amps(low_a)),
            (snap.chargers[1].id.clone(), Amps(high_a)),
        ]
    }

    /// LOW's limit after the guard (its committed one when not cut).
    fn low_after(load: f64, low_a: f64, high_a: f64) -> f64 {
        let snap = site(load);
        let cuts = guard(&snap, &committed(&snap, low_a, high_a));
        assert!(cuts.iter().all(|c| c.charger == snap.chargers[0].id));
        cuts.first().map_or(low_a, |c| c.to.0)
    }

    #[test]
    fn a_cut_rounds_down_to_the_wire_step_so_jitter_below_it_cuts_once() {
        // HIGH at 22.37 A filled the room left by 5.63 A of load; read again, a grid
        // meter's f32 register at 133.63 A less 128 A of charger samples is a few µA more.
        let load = f64::from(133.63f32) - 128.0;
        assert!(load - 5.63 > EPS_A && load - 5.63 < 1e-5, "{load}");
        let (low_a, high_a) = (32.0, 60.0 - 5.63 - 32.0);
        // Exactly at the budget: no cut.
        assert_eq!(low_after(5.63, low_a, high_a), 32.0);
        // µA over: one step down, not 31.999999 A (which goes out as 31.9 A all the same).
        assert_eq!(low_after(load, low_a, high_a), 31.9);
        // Any excess up to the step is the same cut: jitter does not deepen it.
        assert_eq!(low_after(5.63 + 0.07, low_a, high_a), 31.9);
        assert_eq!(low_after(5.63 + 0.1, low_a, high_a), 31.9);
        assert_eq!(low_after(5.63 + 0.15, low_a, high_a), 31.8);
    }

    #[test]
    fn a_cut_on_the_wire_step_never_leaves_a_phase_over_its_budget() {
        let high_a = 60.0 - 5.63 - 32.0;
        for k in 0..400 {
            let load = 5.63 + f64::from(k) * 0.0137;
            let low = low_after(load, 32.0, high_a);
            assert_eq!(
                low,
                on_wire(low),
                "load {load}: {low} A is on the wire's step"
            );
            assert!(
                low == 0.0 || load + low + high_a <= 60.0 + 1e-9,
                "load {load}: LOW at {low} A breaks the budget"
            );
            assert!(
                low == 0.0 || load + low + high_a > 60.0 - WIRE_STEP_A - 1e-9,
                "load {load}: LOW at {low} A cut more than a step beyond the excess"
            );
        }
    }
}
