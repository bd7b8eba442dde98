//! Utilisation per steady stretch, as issue 9 words it: in every stretch where nothing
//! the reference depends on moves (building load, limits, who wants more) for longer than
//! the settle time, the limits of the wanting vehicles must reach 95 % of the room, capped
//! by what the vehicles can take. `DayMetrics` scores each step against the reference and
//! hands the step's figures per site phase here; a stretch's score is the time-weighted
//! mean of its scored steps.
//!
//! For a stretch that falls short the figures also say where the room went, on the site
//! phase that fell shortest: to vehicles that draw on it (`used_a`), to limits above what
//! a vehicle takes, to chargers whose vehicle draws on other phases (a single-phase vehicle
//! on a three-phase charger holds its limit on all three as DESIGN.md S1 counts it), to
//! chargers whose vehicle wants nothing, or to nobody (`free_a`). Pure, like the metrics.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::metrics::{BayInfo, BayStep, bits};

/// Tolerance for comparing currents, A.
const EPS_A: f64 = 1e-6;

/// Where a site phase's room went during a step, or on average over a stretch, A.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StretchCauses {
    /// Site phase (0 = L1).
    pub phase: usize,
    /// limit - margin - building load on the phase.
    pub room_a: f64,
    /// The reference's share of the wanting vehicles that draw on the phase.
    pub reference_a: f64,
    /// Limits of wanting vehicles that draw on the phase, each up to what it takes.
    pub used_a: f64,
    /// Limits above what their vehicle takes.
    pub beyond_vehicle_a: f64,
    /// Limits of chargers on the phase whose wanting vehicle draws on other phases: room
    /// that DESIGN.md S1, counting a limit on every phase of its charger, holds for them
    /// there, though nothing draws it (part of `free_a`).
    pub other_phase_a: f64,
    /// Limits of chargers on the phase whose vehicle wants nothing, or that have none.
    pub not_wanting_a: f64,
    /// Room no limit can draw on (negative: over): limit - margin - building less the
    /// limits on the phase of chargers without a vehicle and of vehicles that draw on it.
    pub free_a: f64,
    /// Wanting vehicles on the phase held below their minimum (paused).
    pub paused: f64,
}

impl StretchCauses {
    /// The step's figures on site phase `phase`: `reference` is the reference allocation
    /// per bay, `room0` the room per constraint before any charger.
    pub(super) fn of_step(
        phase: usize,
        at: DateTime<Utc>,
        bays: &[BayInfo],
        per_bay: &[BayStep],
        reference: &[f64],
        room0: &[f64; 6],
    ) -> Self {
        let mut c = StretchCauses {
            phase,
            room_a: room0[phase],
            ..Self::default()
        };
        let mut committed = 0.0;
        for ((info, step), share) in bays.iter().zip(per_bay).zip(reference) {
            if bits(info.mask).all(|k| k != phase) {
                continue;
            }
            let limit = step.limit_a.max(0.0);
            if info.loads(at) & (1 << phase) != 0 {
                committed += limit;
            }
            let draws_here = info.vehicle_mask_at(at) & (1 << phase) != 0;
            if !step.wants_more {
                c.not_wanting_a += limit;
            } else if !draws_here {
                c.other_phase_a += limit;
            } else {
                c.reference_a += share;
                c.used_a += limit.min(info.usable_a);
                c.beyond_vehicle_a += (limit - info.usable_a).max(0.0);
                if limit < info.min_a - EPS_A {
                    c.paused += 1.0;
                }
            }
        }
        c.free_a = room0[phase] - committed;
        c
    }

    /// The step's score on this phase (0..=1), or `None` when the reference gives the
    /// phase less than `min_scored_a` (no controller could use it without breaking S4).
    pub(super) fn score(&self, min_scored_a: f64) -> Option<f64> {
        (self.reference_a >= min_scored_a).then(|| (self.used_a / self.reference_a).min(1.0))
    }

    /// Adds `other` x `weight` (for a time-weighted mean).
    fn add(&mut self, other: &Self, weight: f64) {
        self.room_a += other.room_a * weight;
        self.reference_a += other.reference_a * weight;
        self.used_a += other.used_a * weight;
        self.beyond_vehicle_a += other.beyond_vehicle_a * weight;
        self.other_phase_a += other.other_phase_a * weight;
        self.not_wanting_a += other.not_wanting_a * weight;
        self.free_a += other.free_a * weight;
        self.paused += other.paused * weight;
    }

    fn scaled(self, factor: f64) -> Self {
        let mut out = Self {
            phase: self.phase,
            ..Self::default()
        };
        out.add(&self, factor);
        out
    }
}

/// One wanting vehicle at a stretch's lowest step: what it held against its fair share,
/// so a short stretch can be read vehicle by vehicle (who sat below its share, and who held
/// a limit on phases it does not draw on).
#[derive(Debug, Clone, PartialEq)]
pub struct BayAtWorst {
    pub bay: String,
    /// The limit its charger applied, A per phase.
    pub limit_a: f64,
    /// The reference's (max-min fair) share, A.
    pub reference_a: f64,
    /// What the vehicle takes at most, A.
    pub usable_a: f64,
    /// Site phases the charger's limit loads (S1), as bits 0..3.
    pub charger_phases: u8,
    /// Site phases the vehicle draws on, as bits 0..3.
    pub vehicle_phases: u8,
}

impl BayAtWorst {
    /// The wanting vehicles of a step, from its figures per bay, ordered by how far each
    /// fell below its share (the furthest first).
    pub(super) fn of_step(bays: &[BayInfo], per_bay: &[BayStep], reference: &[f64]) -> Vec<Self> {
        let mut out: Vec<Self> = bays
            .iter()
            .zip(per_bay)
            .zip(reference)
            .filter(|((_, step), _)| step.wants_more)
            .map(|((info, step), share)| Self {
                bay: info.id.clone(),
                limit_a: step.limit_a,
                reference_a: *share,
                usable_a: info.usable_a,
                charger_phases: info.mask & 0b111,
                vehicle_phases: info.vehicle_mask,
            })
            .collect();
        out.sort_by(|a, b| b.below_share_a().total_cmp(&a.below_share_a()));
        out
    }

    /// How far its limit (up to what it takes) is below its share, A (negative: above).
    pub fn below_share_a(&self) -> f64 {
        self.reference_a - self.limit_a.min(self.usable_a)
    }
}

/// One steady stretch's score.
#[derive(Debug, Clone, PartialEq)]
pub struct StretchScore {
    pub since: DateTime<Utc>,
    /// Scored time (after the settle time), s.
    pub measured_s: f64,
    /// Time-weighted mean of the scored steps (0..=1).
    pub mean: f64,
    /// The lowest step score.
    pub lowest: f64,
    /// Time-weighted means on the site phase whose scored steps fell shortest of the
    /// reference (the most A x s of reference - used).
    pub causes: StretchCauses,
    /// The wanting vehicles at the stretch's lowest step, furthest below their share first.
    pub at_lowest: Vec<BayAtWorst>,
}

/// A stretch's scored steps so far.
#[derive(Debug, Clone, Default)]
pub(super) struct StretchTally {
    pub measured_s: f64,
    score_s: f64,
    lowest: Option<f64>,
    /// Per site phase: the causes x seconds of the scored steps.
    per_phase: [StretchCauses; 3],
    /// The wanting vehicles at the lowest step so far.
    at_lowest: Vec<BayAtWorst>,
}

impl StretchTally {
    /// A scored step of `dt_s` with the step's `score` (its worst phase), its figures per
    /// site phase, and its wanting vehicles (asked for only when the step is the lowest
    /// so far: building them every step would cost the day's run time).
    pub fn add(
        &mut self,
        dt_s: f64,
        score: f64,
        phases: &[StretchCauses; 3],
        bays: impl FnOnce() -> Vec<BayAtWorst>,
    ) {
        self.measured_s += dt_s;
        self.score_s += score * dt_s;
        if self.lowest.is_none_or(|l| score < l) {
            self.lowest = Some(score);
            self.at_lowest = bays();
        }
        for (sum, step) in self.per_phase.iter_mut().zip(phases) {
            sum.phase = step.phase;
            sum.add(step, dt_s);
        }
    }

    /// The stretch's score, `None` when nothing was scored.
    pub fn close(&self, since: DateTime<Utc>) -> Option<StretchScore> {
        if self.measured_s <= 0.0 {
            return None;
        }
        let gap = |c: &StretchCauses| c.reference_a - c.used_a;
        let shortest = self
            .per_phase
            .iter()
            .copied()
            .reduce(|a, b| if gap(&b) > gap(&a) { b } else { a })
            .unwrap_or_default();
        Some(StretchScore {
            since,
            measured_s: self.measured_s,
            mean: self.score_s / self.measured_s,
            lowest: self.lowest.unwrap_or(0.0),
            causes: shortest.scaled(1.0 / self.measured_s),
            at_lowest: self.at_lowest.clone(),
        })
    }
}

/// The distribution of stretch scores: (lowest, 5th percentile by count (nearest rank),
/// share of stretches at or above `target`), or `None` without a stretch.
pub fn distribution(scores: &[StretchScore], target: f64) -> Option<(f64, f64, f64)> {
    if scores.is_empty() {
        return None;
    }
    let mut means: Vec<f64> = scores.iter().map(|s| s.mean).collect();
    means.sort_by(f64::total_cmp);
    let rank = ((0.05 * means.len() as f64).ceil() as usize).max(1) - 1;
    let at_target = means.iter().filter(|m| **m >= target - EPS_A).count();
    Some((means[0], means[rank], at_target as f64 / means.len() as f64))
}

/// The causes of the stretches below `target`, time-weighted over them: where the room of
/// the phase that fell shortest went, on average (`phase` 0: they differ).
pub fn shortfall_causes(scores: &[StretchScore], target: f64) -> Option<StretchCauses> {
    let short: Vec<&StretchScore> = scores.iter().filter(|s| s.mean < target).collect();
    let total_s: f64 = short.iter().map(|s| s.measured_s).sum();
    if total_s <= 0.0 {
        return None;
    }
    let mut sum = StretchCauses::default();
    for s in short {
        sum.add(&s.causes, s.measured_s);
    }
    Some(sum.scaled(1.0 / total_s))
}

/// How many of the lowest stretches `report` lists.
const REPORT_LOWEST: usize = 12;

/// The stretch distribution, the causes of the short ones and the lowest stretches, as
/// lines of text.
pub fn report(out: &mut String, scores: &[StretchScore], target: f64) {
    let pct = |x: f64| format!("{:.1} %", x * 100.0);
    let Some((lowest, p5, share)) = distribution(scores, target) else {
        let _ = writeln!(out, "no steady stretch scored");
        return;
    };
    let short_s: f64 = scores
        .iter()
        .filter(|s| s.mean < target)
        .map(|s| s.measured_s)
        .sum();
    let _ = writeln!(
        out,
        "{:<34} lowest {}, p5 {}, {} of {} at >= {} ({:.1} h short)",
        "steady stretches",
        pct(lowest),
        pct(p5),
        pct(share),
        scores.len(),
        pct(target),
        short_s / 3600.0
    );
    if let Some(c) = shortfall_causes(scores, target) {
        let _ = writeln!(
            out,
            "  short stretches, mean A on the phase that fell shortest:"
        );
        let _ = writeln!(out, "  {}", causes_line(&c));
    }
    let mut lowest: Vec<&StretchScore> = scores.iter().filter(|s| s.mean < target).collect();
    lowest.sort_by(|a, b| a.mean.total_cmp(&b.mean));
    for s in lowest.iter().take(REPORT_LOWEST) {
        let _ = writeln!(
            out,
            "  {} {:>5.0} s {:>6} L{}: {}",
            s.since.format("%H:%M:%S"),
            s.measured_s,
            pct(s.mean),
            s.causes.phase + 1,
            causes_line(&s.causes)
        );
    }
    for s in lowest.iter().take(REPORT_VEHICLES_OF) {
        let _ = writeln!(
            out,
            "  at the lowest step of {}, the wanting vehicles (limit / fair share / takes, A; phases of charger > vehicle):",
            s.since.format("%H:%M:%S")
        );
        let _ = writeln!(out, "    {}", vehicles_line(&s.at_lowest));
    }
}

/// For how many of the lowest stretches `report` lists the wanting vehicles.
const REPORT_VEHICLES_OF: usize = 3;

fn vehicles_line(bays: &[BayAtWorst]) -> String {
    let phases = |mask: u8| -> String {
        (0..3u8)
            .filter(|p| mask & (1 << p) != 0)
            .map(|p| char::from(b'1' + p))
            .collect()
    };
    bays.iter()
        .map(|b| {
            format!(
                "{} {:.0}/{:.0}/{:.0} L{}>{}",
                b.bay,
                b.limit_a,
                b.reference_a,
                b.usable_a,
                phases(b.charger_phases),
                phases(b.vehicle_phases)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn causes_line(c: &StretchCauses) -> String {
    format!(
        "room {:.1} ref {:.1} used {:.1} | beyond vehicle {:.1}, not wanting {:.1}, free {:.1} (limits of other-phase vehicles {:.1}), paused {:.1}",
        c.room_a,
        c.reference_a,
        c.used_a,
        c.beyond_vehicle_a,
        c.not_wanting_a,
        c.free_a,
        c.other_phase_a,
        c.paused
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(mean: f64, measured_s: f64, causes: StretchCauses) -> StretchScore {
        StretchScore {
            since: DateTime::<Utc>::UNIX_EPOCH,
            measured_s,
            mean,
            lowest: mean,
            causes,
            at_lowest: Vec::new(),
        }
    }

    #[test]
    fn the_distribution_is_by_count_with_a_nearest_rank_percentile() {
        assert_eq!(distribution(&[], 0.95), None);
        // 20 stretches: 0.50, 0.55, ..., 1.45 (capped scores would be <= 1; the maths
        // does not care). p5 of 20 by nearest rank is the first.
        let scores: Vec<StretchScore> = (0..20)
            .rev()
            .map(|i| score(0.5 + 0.05 * f64::from(i), 1.0, StretchCauses::default()))
            .collect();
        let (lowest, p5, share) = distribution(&scores, 0.95).expect("scores");
        assert!((lowest - 0.5).abs() < 1e-9);
        assert!((p5 - 0.5).abs() < 1e-9);
        // 0.95 and above: i = 9..19, 11 of 20.
        assert!((share - 11.0 / 20.0).abs() < 1e-9, "{share}");
        // 40 stretches: p5 is the second lowest.
        let scores: Vec<StretchScore> = (0..40)
            .map(|i| score(f64::from(i) / 40.0, 1.0, StretchCauses::default()))
            .collect();
        let (_, p5, _) = distribution(&scores, 0.95).expect("scores");
        assert!((p5 - 1.0 / 40.0).abs() < 1e-9, "{p5}");
    }

    #[test]
    fn a_tally_names_the_phase_that_fell_shortest_and_averages_its_causes() {
        let mut tally = StretchTally::default();
        assert_eq!(tally.close(DateTime::<Utc>::UNIX_EPOCH), None);
        let phase = |phase, reference_a, used_a, other_phase_a| StretchCauses {
            phase,
            reference_a,
            used_a,
            other_phase_a,
            ..StretchCauses::default()
        };
        // L2 falls 10 A short for 1 s and 4 A for 3 s: 22 A s, more than L1's 20.
        tally.add(
            1.0,
            0.5,
            &[
                phase(0, 20.0, 15.0, 0.0),
                phase(1, 20.0, 10.0, 10.0),
                phase(2, 0.0, 0.0, 0.0),
            ],
            Vec::new,
        );
        tally.add(
            3.0,
            0.8,
            &[
                phase(0, 20.0, 15.0, 0.0),
                phase(1, 20.0, 16.0, 4.0),
                phase(2, 0.0, 0.0, 0.0),
            ],
            Vec::new,
        );
        let s = tally.close(DateTime::<Utc>::UNIX_EPOCH).expect("scored");
        assert_eq!(s.measured_s, 4.0);
        assert!((s.mean - (0.5 + 3.0 * 0.8) / 4.0).abs() < 1e-9);
        assert_eq!(s.lowest, 0.5);
        assert_eq!(s.causes.phase, 1);
        assert!((s.causes.used_a - 14.5).abs() < 1e-9, "{:?}", s.causes);
        assert!((s.causes.other_phase_a - 5.5).abs() < 1e-9);
        // Over the short stretches only, weighted by their time.
        let full = score(1.0, 100.0, phase(0, 30.0, 30.0, 0.0));
        let causes = shortfall_causes(&[s.clone(), full.clone()], 0.95).expect("one short");
        // (Across stretches the phase is no one's: 0.)
        assert_eq!(
            causes,
            StretchCauses {
                phase: 0,
                ..s.causes
            }
        );
        assert_eq!(shortfall_causes(&[full], 0.95), None);
    }

    fn bay(bay: &str, limit_a: f64, reference_a: f64, usable_a: f64) -> BayAtWorst {
        BayAtWorst {
            bay: bay.to_string(),
            limit_a,
            reference_a,
            usable_a,
            charger_phases: 0b111,
            vehicle_phases: 0b001,
        }
    }

    #[test]
    fn a_tally_keeps_the_vehicles_of_its_lowest_step_and_the_report_lists_them() {
        let mut tally = StretchTally::default();
        let phases = [StretchCauses::default(); 3];
        tally.add(1.0, 0.8, &phases, || vec![bay("A", 10.0, 12.0, 16.0)]);
        // The lowest step's vehicles replace the earlier ones ...
        tally.add(1.0, 0.4, &phases, || vec![bay("B", 0.0, 9.0, 16.0)]);
        // ... and a higher step's are not even built.
        tally.add(1.0, 0.6, &phases, || {
            panic!("built for a step that is not the lowest")
        });
        let s = tally.close(DateTime::<Utc>::UNIX_EPOCH).expect("scored");
        assert_eq!(s.lowest, 0.4);
        assert_eq!(s.at_lowest, vec![bay("B", 0.0, 9.0, 16.0)]);
        let mut out = String::new();
        report(&mut out, &[s], 0.95);
        assert!(out.contains("B 0/9/16 L123>1"), "{out}");
    }

    #[test]
    fn below_share_counts_a_limit_only_up_to_what_the_vehicle_takes() {
        // A 20 A limit on a vehicle that takes 16 is 4 A over a 12 A share, not 8.
        assert!((bay("over", 20.0, 12.0, 16.0).below_share_a() + 4.0).abs() < 1e-9);
        assert!((bay("paused", 0.0, 9.0, 10.0).below_share_a() - 9.0).abs() < 1e-9);
        assert!((bay("short", 8.0, 10.0, 16.0).below_share_a() - 2.0).abs() < 1e-9);
    }
}
