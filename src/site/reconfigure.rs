//! A reload's changes to the live site state (`config::diff` decides which reach here):
//! limits, margin and worst-case loads in place, chargers added offline and empty, the
//! departure schedule. What the state learnt (loads, vehicles, who is online) stays.
//!
//! `tightest` is the site the guard checks between a reload and its replan: every limit
//! at the lower of old and new, so a lowered limit cuts at once and a raised one waits for
//! the replan. Pure, like the rest of `site`.

use super::topology::{circuit_tree, offline_chargers};
use super::{SiteSnapshot, SiteState};
use crate::config::Config;
use crate::units::Amps;

impl SiteState {
    /// Takes the config's limits, margin, worst-case loads, new chargers and departures.
    /// The circuit tree and the existing chargers' own settings are as at start (a reload
    /// that changes them needs a restart, `config::diff`).
    pub fn reconfigure(&mut self, config: &Config) {
        let fresh = circuit_tree(config);
        for node in &mut self.snapshot.circuits {
            let Some(new) = fresh.iter().find(|n| n.id == node.id) else {
                continue;
            };
            node.limit = new.limit;
            node.worst_case_load = new.worst_case_load;
            node.sees_phase_switches = new.sees_phase_switches;
            // An unmetered board's load is its configured worst case, for good.
            if !new.stale {
                node.load = new.load;
            }
        }
        self.snapshot.margin = config.site.margin;
        let added: Vec<_> = offline_chargers(config, &self.snapshot.circuits)
            .into_iter()
            .filter(|c| !self.index.contains_key(&c.id))
            .collect();
        self.snapshot.chargers.extend(added);
        self.reindex();
        self.departures = config.departures.clone();
        self.learned.reconfigure(config);
    }
}

/// `new` with every circuit's limit at the lower of `old`'s and `new`'s, the margin and
/// the worst-case loads at the higher.
pub fn tightest(old: &SiteSnapshot, new: &SiteSnapshot) -> SiteSnapshot {
    let mut out = new.clone();
    out.margin = Amps(old.margin.0.max(new.margin.0));
    for node in &mut out.circuits {
        if let Some(before) = old.circuits.iter().find(|o| o.id == node.id) {
            node.limit = Amps(before.limit.0.min(node.limit.0));
            node.worst_case_load = Amps(before.worst_case_load.0.max(node.worst_case_load.0));
            // Learned phases count only where both sides allow them.
            node.sees_phase_switches &= before.sees_phase_switches;
            // An unmetered board whose configured load fell keeps the old one until the
            // replan (a metered board's load is the same reading on both sides).
            for (n, b) in node.load.iter_mut().zip(&before.load) {
                n.0 = n.0.max(b.0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::ChargerId;

    const BASE: &str = r#"
[site]
id = "t"
grid-limit-a = 100
margin-a = 5
worst-case-load-a = 40

[[circuit]]
id = "board-a"
limit-a = 63
worst-case-load-a = 10

[[charger]]
id = "CP-01"
password = "correct-horse-battery"
max-current-a = 32
"#;

    fn config(text: &str) -> Config {
        crate::config::parse(text).unwrap_or_else(|p| panic!("{p:#?}"))
    }

    #[test]
    fn limits_and_new_chargers_arrive_and_what_was_learnt_stays() {
        let now = chrono::Utc::now();
        let old = config(BASE);
        let mut state = SiteState::from_config(&old);
        assert!(state.apply_load(None, Some([Amps(20.0); 3])));
        let cp1 = ChargerId::new("CP-01").unwrap();
        state.set_offline(&cp1);
        let new = config(
            &(BASE
                .replace("grid-limit-a = 100", "grid-limit-a = 80")
                .replace(
                    "limit-a = 63\nworst-case-load-a = 10",
                    "limit-a = 50\nworst-case-load-a = 12",
                )
                + "\n[[charger]]\nid = \"CP-02\"\npassword = \"correct-horse-battery\"\nmax-current-a = 16\ncircuit = \"board-a\"\n"),
        );
        state.reconfigure(&new);
        let snap = state.snapshot(now);
        assert_eq!(snap.circuits[0].limit, Amps(80.0));
        assert_eq!(snap.circuits[0].load, [Amps(20.0); 3], "the reading stays");
        assert!(!snap.circuits[0].stale);
        assert_eq!(snap.circuits[1].limit, Amps(50.0));
        assert_eq!(
            snap.circuits[1].load,
            [Amps(12.0); 3],
            "unmetered: its worst case"
        );
        assert_eq!(snap.chargers.len(), 2);
        let cp2 = &snap.chargers[1];
        assert_eq!(
            (cp2.id.as_str(), cp2.circuit, cp2.online),
            ("CP-02", 1, false)
        );
        // Reconfiguring again adds nobody twice.
        state.reconfigure(&new);
        assert_eq!(state.snapshot(now).chargers.len(), 2);
    }

    #[test]
    fn between_reload_and_replan_the_lower_limit_and_the_higher_load_hold() {
        let now = chrono::Utc::now();
        let old = SiteState::from_config(&config(BASE)).snapshot(now);
        let new = config(
            &BASE
                .replace("grid-limit-a = 100", "grid-limit-a = 120")
                .replace("margin-a = 5", "margin-a = 8")
                .replace(
                    "limit-a = 63\nworst-case-load-a = 10",
                    "limit-a = 40\nworst-case-load-a = 5",
                ),
        );
        let mut state = SiteState::from_config(&config(BASE));
        state.reconfigure(&new);
        let t = tightest(&old, &state.snapshot(now));
        assert_eq!(t.circuits[0].limit, Amps(100.0), "raised: not yet");
        assert_eq!(t.margin, Amps(8.0));
        assert_eq!(t.circuits[1].limit, Amps(40.0), "lowered: at once");
        assert_eq!(t.circuits[1].load, [Amps(10.0); 3]);
        assert_eq!(t.circuits[1].worst_case_load, Amps(10.0));
    }
}
