//! How closely the limits the chargers apply follow what the controller aims at: issue 9's
//! first requirement ("limits come back up toward the plan's targets within
//! `min-interval-s` plus one meter reading"), scored apart from how good those targets are.
//!
//! The aim of a charger is the plan's current for the slot with the room it leaves filled
//! (`ControlOutput::aims_at`), before the guard's cuts: what dispatch would send if the
//! readings allowed it. A controller is held to an aim only once it has stood for the
//! settle time: a charger is *due* the lowest aim it had over the last `settle` (a rise is
//! due `settle` after it, a fall at once, as DESIGN.md S2 has it: reductions first,
//! increases only into confirmed room). A step's score is the share of the due current,
//! each capped at what the vehicle takes, that the wanting vehicles' limits reach, summed
//! over the site; it is scored in the same steady stretches as the utilisation against
//! the fair share (`metrics`), so a stretch's score says how much of what the controller
//! itself meant to give it gave, after the settle time.
//!
//! The utilisation against the fair share measures plan, fill and follow together; this
//! one the last layer alone. Where the first is short and this one is not, the room went
//! to a decision (the tariff, a vehicle's need, S1 on a board without a meter, S5), not to
//! a controller that fails to follow itself. The baselines have no aim: nothing is scored.

use std::collections::VecDeque;
use std::fmt::Write;

use chrono::{DateTime, TimeDelta, Utc};

use super::metrics::{BayInfo, BayStep};
use super::stretches::{self, BayAtWorst, StretchCauses, StretchScore};

/// Less due current than this over the site is not scored (one charger's minimum,
/// IEC 61851-1): a ratio of nothing says nothing.
const MIN_SCORED_A: f64 = 6.0;
/// How many of the lowest stretches the report lists.
const REPORT_LOWEST: usize = 6;

/// The aims of every bay over the last settle time, and the stretches scored so far.
#[derive(Debug, Clone)]
pub(super) struct Following {
    settle: TimeDelta,
    /// Per bay: (from, aim A) for every change within the last `settle`, oldest first, the
    /// first one in force at `now - settle` once the aim is that old.
    aims: Vec<VecDeque<(DateTime<Utc>, f64)>>,
    /// The stretch being scored: since, scored seconds, score x seconds, its lowest step
    /// with the wanting vehicles below their due aim then.
    current: Option<Tally>,
    closed: Vec<StretchScore>,
}

#[derive(Debug, Clone)]
struct Tally {
    since: DateTime<Utc>,
    measured_s: f64,
    score_s: f64,
    lowest: f64,
    at_lowest: Vec<BayAtWorst>,
}

impl Following {
    pub(super) fn new(bays: usize, settle: TimeDelta) -> Self {
        Self {
            settle,
            aims: vec![VecDeque::new(); bays],
            current: None,
            closed: Vec::new(),
        }
    }

    /// Records every bay's aim at `at` (none counts as 0 A: no plan, nothing aimed at).
    pub(super) fn observe(&mut self, at: DateTime<Utc>, per_bay: &[BayStep]) {
        let horizon = at - self.settle;
        for (window, step) in self.aims.iter_mut().zip(per_bay) {
            let aim = step.aim_a.unwrap_or(0.0);
            if window
                .back()
                .is_none_or(|(_, last)| (*last - aim).abs() > 1e-9)
            {
                window.push_back((at, aim));
            }
            while window.len() >= 2 && window[1].0 <= horizon {
                window.pop_front();
            }
        }
    }

    /// The current a bay is due at `at`: the lowest aim of the last settle time, 0 while
    /// its aim is younger than that.
    fn due(&self, bay: usize, at: DateTime<Utc>) -> f64 {
        let window = &self.aims[bay];
        match window.front() {
            Some((from, _)) if *from <= at - self.settle => {
                window.iter().map(|(_, a)| *a).fold(f64::INFINITY, f64::min)
            }
            _ => 0.0,
        }
    }

    /// Ends the stretch being scored (the steady stretch of `metrics` ended).
    pub(super) fn close_stretch(&mut self) {
        if let Some(score) = self.current.take().and_then(Tally::close) {
            self.closed.push(score);
        }
    }

    /// Scores the step `[at, at + dt_s)` of the steady stretch that began at `since`
    /// (called only after its settle time).
    pub(super) fn score(
        &mut self,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
        dt_s: f64,
        bays: &[BayInfo],
        per_bay: &[BayStep],
    ) {
        let mut due_sum = 0.0;
        let mut got_sum = 0.0;
        let mut below = Vec::new();
        for (i, (info, step)) in bays.iter().zip(per_bay).enumerate() {
            if !step.wants_more {
                continue;
            }
            let due = self.due(i, at).min(info.usable_a);
            let got = step.limit_a.min(due);
            due_sum += due;
            got_sum += got;
            if got + 1e-6 < due {
                below.push((i, due));
            }
        }
        if due_sum < MIN_SCORED_A {
            return;
        }
        let score = got_sum / due_sum;
        let tally = self.current.get_or_insert_with(|| Tally {
            since,
            measured_s: 0.0,
            score_s: 0.0,
            lowest: f64::INFINITY,
            at_lowest: Vec::new(),
        });
        tally.measured_s += dt_s;
        tally.score_s += score * dt_s;
        if score < tally.lowest {
            tally.lowest = score;
            tally.at_lowest = below
                .into_iter()
                .map(|(i, due)| BayAtWorst {
                    bay: bays[i].id.clone(),
                    limit_a: per_bay[i].limit_a,
                    reference_a: due,
                    usable_a: bays[i].usable_a,
                    charger_phases: bays[i].mask & 0b111,
                    vehicle_phases: bays[i].vehicle_mask,
                })
                .collect();
            tally
                .at_lowest
                .sort_by(|a, b| b.below_share_a().total_cmp(&a.below_share_a()));
        }
    }

    /// Every stretch scored so far, the one being scored included.
    pub(super) fn scores(&self) -> Vec<StretchScore> {
        let mut out = self.closed.clone();
        out.extend(self.current.clone().and_then(Tally::close));
        out
    }
}

impl Tally {
    fn close(self) -> Option<StretchScore> {
        (self.measured_s > 0.0).then(|| StretchScore {
            since: self.since,
            measured_s: self.measured_s,
            mean: self.score_s / self.measured_s,
            lowest: self.lowest,
            causes: StretchCauses::default(),
            at_lowest: self.at_lowest,
        })
    }
}

/// The day's following scores as lines of text: the distribution, then the lowest
/// stretches with the vehicles below their due aim at each one's lowest step.
pub(super) fn report(out: &mut String, scores: &[StretchScore], target: f64) {
    let pct = |x: f64| format!("{:.1} %", x * 100.0);
    let Some((lowest, p5, share)) = stretches::distribution(scores, target) else {
        let _ = writeln!(out, "following the aim: nothing scored");
        return;
    };
    let measured: f64 = scores.iter().map(|s| s.measured_s).sum();
    let mean = scores.iter().map(|s| s.mean * s.measured_s).sum::<f64>() / measured;
    let _ = writeln!(
        out,
        "{:<34} mean {}, lowest {}, p5 {}, {} of {} at >= {}",
        "following the aim (plan + fill)",
        pct(mean),
        pct(lowest),
        pct(p5),
        pct(share),
        scores.len(),
        pct(target)
    );
    let mut sorted: Vec<&StretchScore> = scores.iter().filter(|s| s.mean < target).collect();
    sorted.sort_by(|a, b| a.mean.total_cmp(&b.mean));
    for s in sorted.into_iter().take(REPORT_LOWEST) {
        let bays: Vec<String> = s
            .at_lowest
            .iter()
            .map(|b| format!("{} {:.0}/{:.0}", b.bay, b.limit_a, b.reference_a))
            .collect();
        let _ = writeln!(
            out,
            "  {} {:>6.0} s {} (lowest step {}; limit/due A: {})",
            s.since.format("%H:%M:%S"),
            s.measured_s,
            pct(s.mean),
            pct(s.lowest),
            bays.join(", ")
        );
    }
}
