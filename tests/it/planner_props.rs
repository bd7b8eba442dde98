//! Property tests of the planner: for random sites (1-300 chargers, one- and three-phase
//! chargers on every rotation, nested circuits, random needs, loads and forecasts), every
//! plan keeps every circuit phase under limit - margin in every slot, respects 0-or-min and
//! max per charger and vehicle, charges nobody absent, and is deterministic.
//! The sums are recomputed here from the snapshot, not taken from the planner.

use chargegate::planner::{self, Plan, Policy};
use chargegate::site::{SiteSnapshot, synthetic};
use chargegate::units::Amps;
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 17, 40, 0).unwrap()
}

fn policy(slot_min: u32, horizon_h: u32) -> Policy {
    let text = format!(
        "[site]\nid = \"p\"\ngrid-limit-a = 100\nworst-case-load-a = 10\n[planner]\nslot-min = {slot_min}\nhorizon-h = {horizon_h}\ntime-budget-ms = 60000\n"
    );
    Policy::from_config(&chargegate::config::parse(&text).unwrap_or_else(|p| panic!("{p:?}")))
}

/// The site with random loads, staleness and history, from the seed.
fn scenario(
    n: usize,
    seed: u64,
    stale: bool,
    slot_min: u32,
    horizon_h: u32,
) -> (SiteSnapshot, Policy) {
    let mut snap = synthetic::site(n, seed, now());
    let mut rng = synthetic::Rng::new(seed ^ 0xA5A5);
    for c in &mut snap.circuits {
        let base = c.limit.0 * 0.3 * rng.unit();
        c.load = [Amps(base), Amps(base * rng.unit()), Amps(base * 1.1)];
    }
    if stale {
        let i = rng.range(0, snap.circuits.len() as u64) as usize;
        snap.circuits[i].stale = true;
    }
    let mut policy = policy(slot_min, horizon_h);
    // History: some hours ahead see higher loads than now (a forecast that varies).
    for h in 0..horizon_h {
        for w in 0..4 {
            let at = now() + Duration::hours(i64::from(h)) - Duration::weeks(w);
            for c in &snap.circuits {
                let a = c.limit.0 * 0.5 * rng.unit();
                policy
                    .history
                    .record(&c.id, at, [Amps(a), Amps(a * 0.5), Amps(a * 0.9)]);
            }
        }
    }
    (snap, policy)
}

#[expect(
    clippy::needless_range_loop,
    reason = "circuit x slot x phase sums read clearer with indices"
)]
fn check(snap: &SiteSnapshot, policy: &Policy, plan: &Plan) -> Result<(), TestCaseError> {
    let slots = policy.slots();
    prop_assert_eq!(plan.slots(), slots);
    let forecast = policy
        .history
        .forecast(snap, plan.start, plan.slot_min, slots);
    // Parents, walked here independently of SiteSnapshot::chain.
    let under = |charger_circuit: usize, c: usize| {
        let mut at = Some(charger_circuit);
        while let Some(i) = at {
            if i == c {
                return true;
            }
            at = snap.circuits[i].parent;
        }
        false
    };
    for (c, node) in snap.circuits.iter().enumerate() {
        for t in 0..slots {
            for p in 0..3 {
                let mut fixed = forecast[c][t][p];
                let mut planned = 0.0;
                for (ch, cp) in snap.chargers.iter().zip(&plan.chargers) {
                    if !ch.site_phases[p] || !under(ch.circuit, c) {
                        continue;
                    }
                    if ch.online {
                        planned += cp.current[t].0;
                    } else {
                        fixed += ch.failsafe_current.0;
                    }
                }
                let room = (node.limit.0 - snap.margin.0 - fixed).max(0.0);
                prop_assert!(
                    planned <= room + 1e-6,
                    "circuit {} phase {} slot {}: {} A planned, {} A room ({:?})",
                    node.id,
                    p,
                    t,
                    planned,
                    room,
                    plan.kind
                );
            }
        }
    }
    for (ch, cp) in snap.chargers.iter().zip(&plan.chargers) {
        let range = ch.range();
        for (t, a) in cp.current.iter().enumerate() {
            match range {
                None => prop_assert_eq!(a.0, 0.0, "{} has no vehicle or is offline", ch.id),
                Some((min, max)) => {
                    prop_assert!(
                        a.0 == 0.0 || (a.0 >= min.0 - 1e-6 && a.0 <= max.0 + 1e-6),
                        "{} slot {}: {} A outside 0 or [{}, {}] (S4)",
                        ch.id,
                        t,
                        a.0,
                        min.0,
                        max.0
                    );
                    if let Some(need) = ch.vehicle.as_ref().and_then(|v| v.need.as_ref()) {
                        let slot_end = plan.start
                            + Duration::minutes(i64::from(plan.slot_min) * (t as i64 + 1));
                        if slot_end > need.departure {
                            prop_assert_eq!(a.0, 0.0, "{} charges after departure", ch.id);
                        }
                    }
                }
            }
        }
        prop_assert!(cp.shortfall.0 >= 0.0);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Small and medium sites over a long horizon with coarse slots.
    #[test]
    fn plans_are_safe_and_deterministic(n in 1usize..=40, seed in any::<u64>(), stale in prop::bool::weighted(0.15)) {
        let (snap, policy) = scenario(n, seed, stale, 60, 12);
        let plan = planner::plan(&snap, &policy, now());
        check(&snap, &policy, &plan)?;
        let again = planner::plan(&snap, &policy, now());
        prop_assert_eq!(plan, again);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Big sites (up to 300 chargers) over few slots, to keep the debug-build suite fast.
    #[test]
    fn big_sites_are_safe(n in 41usize..=300, seed in any::<u64>(), stale in prop::bool::weighted(0.1)) {
        let (snap, policy) = scenario(n, seed, stale, 30, 2);
        let plan = planner::plan(&snap, &policy, now());
        check(&snap, &policy, &plan)?;
        prop_assert_eq!(plan, planner::plan(&snap, &policy, now()));
    }
}
