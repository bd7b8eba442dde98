//! From the control loop's output to dispatch's input: the limit each charger should have
//! now (the plan's current slot, lowered by the guard) and the rows it must fit in.
//!
//! A row is one phase of one circuit: its capacity is the circuit's limit minus the margin
//! and the non-charger load assumed on it (the worst case when the reading is stale, S5);
//! its chargers are those hanging on that circuit or any circuit below it that load that
//! phase. Offline chargers are in the rows too: dispatch counts them at what they may draw.
//! `rows` is pure; `run` is the thin loop.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::round::Row;
use super::task::DispatchInput;
use crate::clock::Clock;
use crate::control::ControlOutput;
use crate::site::SiteSnapshot;
use crate::units::Amps;

/// The rows of a snapshot, in circuit order, L1..L3.
pub fn rows(snapshot: &SiteSnapshot) -> Vec<Row> {
    let phases = usize::from(snapshot.phases.clamp(1, 3));
    let mut rows = Vec::new();
    for (c, circuit) in snapshot.circuits.iter().enumerate() {
        for p in 0..phases {
            let chargers = snapshot
                .chargers
                .iter()
                .filter(|ch| {
                    snapshot.counted_at(ch, c)[p] && snapshot.chain(ch.circuit).contains(&c)
                })
                .map(|ch| ch.id.clone())
                .collect::<Vec<_>>();
            if chargers.is_empty() {
                continue;
            }
            let capacity = (snapshot.budget(c) - snapshot.assumed_load(c, p)).max(0.0);
            let increase_capacity =
                (snapshot.budget(c) - snapshot.load_for_increase(c, p)).max(0.0);
            rows.push(Row {
                name: format!("{}/L{}", circuit.id, p + 1),
                capacity: Amps(capacity),
                increase_capacity: Amps(increase_capacity),
                ramp_open: circuit.ramp_open && !circuit.stale,
                chargers,
            });
        }
    }
    rows
}

/// Dispatch's input for `at` from a control output; `None` before the first plan.
pub fn input(output: &ControlOutput, at: DateTime<Utc>) -> Option<DispatchInput> {
    let (plan, snapshot) = (output.plan.as_ref()?, output.snapshot.as_ref()?);
    let targets: BTreeMap<_, _> = output.limits_at(at).into_iter().collect();
    let why = match output.reductions.is_empty() {
        true => format!("plan #{} ({:?})", output.replans, plan.kind),
        false => format!("plan #{} ({:?}) with guard cuts", output.replans, plan.kind),
    };
    Some(DispatchInput {
        targets,
        rows: rows(snapshot),
        why,
        notes: output.notes.clone(),
        samples_wanted: output.samples_wanted.clone(),
    })
}

/// Publishes dispatch's input whenever the control output changes, until `shutdown`. The
/// control loop replans at every slot boundary and publishes at every load reading, so the
/// plan's slot never moves on without a new output: a tick of its own here would read the
/// old plan's next slot an instant before the new plan arrives.
pub async fn run(
    mut output: watch::Receiver<ControlOutput>,
    dispatch: watch::Sender<DispatchInput>,
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            changed = output.changed() => if changed.is_err() { break },
        }
        let next = input(&output.borrow(), clock.now());
        if let Some(next) = next {
            dispatch.send_if_modified(|current| {
                let changed = *current != next;
                if changed {
                    *current = next;
                }
                changed
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::synthetic;

    #[test]
    fn rows_follow_the_circuit_tree_and_phases() {
        let now = Utc::now();
        let snap = synthetic::site(30, 7, now);
        let rows = rows(&snap);
        assert!(!rows.is_empty());
        for row in &rows {
            let (circuit, phase) = row.name.rsplit_once("/L").unwrap();
            let c = snap.circuits.iter().position(|x| x.id == circuit).unwrap();
            let p: usize = phase.parse::<usize>().unwrap() - 1;
            // Every charger below the circuit on that phase is in, and nobody else.
            for ch in &snap.chargers {
                let belongs = snap.counted_at(ch, c)[p] && snap.chain(ch.circuit).contains(&c);
                assert_eq!(
                    row.chargers.contains(&ch.id),
                    belongs,
                    "{} in {}",
                    ch.id,
                    row.name
                );
            }
            let want = (snap.budget(c) - snap.assumed_load(c, p)).max(0.0);
            assert_eq!(row.capacity, Amps(want));
        }
        // The grid connection's L1 row holds every charger that loads L1.
        let l1 = snap
            .chargers
            .iter()
            .filter(|c| snap.counted_at(c, 0)[0])
            .count();
        let site_l1 = rows
            .iter()
            .find(|r| r.name.ends_with("/L1") && r.name.starts_with(&snap.circuits[0].id))
            .unwrap();
        assert_eq!(site_l1.chargers.len(), l1);
    }
}
