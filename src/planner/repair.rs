//! Rounding the LP to "0 or at least the minimum" (DESIGN.md S4).
//!
//! The LP treats a current as continuous in [0, max]; a vehicle cannot charge between 0 and
//! its minimum (6 A by IEC 61851-1). Going through the periods in order, each demand with a
//! fractional current x < min adds x (times the period's length) to what it is owed; once
//! it is owed a whole minimum it charges at the minimum if every circuit phase on its way to
//! the grid has room for the extra (min - x), otherwise it pauses and its x frees room for
//! the next. So energy moves between periods like error diffusion, and the rounded point
//! never exceeds a period's capacity. The model then re-solves the demands this touched,
//! each fixed to Off (0 A) or On (>= min) per period, the others kept. Pure: no IO.
//!
//! `Mode` and `Period` live here, below `model`: `model` imports `repair`, never the
//! other way round.

use super::{EPS_A, Inputs};

/// A run of slots planned with one current: (first slot, number of slots).
pub type Period = (usize, usize);

/// Whether a demand may charge in a period: free (the first LP), or fixed by the repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Free,
    /// Paused: 0 A.
    Off,
    /// Charging: at least the minimum.
    On,
    /// Kept at the first LP's value (already 0 or at least the minimum everywhere).
    Fixed,
}

/// Modes per demand per period and the rounded, S4-safe currents (demand x period, in A).
pub fn round(
    inputs: &Inputs<'_>,
    periods: &[Period],
    values: &[Vec<f64>],
) -> (Vec<Vec<Mode>>, Vec<Vec<f64>>) {
    let n = inputs.demands.len();
    let snap = inputs.snap;
    let mut rounding = Rounding {
        inputs,
        values,
        chains: inputs
            .demands
            .iter()
            .map(|d| snap.chain(snap.chargers[d.charger].circuit))
            .collect(),
        modes: vec![vec![Mode::Off; periods.len()]; n],
        out: vec![vec![0.0; periods.len()]; n],
        owed: vec![0.0f64; n],
    };
    for (k, &period) in periods.iter().enumerate() {
        rounding.period(k, period);
    }
    (rounding.modes, rounding.out)
}

/// The rounding's state, carried from one period to the next.
struct Rounding<'a, 'i> {
    inputs: &'a Inputs<'i>,
    /// The LP's currents, demand x period, in A.
    values: &'a [Vec<f64>],
    /// Per demand: the circuits from its charger's to the grid connection.
    chains: Vec<Vec<usize>>,
    modes: Vec<Vec<Mode>>,
    out: Vec<Vec<f64>>,
    /// Owed current x slots, in A-slots.
    owed: Vec<f64>,
}

impl Rounding<'_, '_> {
    fn period(&mut self, k: usize, (start, len): Period) {
        let cap = self.capacity(start, len);
        let mut used = self.lp_use(k);
        let fractional = self.keep_whole_currents(k, (start, len));
        // Pause the ones not owed a whole minimum first: that frees room for the others.
        let (later, pause): (Vec<_>, Vec<_>) = fractional
            .into_iter()
            .partition(|&(d, slots)| self.owed[d] >= self.inputs.demands[d].min * slots - EPS_A);
        for (d, _) in pause {
            self.shift(&mut used, d, -self.values[d][k]);
        }
        self.raise_to_minimum(k, later, &mut used, &cap);
    }

    /// Capacity of the period (its tightest slot): circuit x phase, in A.
    fn capacity(&self, start: usize, len: usize) -> Vec<[f64; 3]> {
        (0..self.inputs.snap.circuits.len())
            .map(|c| {
                std::array::from_fn(|p| {
                    (start..start + len)
                        .map(|t| self.inputs.cap[c][t][p])
                        .fold(f64::INFINITY, f64::min)
                })
            })
            .collect()
    }

    /// Use by the LP values in period `k`: circuit x phase, in A.
    fn lp_use(&self, k: usize) -> Vec<[f64; 3]> {
        let mut used = vec![[0.0f64; 3]; self.inputs.snap.circuits.len()];
        for d in 0..self.inputs.demands.len() {
            self.shift(&mut used, d, self.values[d][k]);
        }
        used
    }

    /// Keeps the currents already 0 or at least the minimum; adds the fractional ones to
    /// what their demand is owed and returns them (demand, slots present), most owed first,
    /// ties by priority (higher first), then index: deterministic.
    fn keep_whole_currents(&mut self, k: usize, (start, len): Period) -> Vec<(usize, f64)> {
        let mut fractional = Vec::new();
        for d in 0..self.inputs.demands.len() {
            let x = self.values[d][k];
            let min = self.inputs.demands[d].min;
            if x > EPS_A && x >= min - EPS_A {
                self.modes[d][k] = Mode::On;
                self.out[d][k] = x;
            } else if x > EPS_A {
                let slots = self.inputs.demands[d].end.saturating_sub(start).min(len) as f64;
                self.owed[d] += x * slots;
                fractional.push((d, slots));
            }
        }
        let snap = self.inputs.snap;
        let priority = |d: usize| snap.chargers[self.inputs.demands[d].charger].priority;
        fractional.sort_by(|&(a, _), &(b, _)| {
            self.owed[b]
                .total_cmp(&self.owed[a])
                .then(priority(b).cmp(&priority(a)))
                .then(a.cmp(&b))
        });
        fractional
    }

    /// Most owed first, raises a fractional current to the minimum where every circuit
    /// phase on its way has room; when there is none, pauses the least owed still
    /// undecided.
    fn raise_to_minimum(
        &mut self,
        k: usize,
        owed_order: Vec<(usize, f64)>,
        used: &mut [[f64; 3]],
        cap: &[[f64; 3]],
    ) {
        let mut pending: std::collections::VecDeque<(usize, f64)> = owed_order.into();
        while let Some(&(d, slots)) = pending.front() {
            let x = self.values[d][k];
            let min = self.inputs.demands[d].min;
            let extra = min - x;
            let fits = self.chains[d].iter().all(|&c| {
                let phases = self.inputs.phases_at(d, c);
                (0..3).all(|p| !phases[p] || used[c][p] + extra <= cap[c][p] + 1e-9)
            });
            if fits || self.make_room(k, d, extra, used, cap) {
                pending.pop_front();
                self.shift(used, d, extra);
                self.modes[d][k] = Mode::On;
                self.out[d][k] = min;
                self.owed[d] -= min * slots;
            } else if pending.len() > 1 {
                if let Some((last, _)) = pending.pop_back() {
                    self.shift(used, last, -self.values[last][k]);
                }
            } else {
                pending.pop_front();
                self.shift(used, d, -x);
            }
        }
    }

    /// Lowers demands already charging in period `k` toward their minimum until `extra` A
    /// more for demand `d` fits on every circuit phase on its way; true when it does (the
    /// lowered currents are kept), false with nothing changed. Without it a vehicle owed
    /// its minimum is paused whenever the LP filled the rest of the room with whole
    /// currents, and what it was owed is lost: a known need beside a vehicle at its
    /// maximum came out short although the room held both. The re-solve then shares the
    /// room out again, each at least at its minimum.
    fn make_room(
        &mut self,
        k: usize,
        d: usize,
        extra: f64,
        used: &mut [[f64; 3]],
        cap: &[[f64; 3]],
    ) -> bool {
        let inputs = self.inputs;
        let mut trial_used = used.to_vec();
        let mut lowered: Vec<(usize, f64)> = Vec::new();
        let deficit = |u: &[[f64; 3]]| -> f64 {
            self.chains[d]
                .iter()
                .flat_map(|&c| {
                    let phases = inputs.phases_at(d, c);
                    (0..3).filter(move |&p| phases[p]).map(move |p| (c, p))
                })
                .map(|(c, p)| u[c][p] + extra - cap[c][p])
                .fold(0.0, f64::max)
        };
        for e in 0..self.inputs.demands.len() {
            let short = deficit(&trial_used);
            if short <= 1e-9 {
                break;
            }
            if e == d || self.modes[e][k] != Mode::On {
                continue;
            }
            // Only a donor on a constrained circuit phase of `d` helps.
            let shares = self.chains[d].iter().any(|&c| {
                let (phases, e_phases) = (inputs.phases_at(d, c), inputs.phases_at(e, c));
                self.chains[e].contains(&c)
                    && (0..3).any(|p| {
                        phases[p] && e_phases[p] && trial_used[c][p] + extra > cap[c][p] + 1e-9
                    })
            });
            let spare = self.out[e][k] - self.inputs.demands[e].min;
            if !shares || spare <= EPS_A {
                continue;
            }
            let cut = spare.min(short);
            for &c in &self.chains[e] {
                let e_phases = inputs.phases_at(e, c);
                for p in (0..3).filter(|&p| e_phases[p]) {
                    trial_used[c][p] -= cut;
                }
            }
            lowered.push((e, cut));
        }
        if deficit(&trial_used) > 1e-9 {
            return false;
        }
        used.copy_from_slice(&trial_used);
        for (e, cut) in lowered {
            self.out[e][k] -= cut;
        }
        true
    }

    /// Adds `delta` A to every circuit phase demand `d` loads.
    fn shift(&self, used: &mut [[f64; 3]], d: usize, delta: f64) {
        for &c in &self.chains[d] {
            for (p, on) in self.inputs.phases_at(d, c).iter().enumerate() {
                if *on {
                    used[c][p] += delta;
                }
            }
        }
    }
}
