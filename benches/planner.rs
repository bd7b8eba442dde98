//! `cargo bench --bench planner`: times `planner::plan` on synthetic sites of 10, 50, 200 and
//! 500 chargers x 96 slots of 15 min, with each model idea switched off in turn, and prints
//! a table of medians (BENCHMARKS.md records the results).
//!
//! Plain `harness = false` timing with `std::time::Instant`: no bench framework needed for
//! medians of a handful of runs. Never used by the daemon.

use std::time::Instant;

use chargegate::config::Config;
use chargegate::planner::{self, Plan, PlanKind, Policy};
use chargegate::site::synthetic;
use chrono::{TimeZone, Utc};

/// A change to the default policy, to measure one model idea.
type Tweak = fn(&mut Policy);

fn policy() -> Policy {
    let config: Config = chargegate::config::parse(
        "[site]\nid = \"bench\"\ngrid-limit-a = 100\nworst-case-load-a = 10\n[planner]\ntime-budget-ms = 30000\n",
    )
    .unwrap_or_else(|p| panic!("{p:?}"));
    Policy::from_config(&config)
}

fn median_ms(runs: usize, mut f: impl FnMut() -> Plan) -> (f64, Plan) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let plan = f();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        last = Some(plan);
    }
    times.sort_by(f64::total_cmp);
    (
        times[times.len() / 2],
        last.unwrap_or_else(|| unreachable!("runs > 0")),
    )
}

fn main() {
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 18, 0, 0).unwrap();
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    use planner::model::PeriodScheme;
    let variants: Vec<(&str, Tweak)> = vec![
        ("default", |_| {}),
        ("coarse periods (30)", |p| p.periods = PeriodScheme::Coarse),
        ("coarse, no fairness term", |p| {
            p.periods = PeriodScheme::Coarse;
            p.fairness = false;
        }),
        ("coarser, no fairness term", |p| p.fairness = false),
        ("coarser, no re-solve after repair", |p| {
            p.resolve_after_repair = false
        }),
        ("coarser, re-solve everything after repair", |p| {
            p.resolve_only_rounded = false
        }),
        ("coarser, no aggregation", |p| p.aggregate = false),
        ("coarser, no top-up", |p| p.top_up = false),
        ("fine periods (96), no top-up", |p| {
            p.periods = PeriodScheme::Fine;
            p.top_up = false;
        }),
        ("fine periods (96), top-up", |p| {
            p.periods = PeriodScheme::Fine
        }),
        #[cfg(feature = "clarabel")]
        ("clarabel backend (default model)", |p| {
            p.backend = planner::model::Backend::Clarabel
        }),
    ];
    let only: Option<String> = std::env::var("PLANNER_BENCH_ONLY").ok();
    println!("| variant | chargers | median ms | runs | kind | shortfall kWh | peak A |");
    println!("| --- | ---: | ---: | ---: | --- | ---: | ---: |");
    for (name, tweak) in &variants {
        if only.as_ref().is_some_and(|o| !name.starts_with(o.as_str())) {
            continue;
        }
        for n in [10usize, 50, 200, 500] {
            if name.starts_with("fine") && n == 500 {
                continue; // tens of seconds a run: 200 tells the quality
            }
            let snap = synthetic::site(n, 42, now);
            let mut p = policy();
            tweak(&mut p);
            let runs = match (quick, n) {
                (true, _) => 1,
                (_, 500) => 3,
                _ => 7,
            };
            let (ms, plan) = median_ms(runs, || planner::plan(&snap, &p, now));
            let kind = match &plan.kind {
                PlanKind::Optimal => "optimal".to_string(),
                PlanKind::EqualShare { reason } => format!("equal-share ({reason})"),
                PlanKind::Failsafe => "failsafe".to_string(),
            };
            println!(
                "| {name} | {n} | {ms:.1} | {runs} | {kind} | {:.1} | {:.1} |",
                plan.total_shortfall().0 / 1000.0,
                plan.peak.0
            );
        }
    }
}
