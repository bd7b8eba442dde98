use super::*;
use crate::config::{parse, recheck};

const BASE: &str = r#"
[site]
id = "depot"
grid-limit-a = 100
margin-a = 5
worst-case-load-a = 40

[csms]
listen = "127.0.0.1:8887"

[http]
listen = "127.0.0.1:8080"

[[circuit]]
id = "board-a"
limit-a = 63
worst-case-load-a = 0

[[charger]]
id = "CP-01"
password = "correct-horse-battery"
max-current-a = 32
failsafe-current-a = 6

[[charger]]
id = "CP-02"
password = "correct-horse-battery"
max-current-a = 16
circuit = "board-a"

[[id-token]]
id = "CARD1"

[planner]
default-price-per-kwh = 0.30
"#;

fn config(text: &str) -> Config {
    parse(text).unwrap_or_else(|p| panic!("{p:#?}"))
}

/// The base config with `from` replaced by `to` (which must occur).
fn edited(edits: &[(&str, &str)]) -> Config {
    let mut text = BASE.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} is in the base config");
        text = text.replacen(from, to, 1);
    }
    config(&text)
}

fn keys(changes: &[Change]) -> Vec<&str> {
    changes.iter().map(|c| c.key.as_str()).collect()
}

#[test]
fn the_same_file_changes_nothing() {
    let d = diff(&config(BASE), &config(BASE));
    assert!(d.live.is_empty() && d.restart.is_empty(), "{d:#?}");
    assert_eq!(d.effective, config(BASE));
}

#[test]
fn limits_margins_and_worst_case_loads_are_live_with_old_and_new() {
    let old = config(BASE);
    let new = edited(&[
        ("grid-limit-a = 100", "grid-limit-a = 80"),
        ("margin-a = 5", "margin-a = 3\nlearn-vehicle-phases = true"),
        (
            "limit-a = 63\nworst-case-load-a = 0",
            "limit-a = 50\nworst-case-load-a = 2",
        ),
    ]);
    let d = diff(&old, &new);
    assert_eq!(
        keys(&d.live),
        [
            "site.grid-limit-a",
            "site.margin-a",
            "site.learn-vehicle-phases",
            "circuit.board-a.limit-a",
            "circuit.board-a.worst-case-load-a"
        ]
    );
    assert_eq!(d.live[0].old, "100 A");
    assert_eq!(d.live[0].new, "80 A");
    assert!(d.restart.is_empty(), "{:?}", d.restart);
    assert_eq!(d.effective, new, "every change was live");
}

#[test]
fn what_is_bound_at_start_needs_a_restart_and_is_not_applied() {
    let old = config(BASE);
    let new = edited(&[
        ("listen = \"127.0.0.1:8887\"", "listen = \"127.0.0.1:9999\""),
        ("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:8081\""),
        ("id = \"depot\"", "id = \"depot-2\""),
        ("[planner]\n", "[planner]\nslot-min = 30\n"),
        (
            "[csms]\n",
            "[store]\npath = \"/tmp/other.db\"\n\n[dispatch]\nlease-s = 300\n\n[csms]\n",
        ),
    ]);
    let d = diff(&old, &new);
    assert!(d.live.is_empty(), "{:?}", d.live);
    assert_eq!(
        keys(&d.restart),
        [
            "site.id",
            "csms.listen",
            "http.listen",
            "store.path",
            "dispatch.lease-s",
            "planner.slot-min"
        ]
    );
    assert_eq!(d.restart[1].old, "127.0.0.1:8887");
    assert_eq!(d.restart[1].new, "127.0.0.1:9999");
    assert_eq!(d.effective, old, "nothing of it is in force");
}

#[test]
fn a_mix_applies_the_live_part_only() {
    let old = config(BASE);
    let new = edited(&[
        ("grid-limit-a = 100", "grid-limit-a = 90"),
        ("listen = \"127.0.0.1:8887\"", "listen = \"127.0.0.1:9999\""),
    ]);
    let d = diff(&old, &new);
    assert_eq!(keys(&d.live), ["site.grid-limit-a"]);
    assert_eq!(keys(&d.restart), ["csms.listen"]);
    assert_eq!(d.effective.site.grid_limit, Amps(90.0));
    assert_eq!(d.effective.csms.listen, old.csms.listen);
}

#[test]
fn a_charger_added_on_a_running_circuit_is_live_with_its_password() {
    let old = config(BASE);
    let added = "\n[[charger]]\nid = \"CP-03\"\npassword = \"another-long-password\"\nmax-current-a = 16\ncircuit = \"board-a\"\n";
    let new = config(&format!("{BASE}{added}"));
    let d = diff(&old, &new);
    assert_eq!(keys(&d.live), ["charger.CP-03"]);
    assert_eq!(d.live[0].old, "(none)");
    assert!(d.live[0].new.contains("circuit board-a"), "{:?}", d.live[0]);
    assert!(!d.live[0].new.contains("another-long-password"));
    assert_eq!(d.effective.chargers.len(), 3);
    assert_eq!(d.effective.chargers[2], new.chargers[2]);
}

#[test]
fn a_charger_on_a_new_circuit_waits_for_the_restart_with_its_circuit() {
    let old = config(BASE);
    let added = "\n[[circuit]]\nid = \"board-b\"\nlimit-a = 63\n\n[[charger]]\nid = \"CP-03\"\npassword = \"another-long-password\"\nmax-current-a = 16\ncircuit = \"board-b\"\n";
    let d = diff(&old, &config(&format!("{BASE}{added}")));
    assert!(d.live.is_empty(), "{:?}", d.live);
    assert_eq!(keys(&d.restart), ["circuit.board-b", "charger.CP-03"]);
    assert_eq!(d.effective, old);
}

#[test]
fn a_removed_charger_stays_counted_until_the_restart() {
    let old = config(BASE);
    let new = config(&BASE.replace(
        "[[charger]]\nid = \"CP-02\"\npassword = \"correct-horse-battery\"\nmax-current-a = 16\ncircuit = \"board-a\"\n",
        "",
    ));
    assert_eq!(new.chargers.len(), 1);
    let d = diff(&old, &new);
    assert_eq!(keys(&d.restart), ["charger.CP-02"]);
    assert!(d.restart[0].new.contains("removed"), "{:?}", d.restart[0]);
    assert_eq!(d.effective.chargers, old.chargers);
}

#[test]
fn a_password_is_live_and_never_shown_other_fields_need_a_restart() {
    let old = config(BASE);
    let new = edited(&[(
        "password = \"correct-horse-battery\"\nmax-current-a = 32\nfailsafe-current-a = 6",
        "password = \"a-brand-new-password\"\nmax-current-a = 25\nfailsafe-current-a = 0",
    )]);
    let d = diff(&old, &new);
    assert_eq!(keys(&d.live), ["charger.CP-01.password"]);
    let shown = format!("{:?}", d.live);
    assert!(
        !shown.contains("correct-horse") && !shown.contains("brand-new"),
        "{shown}"
    );
    assert_eq!(
        keys(&d.restart),
        [
            "charger.CP-01.max-current-a",
            "charger.CP-01.failsafe-current-a"
        ]
    );
    assert_eq!(d.effective.chargers[0].secret, new.chargers[0].secret);
    assert_eq!(d.effective.chargers[0].max_current, Amps(32.0));
}

#[test]
fn id_tokens_tariffs_and_departures_are_live() {
    let old = config(BASE);
    let new = edited(&[
        (
            "[[id-token]]\nid = \"CARD1\"\n",
            "[[id-token]]\nid = \"CARD1\"\nstatus = \"blocked\"\n\n[[id-token]]\nid = \"CARD2\"\n\n[[departure]]\ncharger = \"CP-01\"\nat = \"07:00\"\nenergy-kwh = 40\n",
        ),
        (
            "default-price-per-kwh = 0.30\n",
            "default-price-per-kwh = 0.30\n[[planner.tariff]]\nfrom = \"22:00\"\nto = \"06:00\"\nprice-per-kwh = 0.12\n",
        ),
    ]);
    let d = diff(&old, &new);
    assert_eq!(
        keys(&d.live),
        [
            "id-token.CARD1",
            "id-token.CARD2",
            "planner.tariff",
            "departure"
        ]
    );
    assert_eq!(
        (d.live[0].old.as_str(), d.live[0].new.as_str()),
        ("accepted", "blocked")
    );
    assert_eq!(d.live[2].new, "22:00-06:00 0.12");
    assert_eq!(d.live[3].new, "charger CP-01 at 07:00 40 kWh");
    assert!(d.restart.is_empty(), "{:?}", d.restart);
    assert_eq!(d.effective, new);
    // A token dropped from the file is dropped from the list.
    let d = diff(&new, &old);
    assert!(
        d.live
            .iter()
            .any(|c| c.key == "id-token.CARD2" && c.new == "(removed)")
    );
    assert_eq!(d.effective.id_tokens, old.id_tokens);
}

#[test]
fn the_mix_is_checked_again_a_removed_charger_still_counts_against_a_lower_limit() {
    // CP-01 and CP-02 hold 6 A failsafes on every phase: 12 A + 40 A worst case fit 95 A.
    let old = config(BASE);
    // The file drops CP-02 and lowers the grid limit to what CP-01 alone fits; the removal
    // waits for the restart, so the running site would break S3: the check finds it.
    let new = config(
        &BASE
            .replace("grid-limit-a = 100", "grid-limit-a = 51")
            .replace(
                "[[charger]]\nid = \"CP-02\"\npassword = \"correct-horse-battery\"\nmax-current-a = 16\ncircuit = \"board-a\"\n",
                "",
            ),
    );
    assert!(recheck(&new).is_empty(), "the file alone is valid");
    let d = diff(&old, &new);
    let problems = recheck(&d.effective);
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("failsafe currents")),
        "{problems:#?}"
    );
    assert!(recheck(&old).is_empty());
}

#[test]
fn api_tokens_are_live_so_a_leaked_one_is_revoked_without_a_restart() {
    let hash = crate::charger::handshake::hash_password("token-value-1").unwrap();
    let with_token = |role: &str| {
        edited(&[(
            "[http]\nlisten = \"127.0.0.1:8080\"\n",
            &format!(
                "[http]\nlisten = \"127.0.0.1:8080\"\nrequire-token-for-reads = true\n\n\
                 [[http.token]]\nname = \"control-room\"\ntoken-hash = \"{hash}\"\nrole = \"{role}\"\n"
            ),
        )])
    };
    let old = config(BASE);
    let d = diff(&old, &with_token("operator"));
    assert_eq!(
        keys(&d.live),
        ["http.token", "http.require-token-for-reads"],
        "{d:#?}"
    );
    assert_eq!(d.live[0].new, "control-room (operator)");
    assert!(d.restart.is_empty(), "{:?}", d.restart);
    assert_eq!(d.effective.http.tokens.len(), 1);
    assert!(d.effective.http.require_token_for_reads);
    // A role taken away, then the token removed.
    let d = diff(&with_token("operator"), &with_token("viewer"));
    assert_eq!(keys(&d.live), ["http.token"]);
    assert_eq!(
        d.effective.http.tokens[0].role,
        crate::config::ApiRole::Viewer
    );
    let d = diff(&with_token("viewer"), &old);
    assert!(d.effective.http.tokens.is_empty());
    assert!(!d.effective.http.require_token_for_reads);
}

const MQTT: &str = "\n[upstream.mqtt]\nurl = \"mqtts://broker.local\"\nusername = \"gw\"\n\
                    password = \"old-secret\"\n";

#[test]
fn adding_or_removing_the_upstream_needs_a_restart() {
    let old = config(BASE);
    let new = config(&format!("{BASE}{MQTT}"));
    let d = diff(&old, &new);
    assert!(d.live.is_empty(), "{:?}", d.live);
    assert_eq!(keys(&d.restart), ["upstream.mqtt"]);
    assert_eq!(d.restart[0].new, "mqtts://broker.local");
    assert_eq!(d.effective, old, "not in force before the restart");
    let d = diff(&new, &old);
    assert_eq!(keys(&d.restart), ["upstream.mqtt"]);
    assert_eq!(d.restart[0].new, "(removed)");
    assert_eq!(d.effective, new);
}

#[test]
fn every_upstream_key_changed_needs_a_restart_and_the_password_is_never_shown() {
    let old = config(&format!("{BASE}{MQTT}"));
    let edits = [
        (
            "url = \"mqtts://broker.local\"",
            "url = \"mqtts://broker.local:8884\"",
        ),
        ("password = \"old-secret\"", "password = \"new-secret\""),
        ("username = \"gw\"", "username = \"gw-2\""),
        (
            "\n[upstream.mqtt]\n",
            "\n[upstream.mqtt]\nclient-id = \"gw-2\"\n",
        ),
        (
            "\n[upstream.mqtt]\n",
            "\n[upstream.mqtt]\nca-file = \"/ca.pem\"\n",
        ),
        (
            "\n[upstream.mqtt]\n",
            "\n[upstream.mqtt]\nclient-cert-file = \"/c.pem\"\nclient-key-file = \"/k.pem\"\n",
        ),
        (
            "\n[upstream.mqtt]\n",
            "\n[upstream.mqtt]\ntopic-prefix = \"fleet/depot\"\n",
        ),
        (
            "\n[upstream.mqtt]\n",
            "\n[upstream.mqtt]\nkeep-alive-s = 60\n",
        ),
        (
            "\n[upstream.mqtt]\n",
            "\n[upstream.mqtt]\ntelemetry-interval-s = 30\n",
        ),
        (
            "\n[upstream.mqtt]\n",
            "\n[upstream.mqtt]\ntelemetry-retention-days = 30\n",
        ),
    ];
    let mut text = format!("{BASE}{MQTT}");
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?}");
        text = text.replacen(from, to, 1);
    }
    let d = diff(&old, &config(&text));
    assert!(d.live.is_empty(), "{:?}", d.live);
    assert_eq!(
        keys(&d.restart),
        [
            "upstream.mqtt.url",
            "upstream.mqtt.client-id",
            "upstream.mqtt.username",
            "upstream.mqtt.password",
            "upstream.mqtt.ca-file",
            "upstream.mqtt.client-cert-file",
            "upstream.mqtt.client-key-file",
            "upstream.mqtt.topic-prefix",
            "upstream.mqtt.keep-alive-s",
            "upstream.mqtt.telemetry-interval-s",
            "upstream.mqtt.telemetry-retention-days",
        ]
    );
    let shown = format!("{:?}", d.restart);
    assert!(
        !shown.contains("old-secret") && !shown.contains("new-secret"),
        "{shown}"
    );
    assert_eq!(d.effective, old, "nothing of it is in force");
}

#[test]
fn an_upstream_change_without_its_own_key_is_still_reported() {
    let old = config(&format!("{BASE}{MQTT}"));
    let mut new = old.clone();
    // The url is the only source of host, port and tls in a parsed config; a value built
    // in code can still differ in them alone, and must not pass as unchanged.
    new.upstream.mqtt.as_mut().unwrap().port = 9999;
    let d = diff(&old, &new);
    assert_eq!(keys(&d.restart), ["upstream.mqtt"]);
    // A password moved into a file names the file, never the old password.
    let moved = config(&format!("{BASE}{MQTT}").replace(
        "password = \"old-secret\"",
        "password-file = \"/etc/chargegate/mqtt-password\"",
    ));
    let d = diff(&old, &moved);
    assert_eq!(keys(&d.restart), ["upstream.mqtt.password"]);
    assert_eq!(d.restart[0].old, "***");
    assert_eq!(d.restart[0].new, "file /etc/chargegate/mqtt-password");
}
