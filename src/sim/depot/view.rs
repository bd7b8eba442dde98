//! How far chargegate's view of the building load was from the truth over a driven day:
//! the room a grid meter's derivation (`site::load`) holds back beyond what the building
//! really draws. Reported beside the utilisation, so that a change to when or how the load
//! is derived shows up as its own figure rather than only as lost utilisation.

use std::fmt::Write;

use crate::site::CircuitNode;

/// Over-estimates of the grid connection's building load, summed per site phase over the
/// seconds the meter was fresh (a stale meter counts its worst case on purpose, S5).
#[derive(Debug, Clone, Default)]
pub struct LoadView {
    /// Seconds with a fresh reading.
    pub seconds: f64,
    /// Derived load above the true building load, in A·s per phase.
    pub over_a_s: [f64; 3],
    /// What was put down to ramping vehicles (no increase goes into it), in A·s per phase.
    pub unconfirmed_a_s: [f64; 3],
    /// Derived load below the true building load (the unsafe side), in A·s per phase.
    pub under_a_s: [f64; 3],
}

impl LoadView {
    /// Records `dt_s` seconds of chargegate's view of the grid connection against the true
    /// building load per site phase (A).
    pub fn record(&mut self, grid: &CircuitNode, building: [f64; 3], dt_s: f64) {
        if grid.stale {
            return;
        }
        self.seconds += dt_s;
        for (p, truth) in building.iter().enumerate() {
            let diff = grid.load[p].0 - truth;
            self.over_a_s[p] += diff.max(0.0) * dt_s;
            self.under_a_s[p] += (-diff).max(0.0) * dt_s;
            self.unconfirmed_a_s[p] += grid.unconfirmed[p].0 * dt_s;
        }
    }

    /// Mean per phase, in A, of one of the sums.
    pub fn mean(&self, sum: [f64; 3]) -> [f64; 3] {
        sum.map(|s| {
            if self.seconds > 0.0 {
                s / self.seconds
            } else {
                0.0
            }
        })
    }

    /// One line per figure.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let f = |v: [f64; 3]| format!("{:.1} / {:.1} / {:.1} A", v[0], v[1], v[2]);
        let _ = writeln!(
            out,
            "{:<34} {} over, {} under, {} unconfirmed (mean over {:.1} h of fresh readings)",
            "building load as derived vs true",
            f(self.mean(self.over_a_s)),
            f(self.mean(self.under_a_s)),
            f(self.mean(self.unconfirmed_a_s)),
            self.seconds / 3600.0
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Amps;

    fn grid(load: [f64; 3], unconfirmed: [f64; 3], stale: bool) -> CircuitNode {
        CircuitNode {
            id: "grid".into(),
            limit: Amps(100.0),
            parent: None,
            load: load.map(Amps),
            stale,
            worst_case_load: Amps(80.0),
            unconfirmed: unconfirmed.map(Amps),
            sees_phase_switches: false,
            unmeasured: [false; 3],
            ramp_open: false,
        }
    }

    #[test]
    fn over_and_under_estimates_are_kept_apart_and_a_stale_meter_is_left_out() {
        let mut view = LoadView::default();
        view.record(
            &grid([30.0, 20.0, 10.0], [2.0, 0.0, 0.0], false),
            [20.0; 3],
            1.0,
        );
        view.record(&grid([20.0, 20.0, 20.0], [0.0; 3], false), [20.0; 3], 1.0);
        view.record(&grid([80.0; 3], [0.0; 3], true), [20.0; 3], 5.0);
        assert_eq!(view.seconds, 2.0);
        assert_eq!(view.mean(view.over_a_s), [5.0, 0.0, 0.0]);
        assert_eq!(view.mean(view.under_a_s), [0.0, 0.0, 5.0]);
        assert_eq!(view.mean(view.unconfirmed_a_s), [1.0, 0.0, 0.0]);
        assert!(view.report().contains("5.0 / 0.0 / 0.0 A over"));
    }
}
