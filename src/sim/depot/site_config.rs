//! The depot day as chargegate's site config: the TOML an integration test or a bench
//! hands the real daemon, so that the daemon and the simulation agree on every limit,
//! charger and price.
//!
//! Text only: the caller writes the file. Keys follow DESIGN.md and `config::site`; the
//! unit tests parse the result with `config::parse`, which also runs `validate`'s checks
//! (S3 failsafes, the meter profile lookup), so a key this module gets wrong fails here.

use std::fmt::Write;
use std::net::SocketAddr;
use std::path::Path;

use super::{DepotDay, PASSWORD};

/// The grid meter's poll interval in the day's config.
pub const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// `x` as a TOML number: whole numbers without a fraction, others as Rust prints them.
fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// `"HH:MM"` from minutes after midnight.
fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A TOML basic string (quotes and backslashes escaped), for paths and addresses.
fn quoted(text: &str) -> String {
    format!("{text:?}")
}

impl DepotDay {
    /// The `[planner]` section with the time-of-use tariff (`[[planner.tariff]]` windows
    /// in UTC `"HH:MM"`, `to` exclusive, wrapping past midnight).
    pub fn tariff_toml(&self) -> String {
        let mut out = String::from("[planner]\n");
        let _ = writeln!(
            out,
            "default-price-per-kwh = {}",
            num(self.tariff.default_price_per_kwh)
        );
        for t in &self.tariff.tariffs {
            let _ = write!(
                out,
                "\n[[planner.tariff]]\nfrom = \"{}\"\nto = \"{}\"\nprice-per-kwh = {}\n",
                hhmm(t.from_min),
                hhmm(t.to_min),
                num(t.price_per_kwh)
            );
        }
        out
    }

    /// One `[[departure]]` per bay (its vehicle's departure time of day and need), for a
    /// test that gives the planner the depot's schedule. Not part of `config_toml`: a
    /// depot does not always know its vehicles' needs.
    pub fn departures_toml(&self) -> String {
        let mut out = String::new();
        for bay in &self.bays {
            let at = super::minute_of_day(bay.vehicle.departure);
            let _ = write!(
                out,
                "\n[[departure]]\ncharger = \"{}\"\nat = \"{}\"\nenergy-kwh = {}\n",
                bay.id,
                hhmm(at),
                num(bay.vehicle.need_wh / 1000.0)
            );
        }
        out
    }

    /// The whole site config: `[site]`, `[csms]` on `csms_listen`, `[http]` on an
    /// ephemeral loopback port, `[store]` at `store_path`, `[dispatch]` with a 600 s lease
    /// (and the default `min-interval-s`), the grid meter (an Eastron SDM630 on Modbus
    /// TCP at `meter_addr`), the sub-board, every charger (password `PASSWORD`) and the
    /// tariff.
    pub fn config_toml(
        &self,
        csms_listen: SocketAddr,
        meter_addr: SocketAddr,
        store_path: &Path,
    ) -> String {
        let s = &self.site;
        let mut out = String::new();
        let _ = write!(
            out,
            "[site]\nid = {}\ngrid-limit-a = {}\nphases = {}\nnominal-voltage-v = {}\n\
             margin-a = {}\nworst-case-load-a = {}\nlearn-vehicle-phases = true\n\n",
            quoted(&s.id),
            num(s.grid_limit_a),
            s.phases,
            num(s.voltage_v),
            num(s.margin_a),
            num(s.worst_case_load_a)
        );
        let _ = write!(
            out,
            "[csms]\nlisten = \"{csms_listen}\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n\
             [store]\npath = {}\n\n[dispatch]\nlease-s = 600\n\n",
            quoted(&store_path.display().to_string())
        );
        // Poll every second; stale after 5 s, so the 3 min silence makes it stale (S5).
        let _ = write!(
            out,
            "[[meter]]\nid = \"grid\"\nprofile = \"eastron-sdm630\"\nrole = \"grid\"\n\
             modbus-tcp = \"{meter_addr}\"\nunit-id = 1\npoll-interval-ms = {}\n\
             stale-after-ms = 5000\n\n",
            POLL_INTERVAL.as_millis()
        );
        // The sub-board feeds only chargers: no building load behind it.
        let _ = write!(
            out,
            "[[circuit]]\nid = {}\nlimit-a = {}\nparent = \"site\"\nworst-case-load-a = 0\n",
            quoted(&s.board_id),
            num(s.board_limit_a)
        );
        for bay in &self.bays {
            let _ = write!(
                out,
                "\n[[charger]]\nid = \"{}\"\npassword = \"{PASSWORD}\"\nmax-current-a = {}\n\
                 min-current-a = {}\nphases = {}\nphase-rotation = \"{}\"\n\
                 failsafe-current-a = {}\n",
                bay.id,
                num(bay.max_a),
                num(bay.min_a),
                bay.phases,
                bay.rotation,
                num(bay.failsafe_a)
            );
            if bay.on_board {
                let _ = writeln!(out, "circuit = {}", quoted(&s.board_id));
            }
        }
        out.push('\n');
        out.push_str(&self.tariff_toml());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::start;
    use super::*;
    use crate::config::{self, MeterRole};

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("a socket address")
    }

    #[test]
    fn numbers_and_times_are_written_as_toml_reads_them() {
        assert_eq!(num(250.0), "250");
        assert_eq!(num(0.4), "0.4");
        assert_eq!(num(0.15), "0.15");
        assert_eq!(hhmm(0), "00:00");
        assert_eq!(hhmm(23 * 60 + 5), "23:05");
        assert_eq!(quoted("C:\\x \"y\""), "\"C:\\\\x \\\"y\\\"\"");
    }

    #[test]
    fn the_config_parses_and_says_what_the_day_says() {
        for seed in [1, 2, 3] {
            let day = DepotDay::generate(seed, 40, start());
            let text = day.config_toml(
                addr("127.0.0.1:8887"),
                addr("127.0.0.1:5020"),
                Path::new("/tmp/depot \"sim\"/cg.db"),
            );
            let cfg = match config::parse(&text) {
                Ok(cfg) => cfg,
                Err(problems) => panic!("seed {seed}: {problems:#?}\n{text}"),
            };
            assert_eq!(cfg.site.grid_limit.0, 250.0);
            assert_eq!(cfg.site.margin.0, 5.0);
            assert_eq!(cfg.site.worst_case_load.0, 90.0);
            assert_eq!(cfg.site.phases, 3);
            assert_eq!(cfg.csms.listen, addr("127.0.0.1:8887"));
            assert_eq!(cfg.store.path, Path::new("/tmp/depot \"sim\"/cg.db"));
            assert_eq!(cfg.dispatch.lease_s, 600);
            assert_eq!(cfg.meters.len(), 1);
            assert_eq!(cfg.meters[0].role, MeterRole::Grid);
            assert_eq!(cfg.circuits.len(), 1);
            assert_eq!(cfg.circuits[0].limit.0, 100.0);
            assert_eq!(cfg.chargers.len(), 40);
            for (c, bay) in cfg.chargers.iter().zip(&day.bays) {
                assert_eq!(c.id.as_str(), bay.id);
                assert_eq!(usize::from(c.phases), bay.phases);
                assert_eq!(c.phase_rotation, bay.rotation);
                assert_eq!(c.failsafe_current.0, bay.failsafe_a);
                assert_eq!(c.circuit.is_some(), bay.on_board);
                let phases: Vec<usize> = config::site_phases(c).collect();
                assert_eq!(phases, bay.site_phases());
            }
            assert_eq!(cfg.planner, day.tariff, "the daemon prices as the day does");
            assert!(cfg.departures.is_empty());
        }
    }

    #[test]
    fn departures_can_be_added() {
        let day = DepotDay::generate(4, 12, start());
        let mut text = day.config_toml(
            addr("127.0.0.1:0"),
            addr("127.0.0.1:502"),
            Path::new("cg.db"),
        );
        text.push_str(&day.departures_toml());
        let cfg = config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"));
        assert_eq!(cfg.departures.len(), 12);
        for (d, bay) in cfg.departures.iter().zip(&day.bays) {
            assert_eq!(d.who, config::DepartureFor::Charger(bay.id.clone()));
            assert_eq!(d.at_min, super::super::minute_of_day(bay.vehicle.departure));
            assert!((d.energy_kwh * 1000.0 - bay.vehicle.need_wh).abs() < 1e-6);
        }
    }

    #[test]
    fn the_tariff_section_alone_parses_to_the_same_prices() {
        let day = DepotDay::generate(9, 1, start());
        let text = format!(
            "[site]\nid = \"x\"\ngrid-limit-a = 63\nworst-case-load-a = 20\n\n{}",
            day.tariff_toml()
        );
        let cfg = config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}"));
        for minute in 0..24 * 60 {
            assert_eq!(
                config::price_at(&cfg.planner, minute),
                config::price_at(&day.tariff, minute),
                "{minute}"
            );
        }
        assert!(
            day.tariff_toml()
                .contains("from = \"16:00\"\nto = \"21:00\"\nprice-per-kwh = 0.4")
        );
        assert!(
            day.tariff_toml()
                .contains("from = \"23:00\"\nto = \"06:00\"\nprice-per-kwh = 0.15")
        );
    }
}
