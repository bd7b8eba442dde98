use super::*;
use crate::units::{Amps, Volts};

const GOOD: &str = r#"
[site]
id = "depot"
grid-limit-a = 100
margin-a = 5
worst-case-load-a = 40

[csms]
listen = "127.0.0.1:0"

[[charger]]
id = "CP-01"
password = "correct-horse-battery"
max-current-a = 32
failsafe-current-a = 6

[[charger]]
id = "CP-02"
password = "correct-horse-battery"
max-current-a = 16
phases = 1
phase-rotation = "STR"

[[id-token]]
id = "CARD1"
expires = 2030-01-01T00:00:00Z
"#;

#[test]
fn a_good_config_parses_with_defaults() {
    let config = parse(GOOD).unwrap_or_else(|p| panic!("{p:#?}"));
    assert_eq!(config.site.phases, 3);
    assert_eq!(config.site.nominal_voltage, Volts(230.0));
    assert_eq!(config.csms.unknown_chargers, UnknownChargers::Reject);
    assert_eq!(config.csms.heartbeat_interval_s, 300);
    assert_eq!(config.chargers[1].min_current, Amps(6.0));
    assert_eq!(
        config.chargers[1].failsafe_current,
        Amps(6.0),
        "failsafe defaults to the minimum"
    );
    assert_eq!(config.chargers[1].phases, 1);
    assert_eq!(config.id_tokens[0].status, TokenStatus::Accepted);
    assert!(config.id_tokens[0].expires.is_some());
    let text = summary(&config);
    assert!(text.contains("CP-02"), "{text}");
    // CP-01 (three-phase) puts 6 A on every phase; CP-02 (STR: its L1 on site L2) adds
    // 6 A on L2 only, so L2 carries 12 A.
    assert!(text.contains("failsafe sum 12.0 A"), "{text}");
    assert_eq!(config.store.audit_days, 30);
    let kept =
        parse(&format!("{GOOD}\n[store]\naudit-days = 365\n")).unwrap_or_else(|p| panic!("{p:#?}"));
    assert_eq!(kept.store.audit_days, 365);
    let problems = parse(&format!("{GOOD}\n[store]\naudit-days = 0\n")).unwrap_err();
    assert!(
        problems.iter().any(|p| p.path == "store.audit-days"),
        "{problems:#?}"
    );
}

#[test]
fn every_problem_is_reported_at_once_with_its_line() {
    let bad = r#"
[site]
id = "depot"
grid-limit-a = 100
worst-case-load-a = 40
colour = "red"

[csms]
unknown-chargers = "maybe"

[[charger]]
id = "CP 01"
password = "short"
max-current-a = -3

[[charger]]
id = "CP-02"
password = "correct-horse-battery"
max-current-a = 16
min-current-a = 20
phase-rotation = "XYZ"
"#;
    let problems = parse(bad).unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for want in [
        "site.colour",
        "csms.unknown-chargers",
        "charger[0].id",
        "charger[0].password",
        "charger[0].max-current-a",
        "charger[1].phase-rotation",
    ] {
        assert!(paths.contains(&want), "missing {want} in {paths:?}");
    }
    let colour = problems.iter().find(|p| p.path == "site.colour").unwrap();
    assert_eq!(colour.line, Some(6));
    assert!(
        problems
            .windows(2)
            .all(|w| w[0].line.unwrap_or(usize::MAX) <= w[1].line.unwrap_or(usize::MAX))
    );
}

#[test]
fn cross_key_checks_run_when_every_table_reads() {
    let bad = GOOD
        .replace("failsafe-current-a = 6", "failsafe-current-a = 3")
        .replace("id = \"CP-02\"", "id = \"CP-01\"");
    let problems = parse(&bad).unwrap_err();
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert!(text.iter().any(|t| t.contains("used twice")), "{text:#?}");
    assert!(
        text.iter().any(|t| t.contains("between 0 and the minimum")),
        "{text:#?}"
    );
}

#[test]
fn the_failsafe_budget_is_checked_against_the_grid_limit() {
    let tight = GOOD.replace("worst-case-load-a = 40", "worst-case-load-a = 92");
    let problems = parse(&tight).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].message.contains("main fuse can trip"));
    assert_eq!(problems[0].path, "charger[*].failsafe-current-a");
}

#[test]
fn syntax_errors_name_their_line() {
    let problems = parse("[site]\nid = \"x\"\ngrid-limit-a = = 3\n").unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, Some(3));
}

#[test]
fn missing_site_is_reported_with_a_hint() {
    let problems = parse("[csms]\n").unwrap_err();
    assert_eq!(problems[0].path, "site");
    assert!(problems[0].hint.as_deref().unwrap().contains("[site]"));
}

#[test]
fn tls_keys_must_come_in_pairs() {
    let half = GOOD.replace(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\ntls-cert-file = \"c.pem\"",
    );
    let problems = parse(&half).unwrap_err();
    assert_eq!(problems[0].path, "csms.tls-key-file");
}

#[test]
fn passwords_and_hashes_are_never_printed() {
    let config = parse(GOOD).unwrap();
    let debug = format!("{:?}", config.chargers[0]);
    assert!(!debug.contains("correct-horse"), "{debug}");
}

const TOPOLOGY: &str = r#"
[[circuit]]
id = "board-a"
limit-a = 63
parent = "site"

[[circuit]]
id = "board-b"
limit-a = 32
parent = "board-a"
worst-case-load-a = 20

[planner]
slot-min = 15
horizon-h = 12
time-budget-ms = 500

[[planner.tariff]]
from = "22:00"
to = "06:00"
price-per-kwh = 0.18

[[departure]]
charger = "CP-01"
at = "05:00"
energy-kwh = 120

[[departure]]
id-token = "BUS-17"
at = "06:30"
energy-kwh = 200
"#;

#[test]
fn circuits_planner_and_departures_parse() {
    let text = format!(
        "{}{TOPOLOGY}",
        GOOD.replace(
            "phase-rotation = \"STR\"",
            "phase-rotation = \"STR\"\ncircuit = \"board-b\""
        )
    );
    let config = parse(&text).unwrap_or_else(|p| panic!("{p:#?}"));
    assert_eq!(config.circuits.len(), 2);
    assert_eq!(
        config.circuits[0].parent, None,
        "\"site\" is the grid connection"
    );
    assert_eq!(config.circuits[1].parent.as_deref(), Some("board-a"));
    assert_eq!(config.chargers[1].circuit.as_deref(), Some("board-b"));
    assert_eq!(config.planner.horizon_h, 12);
    assert_eq!(config.planner.tariffs[0].from_min, 22 * 60);
    assert_eq!(
        config.departures[1].who,
        DepartureFor::IdToken("BUS-17".into())
    );
    let defaults = parse(GOOD).unwrap();
    let text = summary(&config);
    assert!(
        text.contains(
            "circuit board-b under board-a: 32 A per phase, failsafe sum 6.0 A of 27.0 A"
        ),
        "{text}"
    );
    assert!(text.contains("2 departure(s)"), "{text}");
    assert_eq!(defaults.planner, Planner::default());
    assert_eq!(defaults.planner.slot_min, 15);
}

#[test]
fn topology_problems_name_their_key() {
    // (replace in TOPOLOGY, extra charger key, the path that must be reported)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "parent = \"board-a\"",
            "parent = \"nowhere\"",
            "",
            "circuit[1].parent",
        ),
        (
            "parent = \"site\"",
            "parent = \"board-b\"",
            "",
            "circuit[0].parent",
        ),
        ("id = \"board-b\"", "id = \"board-a\"", "", "circuit[1].id"),
        ("limit-a = 63", "limit-a = -1", "", "circuit[0].limit-a"),
        ("", "", "circuit = \"board-x\"", "charger[1].circuit"),
        ("at = \"05:00\"", "at = \"5 am\"", "", "departure[0].at"),
        (
            "charger = \"CP-01\"",
            "charger = \"CP-99\"",
            "",
            "departure[0].charger",
        ),
        ("id-token = \"BUS-17\"", "", "", "departure[1].charger"),
        ("slot-min = 15", "slot-min = 7", "", "planner.slot-min"),
        (
            "price-per-kwh = 0.18",
            "price-per-kwh = 0.18\ncolour = 1",
            "",
            "planner.tariff[0].colour",
        ),
        // CP-02's 6 A failsafe (its minimum) + board-b's 20 A worst case vs limit - 5 A margin.
        ("limit-a = 32", "limit-a = 31", "circuit = \"board-b\"", ""),
        (
            "limit-a = 32",
            "limit-a = 30",
            "circuit = \"board-b\"",
            "circuit[1].limit-a",
        ),
    ];
    for &(from, to, charger_key, want) in cases {
        let topology = if from.is_empty() {
            TOPOLOGY.to_string()
        } else {
            TOPOLOGY.replacen(from, to, 1)
        };
        let good = GOOD.replace(
            "phase-rotation = \"STR\"",
            &format!("phase-rotation = \"STR\"\n{charger_key}"),
        );
        let text = format!("{good}{topology}");
        match parse(&text) {
            Ok(_) => assert!(want.is_empty(), "{want}: no problem reported"),
            Err(problems) => {
                let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
                assert!(
                    !want.is_empty() && paths.contains(&want),
                    "want {want:?}, got {problems:#?}"
                );
            }
        }
    }
}

#[test]
fn charger_profiles_are_loaded_and_checked() {
    let config = parse(GOOD).unwrap();
    assert_eq!(config.chargers[0].profile, "generic");
    assert!(config.chargers[0].quirks.zero_pause);
    let watts = GOOD.replacen(
        "max-current-a = 32\n",
        "max-current-a = 32\nprofile = \"watts-only\"\n",
        1,
    );
    assert!(parse(&watts).unwrap().chargers[0].quirks.watts_only);
    let missing = GOOD.replacen(
        "max-current-a = 32\n",
        "max-current-a = 32\nprofile = \"acme-9000\"\n",
        1,
    );
    let problems = parse(&missing).unwrap_err();
    assert_eq!(problems[0].path, "charger[0].profile");
    assert!(
        problems[0]
            .message
            .contains("no charger profile \"acme-9000\""),
        "{problems:#?}"
    );
    // A charger that cannot pause needs a failsafe of at least its minimum.
    let paused = GOOD.replacen(
        "failsafe-current-a = 6\n",
        "failsafe-current-a = 0\nprofile = \"no-zero-pause\"\n",
        1,
    );
    let problems = parse(&paused).unwrap_err();
    assert_eq!(
        problems[0].path, "charger[0].failsafe-current-a",
        "{problems:#?}"
    );
}

#[test]
fn api_tokens_need_a_name_a_hash_and_a_role() {
    let hash = crate::charger::handshake::hash_password("token-value-1").unwrap();
    let token = |name: &str, hash: &str, role: &str| {
        format!("\n[[http.token]]\nname = \"{name}\"\ntoken-hash = \"{hash}\"\nrole = \"{role}\"\n")
    };
    let good = parse(&format!(
        "{GOOD}\n[http]\nrequire-token-for-reads = true\n{}{}",
        token("control-room", &hash, "operator"),
        token("wall-screen", &hash, "viewer")
    ))
    .unwrap_or_else(|p| panic!("{p:#?}"));
    assert!(good.http.require_token_for_reads);
    assert_eq!(good.http.tokens.len(), 2);
    assert_eq!(good.http.tokens[0].name, "control-room");
    assert_eq!(good.http.tokens[0].role, ApiRole::Operator);
    assert_eq!(good.http.tokens[1].role, ApiRole::Viewer);
    let no_tokens = parse(GOOD).unwrap();
    assert!(no_tokens.http.tokens.is_empty() && !no_tokens.http.require_token_for_reads);
    for (bad, path) in [
        (
            token("a", "the-token-itself", "operator"),
            "http.token[0].token-hash",
        ),
        (token("a", &hash, "admin"), "http.token[0].role"),
        (
            "\n[[http.token]]\nname = \"a\"\nrole = \"viewer\"\n".to_string(),
            "http.token[0].token-hash",
        ),
        (
            format!(
                "{}{}",
                token("a", &hash, "viewer"),
                token("a", &hash, "operator")
            ),
            "http.token",
        ),
        (
            format!("{}token = \"x\"\n", token("a", &hash, "viewer")),
            "http.token[0].token",
        ),
        (
            "require-token-for-reads = true\n".to_string(),
            "http.require-token-for-reads",
        ),
    ] {
        let problems = parse(&format!("{GOOD}\n[http]\n{bad}")).unwrap_err();
        assert!(
            problems.iter().any(|p| p.path == path),
            "{bad}: expected a problem at {path}: {problems:#?}"
        );
    }
}

#[test]
fn the_api_answers_to_listed_host_names_only_if_they_are_names() {
    let good = parse(&format!(
        "{GOOD}\n[http]\nallowed-hosts = [\"depot-gw.local\", \"gw\"]\n"
    ))
    .unwrap_or_else(|p| panic!("{p:#?}"));
    assert_eq!(good.http.allowed_hosts, ["depot-gw.local", "gw"]);
    assert!(parse(GOOD).unwrap().http.allowed_hosts.is_empty());
    for bad in [
        "[\"http://gw.local\"]",
        "[\"gw.local:8080\"]",
        "[\"\"]",
        "[\"-gw\"]",
        "[3]",
        "\"gw.local\"",
    ] {
        let problems = parse(&format!("{GOOD}\n[http]\nallowed-hosts = {bad}\n")).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.path.starts_with("http.allowed-hosts") && p.line.is_some()),
            "{bad}: {problems:#?}"
        );
    }
}

/// Issue 17: what `run` refuses, or what would never work, `validate` reports with its line.
#[test]
fn what_run_would_refuse_is_a_problem_with_its_line() {
    let megabyte_id = "x".repeat(1 << 20);
    let cases = [
        (
            GOOD.replace("grid-limit-a = 100", "grid-limit-a = 1e308"),
            "site.grid-limit-a",
        ),
        (
            GOOD.replace("id = \"depot\"", &format!("id = \"{megabyte_id}\"")),
            "site.id",
        ),
        (
            GOOD.replace("id = \"CP-01\"", "id = \"CP:01\""),
            "charger[0].id",
        ),
        (
            GOOD.replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:8080\""),
            "csms.listen",
        ),
        (
            format!("{GOOD}\n[http]\nlisten = \"127.0.0.1:8887\"\n")
                .replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:8887\""),
            "http.listen",
        ),
        (
            GOOD.replace(
                "password = \"correct-horse-battery\"\nmax-current-a = 32",
                "password-hash = \"$argon2id$v=19$m=1,t=0,p=0$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\"\nmax-current-a = 32",
            ),
            "charger[0].password-hash",
        ),
        (
            GOOD.replace(
                "password = \"correct-horse-battery\"\nmax-current-a = 32",
                "password-hash = \"$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\"\nmax-current-a = 32",
            ),
            "charger[0].password-hash",
        ),
    ];
    for (text, path) in cases {
        let problems = parse(&text).expect_err(path);
        let problem = problems
            .iter()
            .find(|p| p.path == path)
            .unwrap_or_else(|| panic!("{path}: {problems:#?}"));
        assert!(problem.line.is_some(), "{problem:?}");
        assert!(
            problem.to_string().len() < 400,
            "the message stays short: {}",
            &problem.to_string()[..400]
        );
    }
}

/// Issue 17: the files a config names are checked by `load` (so `validate` and `run`).
#[test]
fn load_checks_the_tls_files_and_the_store_folder() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_folder = dir.path().join("a-file");
    std::fs::write(&not_a_folder, "").unwrap();
    let text = GOOD.replace(
        "listen = \"127.0.0.1:0\"",
        &format!(
            "listen = \"127.0.0.1:0\"\ntls-cert-file = \"{}\"\ntls-key-file = \"{}\"",
            dir.path().join("missing-cert.pem").display(),
            not_a_folder.display()
        ),
    ) + &format!(
        "\n[store]\npath = \"{}\"\n",
        not_a_folder.join("chargegate.db").display()
    );
    let path = dir.path().join("site.toml");
    std::fs::write(&path, &text).unwrap();
    assert!(parse(&text).is_ok(), "the text alone is fine");
    let Err(ConfigError::Invalid(problems)) = load(&path) else {
        panic!("load refuses it")
    };
    for key in ["csms.tls-cert-file", "csms.tls-key-file", "store.path"] {
        let problem = problems
            .iter()
            .find(|p| p.path == key)
            .unwrap_or_else(|| panic!("{key}: {problems:#?}"));
        assert!(problem.line.is_some(), "{problem:?}");
    }
}

#[test]
fn the_summary_names_the_scheme_chargers_must_use() {
    let tls = GOOD.replace(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\ntls-cert-file = \"c.pem\"\ntls-key-file = \"k.pem\"",
    );
    assert!(summary(&parse(&tls).unwrap()).contains("csms wss://127.0.0.1:0/ocpp/<id>"));
    assert!(summary(&parse(GOOD).unwrap()).contains("csms ws://127.0.0.1:0/ocpp/<id>"));
}

#[test]
fn profiles_charger_dir_is_a_known_key_and_names_where_charger_profiles_are() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/charger");
    let good = parse(&format!("{GOOD}\n[profiles]\ncharger-dir = \"{dir}\"\n"))
        .unwrap_or_else(|p| panic!("{p:#?}"));
    assert!(!good.chargers.is_empty());
    // A folder without the profile a charger names is a problem at that charger.
    let empty = tempfile::tempdir().unwrap();
    let problems = parse(&format!(
        "{GOOD}\n[profiles]\ncharger-dir = \"{}\"\n",
        empty.path().display()
    ))
    .unwrap_err();
    assert!(
        problems.iter().all(|p| p.path != "profiles.charger-dir"),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.path.ends_with(".profile") || p.message.contains("profile")),
        "{problems:#?}"
    );
}

/// `[csms] client-ca-key-file`: the key of `client-ca-file`, checked by `load` (so by
/// `validate`) with a problem at that key when it is not.
#[test]
fn load_checks_the_client_ca_key_against_client_ca_file() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = write("ca.pem", &params.self_signed(&key).unwrap().pem());
    let ca_key = write("ca-key.pem", &key.serialize_pem());
    let stranger = write("other.pem", &KeyPair::generate().unwrap().serialize_pem());
    let site = |key_file: &str| {
        let text = GOOD.replace(
            "listen = \"127.0.0.1:0\"",
            &format!(
                "listen = \"127.0.0.1:0\"\ntls-cert-file = \"{ca}\"\ntls-key-file = \"{ca_key}\"\n\
                 client-ca-file = \"{ca}\"\nclient-ca-key-file = \"{key_file}\""
            ),
        ) + &format!(
            "\n[store]\npath = \"{}\"\n",
            dir.path().join("chargegate.db").display()
        );
        let path = dir.path().join("site.toml");
        std::fs::write(&path, &text).unwrap();
        load(&path)
    };
    let good = site(&ca_key).unwrap_or_else(|e| panic!("{e:?}"));
    let tls = good.csms.tls.unwrap();
    assert_eq!(
        tls.client_ca_key_file.unwrap().display().to_string(),
        ca_key
    );
    for (key_file, says) in [
        (stranger.as_str(), "not the key of any certificate"),
        (ca.as_str(), "no private key"),
        ("/nonexistent/key.pem", "cannot read"),
    ] {
        let Err(ConfigError::Invalid(problems)) = site(key_file) else {
            panic!("{key_file}: load refuses it")
        };
        let problem = problems
            .iter()
            .find(|p| p.path == "csms.client-ca-key-file")
            .unwrap_or_else(|| panic!("{key_file}: {problems:#?}"));
        assert!(problem.message.contains(says), "{problem:?}");
    }
    // Without client-ca-file the key has no certificate to belong to.
    let alone = GOOD.replace(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\nclient-ca-key-file = \"k.pem\"",
    );
    let problems = parse(&alone).unwrap_err();
    assert!(
        problems.iter().any(|p| p.path == "csms.client-ca-key-file"),
        "{problems:#?}"
    );
}
