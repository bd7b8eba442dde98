//! The demo site as chargegate's site file: the TOML `demo` writes into its working folder
//! and the daemon reads with `config::load`, as `chargegate run` would (text only; the
//! caller writes it). Keys follow DESIGN.md, as `sim::depot`'s `config_toml` writes them,
//! with the second sub-board this site has.

use std::fmt::Write;
use std::net::SocketAddr;
use std::path::Path;

use super::scenario::DemoSite;
use crate::sim::depot::{PASSWORD, POLL_INTERVAL};

/// The site file: `[site]`, `[csms]` on an ephemeral loopback port, `[http]` on `http`,
/// `[store]` at `store`, the grid meter (an Eastron SDM630 on Modbus TCP at `meter`), the
/// two sub-boards, the twelve chargers (password `PASSWORD`), each vehicle's departure
/// and need for the planner, and one energy price.
pub fn site_toml(site: &DemoSite, http: SocketAddr, meter: SocketAddr, store: &Path) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "# Written by `chargegate demo`: a simulated depot on loopback.\n\n\
         [site]\nid = \"{}\"\ngrid-limit-a = {}\nphases = 3\nnominal-voltage-v = {}\n\
         margin-a = {}\nworst-case-load-a = {}\n\n\
         [csms]\nlisten = \"127.0.0.1:0\"\n\n[http]\nlisten = \"{http}\"\n\n\
         [store]\npath = {:?}\n\n[dispatch]\nlease-s = 600\n\n",
        site.id,
        site.grid_limit_a,
        site.voltage_v,
        site.margin_a,
        site.worst_case_load_a,
        store.display().to_string(),
    );
    // Polled every second, stale after 5 s (S5).
    let _ = write!(
        out,
        "[[meter]]\nid = \"grid\"\nprofile = \"eastron-sdm630\"\nrole = \"grid\"\n\
         modbus-tcp = \"{meter}\"\nunit-id = 1\npoll-interval-ms = {}\nstale-after-ms = 5000\n",
        POLL_INTERVAL.as_millis()
    );
    // The sub-boards feed only chargers: no building load behind them.
    for board in &site.boards {
        let _ = write!(
            out,
            "\n[[circuit]]\nid = \"{}\"\nlimit-a = {}\nparent = \"site\"\nworst-case-load-a = 0\n",
            board.id, board.limit_a
        );
    }
    for b in &site.bays {
        let bay = &b.bay;
        let _ = write!(
            out,
            "\n[[charger]]\nid = \"{}\"\npassword = \"{PASSWORD}\"\nmax-current-a = {}\n\
             min-current-a = {}\nphases = {}\nphase-rotation = \"{}\"\n\
             failsafe-current-a = {}\ncircuit = \"{}\"\n",
            bay.id,
            bay.max_a,
            bay.min_a,
            bay.phases,
            bay.rotation,
            bay.failsafe_a,
            site.boards[b.board].id
        );
    }
    for b in &site.bays {
        let v = &b.bay.vehicle;
        let _ = write!(
            out,
            "\n[[departure]]\ncharger = \"{}\"\nat = \"{}\"\nenergy-kwh = {}\n",
            b.bay.id,
            v.departure.format("%H:%M"),
            v.need_wh / 1000.0
        );
    }
    // One price all day: with a cheap night the planner would rightly leave the evening's
    // vehicles waiting until 23:00, and the demo's first hours would show little charging.
    out.push_str("\n[planner]\ndefault-price-per-kwh = 0.28\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    #[test]
    fn the_site_file_parses_and_says_what_the_site_says() {
        let day = crate::ocpp::time::parse("2026-12-01T09:00:00Z").unwrap();
        let site = DemoSite::generate(1, day);
        let http: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let meter: SocketAddr = "127.0.0.1:5020".parse().unwrap();
        let text = site_toml(&site, http, meter, Path::new("/tmp/demo \"x\"/cg.db"));
        let cfg = config::parse(&text).unwrap_or_else(|p| panic!("{p:#?}\n{text}"));
        assert_eq!(cfg.site.grid_limit.0, 160.0);
        assert_eq!(cfg.http.listen, http);
        assert_eq!(cfg.store.path, Path::new("/tmp/demo \"x\"/cg.db"));
        assert_eq!(cfg.circuits.len(), 2);
        assert_eq!(cfg.chargers.len(), 12);
        assert_eq!(cfg.departures.len(), 12);
        for (c, b) in cfg.chargers.iter().zip(&site.bays) {
            assert_eq!(c.id.as_str(), b.bay.id);
            assert_eq!(c.circuit.as_deref(), Some(site.boards[b.board].id));
            let phases: Vec<usize> = config::site_phases(c).collect();
            assert_eq!(phases, b.bay.site_phases());
        }
        assert_eq!(config::price_at(&cfg.planner, 17 * 60), 0.28);
    }
}
