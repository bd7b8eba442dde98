//! A car that switches a phase on, with `learn-vehicle-phases` on (issue 9, S1): the rise
//! on the grid meter asks at once for a sample of every charger counted off that phase.
//!
//! Grid 100 A, margin 4 A, 20 A of building load on an SDM630 over Modbus TCP; three
//! three-phase chargers: two with single-phase cars (one OCPP 1.6, one 2.0.1), counted on
//! L1 once their samples show it, and one with a three-phase car, counted on every phase.
//! The 1.6 car switches L2 and L3 on between two of its charger's 30 s reports. Checked:
//! within `ASKED_WITHIN` of the switch both single-phase chargers are asked for a sample
//! (TriggerMessage MeterValues, with the reason in the audit log), once; the three-phase
//! one never; and the switching car's charger, counted on L1 alone before, counts on all
//! three phases a second after that (its sample answered at once). (Before the switch they
//! may be asked too: a car's ramp that the derivation does not put down to chargegate's
//! own increase is derived load until its charger's sample shows it, and a rise is a rise.)

use std::time::Duration;

use chargegate::clock::Clock;
use chargegate::daemon;
use chargegate::sim::SimVehicle;

use crate::site_liveness::{self, LiveSite, TICK};

/// The chargers report this often on their own.
const REPORT_EVERY: Duration = Duration::from_secs(30);
/// The 1.6 car switches its other phases on this long after the start: its charger's
/// samples have shown one phase four times, and its next report is 25 s away, so only a
/// sample asked for shows the switch within `ASKED_WITHIN`.
const SWITCH_AFTER: Duration = Duration::from_secs(125);
/// The meter's poll (1 s), the vehicle's ramp on the new phases (its 0.3 s delay), the
/// site feed's period (1 s), a dispatch round and the request on the wire.
const ASKED_WITHIN: Duration = Duration::from_secs(4);
const RUN: Duration = Duration::from_secs(170);
/// The audit reason of a sample asked for after a rise (`dispatch::samples::after_rise`).
const REASON: &str = "switched that phase on";

#[tokio::test(start_paused = true)]
async fn a_phase_switched_on_asks_the_chargers_counted_off_it_for_a_sample() {
    let start = chrono::DateTime::parse_from_rfc3339("2026-12-01T22:10:00Z")
        .unwrap()
        .to_utc();
    let clock = Clock::virtual_from(start);
    let mut site =
        LiveSite::start(clock, &[16.0, 16.0, 32.0], "learn-vehicle-phases = true\n").await;
    let (meter, daemon, bays) = (&site.meter, &site.daemon, &mut site.bays);
    let switch_at = start + chrono::TimeDelta::from_std(SWITCH_AFTER).unwrap();
    bays[0].vehicle =
        SimVehicle::new(16.0, 1, Duration::from_millis(300)).with_phases_from(switch_at, 3);
    bays[1].vehicle = SimVehicle::new(16.0, 1, Duration::from_millis(400));

    drive(bays, (meter, daemon), clock, switch_at).await;

    let asked = asked_after_a_rise(daemon).await;
    let by = |i: usize| -> Vec<&String> {
        asked
            .iter()
            .filter(|(_, id)| *id == bays[i].name)
            .map(|(ts, _)| ts)
            .collect()
    };
    let within = switch_at + chrono::TimeDelta::from_std(ASKED_WITHIN).unwrap();
    for i in [0, 1] {
        let after: Vec<_> = by(i)
            .into_iter()
            .map(|ts| chrono::DateTime::parse_from_rfc3339(ts).unwrap().to_utc())
            .filter(|ts| *ts >= switch_at)
            .collect();
        let [ts] = after[..] else {
            panic!(
                "{}: counted on L1, it should have been asked for a sample once after the \
                 switch, with the reason in the audit log: {asked:?}\n{}",
                bays[i].name,
                crate::common::audit_tail(daemon, 30).await
            );
        };
        assert!(
            ts <= within,
            "{} was asked at {ts}: not within {ASKED_WITHIN:?} of the switch at {switch_at}",
            bays[i].name
        );
    }
    assert!(
        by(2).is_empty(),
        "the three-phase charger is counted on every phase and was asked: {asked:?}"
    );
    site.stop().await;
}

/// Runs the site for `RUN`, each charger reporting every `REPORT_EVERY` and at once when
/// asked. Checks at every tick the phases chargegate counts the switching car's charger on:
/// only L1 at some moment before the switch (learned), and all three from `ASKED_WITHIN`
/// plus a second for the sample after it (a limit there counts on the fuse again, S1).
async fn drive(
    bays: &mut [site_liveness::Bay],
    (meter, daemon): (&chargegate::sim::SimMeter, &daemon::Daemon),
    clock: Clock,
    switch_at: chrono::DateTime<chrono::Utc>,
) {
    let started = clock.instant();
    let mut last_report = started;
    let counted_from = switch_at
        + chrono::TimeDelta::from_std(ASKED_WITHIN).unwrap()
        + chrono::TimeDelta::seconds(1);
    let mut learned_before_switch = false;
    while clock.instant() - started < RUN {
        site_liveness::drive(bays, meter, clock);
        let now = clock.now();
        let counted = daemon.plan.borrow().snapshot.as_ref().and_then(|s| {
            let c = s.chargers.iter().find(|c| c.id.as_str() == bays[0].name)?;
            Some(c.site_phases)
        });
        if now < switch_at {
            learned_before_switch |= counted == Some([true, false, false]);
        } else if now >= counted_from {
            assert_eq!(
                counted,
                Some([true; 3]),
                "{now}: {} draws on three phases since {switch_at} and is counted on fewer",
                bays[0].name
            );
        }
        // A charger answers a TriggerMessage(MeterValues) with a sample at once.
        for bay in bays.iter_mut() {
            if !bay.sim.take_meter_value_requests().is_empty() {
                site_liveness::report(std::slice::from_mut(bay), clock).await;
            }
        }
        if clock.instant() - last_report >= REPORT_EVERY {
            last_report = clock.instant();
            site_liveness::report(bays, clock).await;
        }
        tokio::time::sleep(TICK).await;
    }
    assert!(
        learned_before_switch,
        "{} was never counted on its car's one phase before the switch",
        bays[0].name
    );
}

/// The TriggerMessages sent after a rise: (time, charger), from the audit log.
async fn asked_after_a_rise(daemon: &daemon::Daemon) -> Vec<(String, String)> {
    daemon
        .csms
        .store()
        .call(|c| chargegate::store::audit_entries(c, None, Some("TriggerMessage"), 1000))
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.reason.contains(REASON))
        .map(|r| (r.ts, r.charger_id))
        .collect()
}
