//! The site as the config draws it: the circuit tree and every charger on it, before any
//! reading or event (`SiteState::from_config`, and `reconfigure` for what a reload adds).

use super::{ChargerState, CircuitNode, learned_phases};
use crate::config::{self, Config};
use crate::units::Amps;

/// The site's circuit and its sub-circuits, parents before children: an unmetered
/// sub-board at its worst-case load, a metered one stale until its first reading.
pub(super) fn circuit_tree(config: &Config) -> Vec<CircuitNode> {
    let mut circuits = vec![CircuitNode {
        id: config::SITE_CIRCUIT.to_string(),
        limit: config.site.grid_limit,
        parent: None,
        load: [Amps(0.0); 3],
        stale: true,
        worst_case_load: config.site.worst_case_load,
        unconfirmed: [Amps(0.0); 3],
        sees_phase_switches: learned_phases::sees_phase_switches(config, None),
        unmeasured: [false; 3],
        ramp_open: false,
    }];
    // Parents before children: insert in rounds (config::circuit rejects cycles).
    let mut left: Vec<&config::Circuit> = config.circuits.iter().collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|c| {
            let parent = match &c.parent {
                None => Some(0),
                Some(p) => circuits.iter().position(|n| &n.id == p),
            };
            match parent {
                Some(parent) => {
                    let worst_case_load = c.worst_case_load.unwrap_or(config.site.worst_case_load);
                    // A sub-board without a meter of its own is never measured: its
                    // non-charger load is what the electrician configured, for good.
                    // Only a metered board can go stale (S5); an unmetered one marked
                    // stale would hold the whole site on its failsafe plan.
                    let metered = config
                        .meters
                        .iter()
                        .any(|m| m.circuit.as_deref() == Some(c.id.as_str()));
                    circuits.push(CircuitNode {
                        id: c.id.clone(),
                        limit: c.limit,
                        parent: Some(parent),
                        load: if metered {
                            [Amps(0.0); 3]
                        } else {
                            [worst_case_load; 3]
                        },
                        unconfirmed: [Amps(0.0); 3],
                        stale: metered,
                        worst_case_load,
                        sees_phase_switches: learned_phases::sees_phase_switches(
                            config,
                            Some(&c.id),
                        ),
                        unmeasured: [false; 3],
                        ramp_open: false,
                    });
                    false
                }
                None => true,
            }
        });
        if left.len() == before {
            break; // unreachable for a validated config
        }
    }
    circuits
}

/// Every configured charger, offline and without a vehicle.
pub(super) fn offline_chargers(config: &Config, circuits: &[CircuitNode]) -> Vec<ChargerState> {
    config
        .chargers
        .iter()
        .map(|c| {
            let mut site_phases = [false; 3];
            for p in config::site_phases(c) {
                site_phases[p] = true;
            }
            ChargerState {
                id: c.id.clone(),
                circuit: c
                    .circuit
                    .as_ref()
                    .and_then(|id| circuits.iter().position(|n| &n.id == id))
                    .unwrap_or(0),
                site_phases,
                wired_phases: site_phases,
                min_current: c.min_current,
                max_current: c.max_current,
                priority: c.priority,
                failsafe_current: c.failsafe_current,
                online: false,
                vehicle: None,
            }
        })
        .collect()
}
