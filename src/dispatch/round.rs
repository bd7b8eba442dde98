//! One dispatch round, decided purely: which limits go out now (DESIGN.md S1, S2, S4).
//!
//! The site is a set of *rows*: one per circuit and site phase, each with the current still
//! available to chargers (limit - margin - non-charger load, the load taken at its
//! worst case when the meter is stale) and the chargers that load it. A charger counts in
//! every row at its *effective* limit (S1): the highest of its acknowledged limit (while
//! that limit's lease runs), any limit sent but not yet acknowledged, and — when it is
//! offline, silent or rejecting — the current it falls back to by itself (its failsafe if
//! it holds the baseline, else its hardware maximum).
//!
//! A round sends every reduction at once, whatever its size, and sends an increase only
//! where every row the charger loads has room for it with all reductions still counted at
//! their old, unacknowledged value (S2). An increase never leaves a charger between 0 and
//! its minimum (S4): it is granted whole, or cut to what fits if that is still at least the
//! minimum, or held. Increases below the hysteresis are not sent (no chatter). Increases
//! come in waves: none onto a row while the meter shows a ramp on it that no sample has
//! confirmed yet (`Row::increase_capacity` below `capacity`), nor while an increase sent to a
//! charger on it has not been confirmed by that charger's sample (`Row::ramp_open`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::ev::EV_RESPONSE;
use crate::planner::guard::on_wire;
use crate::site::feed::LimitAccount;
use crate::units::{Amps, ChargerId};

/// What dispatch knows about one charger's limit.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerLimit {
    /// The last limit the charger accepted, and until when it holds (`None`: no end, as
    /// the baseline).
    pub acknowledged: Option<(Amps, Option<DateTime<Utc>>)>,
    /// A limit sent and not yet answered.
    pub pending: Option<Amps>,
    /// A limit whose answer never came (timeout, lost connection): the charger may have
    /// applied it, so it counts until its lease would have ended or a newer limit is
    /// acknowledged (the lease profile id is fixed, so the newer one replaced it).
    pub uncertain: Option<(Amps, DateTime<Utc>)>,
    /// Connected, answering, and accepting profiles.
    pub responsive: bool,
    /// Holds an acknowledged failsafe baseline (S3).
    pub baseline_acknowledged: bool,
    /// Reported a composite schedule other than what it acknowledged: nothing it says can
    /// be trusted, so it counts at its hardware maximum until a check agrees again.
    pub distrusted: bool,
    /// A reduction the charger acknowledged whose vehicle may still be following it: the
    /// limit before it, and until when the vehicle may draw that (`EV_RESPONSE` after the
    /// acknowledgement). Increases do not build on the room it frees before then.
    pub following: Option<(Amps, DateTime<Utc>)>,
    pub failsafe: Amps,
    pub max: Amps,
    pub min: Amps,
    /// Higher first when current is short.
    pub priority: u32,
}

impl ChargerLimit {
    /// What the charger falls back to on its own: the baseline's failsafe, or, without an
    /// acknowledged baseline, anything up to its hardware maximum.
    pub fn fallback(&self) -> Amps {
        if self.baseline_acknowledged {
            self.failsafe
        } else {
            self.max
        }
    }

    /// The limit chargegate last sent it (in flight or acknowledged), whatever the charger
    /// may do beyond it: what its vehicle is told it may ramp up to.
    pub fn ordered(&self) -> Option<Amps> {
        self.pending.or(self.acknowledged.map(|(a, _)| a))
    }

    /// The current this charger may draw as far as the site's accounting knows (S1).
    pub fn effective(&self, now: DateTime<Utc>) -> Amps {
        let acknowledged = match self.acknowledged {
            Some((limit, until)) if until.is_none_or(|t| now < t) => limit,
            // An expired lease: the charger is back on its baseline (or worse).
            _ => self.fallback(),
        };
        let mut effective = acknowledged.0.max(self.pending.map_or(0.0, |p| p.0));
        if let Some((limit, until)) = self.uncertain
            && now < until
        {
            effective = effective.max(limit.0);
        }
        if !self.responsive {
            effective = effective.max(self.fallback().0);
        }
        if self.distrusted {
            effective = effective.max(self.max.0);
        }
        Amps(effective)
    }
}

impl ChargerLimit {
    /// What the charger's vehicle may still draw, for the room an increase may take: its
    /// effective limit, or the limit before a reduction it acknowledged while the vehicle
    /// may still be following that (IEC 61851-1 gives it `EV_RESPONSE`). The charger's
    /// acknowledgement says the control pilot changed, not that the vehicle drew less:
    /// room handed out at once carries both vehicles on the fuse, the one cut at its old
    /// draw and the one raised at its new (issue 9: 252 A through a 250 A fuse).
    pub fn holds_room(&self, now: DateTime<Utc>) -> Amps {
        let effective = self.effective(now);
        match self.following {
            Some((before, until)) if now < until => Amps(effective.0.max(before.0)),
            _ => effective,
        }
    }

    /// Records that the charger acknowledged `limit` at `at`, replacing what it held (its
    /// effective limit at `at`): a lower one leaves its vehicle following until
    /// `EV_RESPONSE` from `at`, from the highest limit it may still be following.
    pub fn acknowledge(&mut self, limit: Amps, until: DateTime<Utc>, at: DateTime<Utc>) {
        let before = self.holds_room(at);
        if limit.0 < before.0 {
            let response = chrono::Duration::from_std(EV_RESPONSE).unwrap_or_default();
            self.following = Some((before, at + response));
        }
        self.acknowledged = Some((limit, Some(until)));
    }
}

impl LimitAccount for ChargerLimit {
    fn may_draw(&self, now: DateTime<Utc>) -> Amps {
        self.effective(now)
    }

    fn ordered(&self) -> Option<Amps> {
        ChargerLimit::ordered(self)
    }
}

/// One constraint: a circuit's phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// e.g. `site/L1`, `board-a/L2`: for logs and the audit reason.
    pub name: String,
    /// Current available to chargers on this row (limit - margin - non-charger load).
    pub capacity: Amps,
    /// What increases may fill: `capacity` less the load the meter shows that is not yet
    /// confirmed as vehicles ramping (`SiteSnapshot::load_for_increase`). At most
    /// `capacity`.
    pub increase_capacity: Amps,
    /// An increase onto this row is not yet confirmed by its charger's sample
    /// (`CircuitNode::ramp_open`): no new increase goes onto it until it is.
    pub ramp_open: bool,
    /// The chargers that draw on this row, each once.
    pub chargers: Vec<ChargerId>,
}

/// Tuning of a round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundPolicy {
    /// Increases smaller than this are not sent, in A.
    pub hysteresis: Amps,
}

/// A limit to send and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Send {
    pub charger: ChargerId,
    pub limit: Amps,
    pub reason: String,
}

/// The decisions of one round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Round {
    /// Sent first, all of them (S2).
    pub reductions: Vec<Send>,
    /// Sent after the reductions, each fitting the accounting.
    pub increases: Vec<Send>,
    /// Wanted more but had no room (charger, wanted, the row that blocked it).
    pub held: Vec<(ChargerId, Amps, String)>,
}

/// Rounds a target to S4: below the minimum means paused.
fn s4(target: Amps, min: Amps) -> Amps {
    if target.0 < min.0 { Amps(0.0) } else { target }
}

/// Decides a round. `targets` are what the plan or the guard want per charger; chargers
/// without a target keep their limit.
pub fn decide(
    targets: &BTreeMap<ChargerId, Amps>,
    limits: &BTreeMap<ChargerId, ChargerLimit>,
    rows: &[Row],
    policy: RoundPolicy,
    now: DateTime<Utc>,
) -> Round {
    let mut round = Round::default();
    // The accounting: every charger at its effective limit, unacknowledged reductions
    // included at their old value.
    let committed = accounting(limits, |l| l.effective(now));
    let mut wanted_up = Vec::new();
    for (id, target) in targets {
        let Some(limit) = limits.get(id) else {
            continue;
        };
        // On the wire's step, as it goes out: a target between two steps would be
        // counted above what the charger gets, and a cut inside one step would send the
        // same limit again as a reduction (restarting `min-interval-s`).
        let target = s4(Amps(on_wire(target.0.min(limit.max.0))), limit.min);
        let current = limit.effective(now);
        // A reduction that leaves the wire's value as it is (a limit counted between two
        // steps) is not sent: it would change nothing the vehicle can feel and restart the
        // charger's `min-interval-s`.
        if target.0 < on_wire(current.0) {
            round.reductions.push(Send {
                charger: id.clone(),
                limit: target,
                reason: format!("reduce {:.1} A -> {:.1} A", current.0, target.0),
            });
        } else if target.0 - current.0 >= policy.hysteresis.0 && limit.responsive {
            wanted_up.push((id, limit, target, current));
        }
    }
    shed(&mut round, limits, rows, &committed);
    // Increases count a charger whose vehicle may still follow a reduction at what it
    // held before (`holds_room`); shedding above does not, since that room is S1's on
    // the limits, not the vehicles' response time.
    let mut committed = accounting(limits, |l| l.holds_room(now));
    // A charger that had to shed load gets no increase in the same round.
    wanted_up.retain(|(id, ..)| !round.reductions.iter().any(|r| &r.charger == *id));
    // Highest priority first, then the largest shortfall, then by id for determinism.
    wanted_up.sort_by(|a, b| {
        b.1.priority
            .cmp(&a.1.priority)
            .then((b.2.0 - b.3.0).total_cmp(&(a.2.0 - a.3.0)))
            .then(a.0.cmp(b.0))
    });
    let load = |committed: &BTreeMap<&ChargerId, f64>, row: &Row| -> f64 {
        row.chargers.iter().filter_map(|c| committed.get(c)).sum()
    };
    for (id, limit, target, current) in wanted_up {
        // Increases come in waves: none onto a row while its last wave is unconfirmed,
        // whether the meter shows its vehicles ramping yet or not. A wave sent a second or
        // two after the last (another charger's `min-interval-s` ran out) would keep the
        // ramp open past `site::load::MAX_ATTRIBUTION`, after which every open ramp counts
        // as other load (a phantom overload that cuts the vehicles just raised).
        if let Some(row) = rows.iter().find(|r| {
            r.chargers.contains(id) && (r.ramp_open || r.increase_capacity.0 < r.capacity.0 - 1e-6)
        }) {
            round.held.push((
                id.clone(),
                target,
                format!("{} (ramp unconfirmed)", row.name),
            ));
            continue;
        }
        // The room on the tightest row this charger loads.
        let mut room = f64::INFINITY;
        let mut tightest = String::new();
        for row in rows.iter().filter(|r| r.chargers.contains(id)) {
            let free = row.increase_capacity.0.min(row.capacity.0) - load(&committed, row);
            if free < room {
                room = free;
                tightest = row.name.clone();
            }
        }
        // Down to the wire's step: the part of the room below a step stays headroom for
        // the load's round-off instead of being counted as this charger's.
        let grant = on_wire((current.0 + room.max(0.0)).min(target.0));
        let grant = s4(Amps(grant), limit.min);
        if grant.0 - current.0 >= policy.hysteresis.0 {
            committed.insert(id, grant.0);
            round.increases.push(Send {
                charger: id.clone(),
                limit: grant,
                reason: format!(
                    "increase {:.1} A -> {:.1} A within {tightest}",
                    current.0, grant.0
                ),
            });
        } else {
            // The numbers say why: the room left on the row against the rise asked for
            // (a trace then tells a row full of other limits from one nothing was raised on).
            round.held.push((
                id.clone(),
                target,
                format!(
                    "{tightest}: {:.1} A free for {:.1} A more",
                    room.max(0.0),
                    target.0 - current.0
                ),
            ));
        }
    }
    round
}

/// Each charger at what `count` says it holds, in A.
fn accounting(
    limits: &BTreeMap<ChargerId, ChargerLimit>,
    count: impl Fn(&ChargerLimit) -> Amps,
) -> BTreeMap<&ChargerId, f64> {
    limits.iter().map(|(id, l)| (id, count(l).0)).collect()
}

/// S1 enforcement by dispatch itself: a row still over its capacity with every reduction
/// of this round counted as done (a charger that does not listen and keeps its old limit, a
/// load spike the plan has not caught up with) sheds load from the chargers on it that do
/// listen, lowest priority first and the largest first among equals, pausing rather than
/// going under the minimum (S4).
fn shed(
    round: &mut Round,
    limits: &BTreeMap<ChargerId, ChargerLimit>,
    rows: &[Row],
    committed: &BTreeMap<&ChargerId, f64>,
) {
    let mut planned: BTreeMap<ChargerId, f64> = committed
        .iter()
        .map(|(id, a)| ((*id).clone(), *a))
        .collect();
    for r in &round.reductions {
        planned.insert(r.charger.clone(), r.limit.0);
    }
    for row in rows {
        let mut over = row
            .chargers
            .iter()
            .filter_map(|c| planned.get(c))
            .sum::<f64>()
            - row.capacity.0;
        if over <= 1e-9 {
            continue;
        }
        let mut candidates: Vec<(&ChargerId, &ChargerLimit)> = row
            .chargers
            .iter()
            .filter_map(|id| limits.get_key_value(id))
            .filter(|(id, l)| {
                l.responsive && l.pending.is_none() && planned.get(*id).is_some_and(|a| *a > 0.0)
            })
            .collect();
        candidates.sort_by(|a, b| {
            a.1.priority
                .cmp(&b.1.priority)
                .then(planned[b.0].total_cmp(&planned[a.0]))
                .then(a.0.cmp(b.0))
        });
        for (id, limit) in candidates {
            if over <= 1e-9 {
                break;
            }
            let current = planned[id];
            // Down to the wire's step, so that one shed clears the round-off with it.
            let mut new = on_wire(current - over);
            if new < limit.min.0 {
                new = 0.0;
            }
            over -= current - new;
            planned.insert(id.clone(), new);
            let reason = format!(
                "shed {current:.1} A -> {new:.1} A: {} over its capacity",
                row.name
            );
            match round.reductions.iter_mut().find(|r| &r.charger == id) {
                Some(r) => {
                    r.limit = Amps(new);
                    r.reason = reason;
                }
                None => round.reductions.push(Send {
                    charger: id.clone(),
                    limit: Amps(new),
                    reason,
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests;
