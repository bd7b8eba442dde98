use super::*;
use crate::config::diff::diff;
use crate::config::{Config, ConfigError, Problem, load, parse, summary};

const SITE: &str = r#"
[site]
id = "depot-1"
grid-limit-a = 100
worst-case-load-a = 40

[csms]
listen = "127.0.0.1:0"

[[charger]]
id = "CP-01"
password = "correct-horse-battery"
max-current-a = 32

[[charger]]
id = "CP-02"
password-hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2Tl8s2ddXiAQH/SDdMyFTmAiYYtlVHiHZk8SK/pEzpI"
max-current-a = 16
"#;

/// The site with `upstream` appended (a TOML fragment).
fn site_with(upstream: &str) -> String {
    format!("{SITE}\n{upstream}\n")
}

fn config_of(upstream: &str) -> Config {
    parse(&site_with(upstream)).unwrap_or_else(|p| panic!("{upstream}: {p:#?}"))
}

fn ocpp_of(upstream: &str) -> UpstreamOcpp {
    config_of(upstream)
        .upstream
        .ocpp
        .expect("[upstream.ocpp] was read")
}

/// The 1-based line of the first line that starts with `needle`, from the first
/// `[upstream` table on.
fn line_of(text: &str, needle: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let from = lines
        .iter()
        .position(|l| l.starts_with("[upstream"))
        .unwrap_or_else(|| panic!("an [upstream] table in {text}"));
    lines[from..]
        .iter()
        .position(|l| l.starts_with(needle))
        .unwrap_or_else(|| panic!("{needle:?} in {text}"))
        + from
        + 1
}

/// The one problem at `path` (and it is the only problem), on the line starting with `at`.
fn only_problem_at(upstream: &str, path: &str, at: &str) -> Problem {
    let text = site_with(upstream);
    let problems = parse(&text).expect_err(upstream);
    assert_eq!(problems.len(), 1, "{upstream}: {problems:#?}");
    let problem = problems[0].clone();
    assert_eq!(problem.path, path, "{upstream}: {problem:?}");
    assert_eq!(
        problem.line,
        Some(line_of(&text, at)),
        "{upstream}: {problem:?}"
    );
    assert!(problem.hint.is_some(), "{upstream}: a hint: {problem:?}");
    problem
}

const URL: &str = "[upstream.ocpp]\nurl = \"wss://cloud.example/ocpp\"";

#[test]
fn defaults_come_from_the_site_and_every_key_is_read() {
    assert_eq!(
        ocpp_of(URL),
        UpstreamOcpp {
            url: "wss://cloud.example/ocpp".into(),
            tls: true,
            identity: "depot-1".into(),
            version: OcppVersion::V201,
            password: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            call_timeout_s: 30,
        }
    );
    let all = ocpp_of(
        "[upstream.ocpp]\nurl = \"wss://[2001:db8::1]:9443/a/b/\"\nidentity = \"LC-7\"\n\
         version = \"1.6\"\npassword-file = \"/etc/chargegate/lc\"\nca-file = \"/c/ca.pem\"\n\
         client-cert-file = \"/c/c.pem\"\nclient-key-file = \"/c/k.pem\"\ncall-timeout-s = 5",
    );
    assert_eq!(
        all.url, "wss://[2001:db8::1]:9443/a/b",
        "trailing '/' dropped"
    );
    assert_eq!(all.identity, "LC-7");
    assert_eq!(all.version, OcppVersion::V16);
    assert_eq!(
        all.password,
        Some(UpstreamPassword::File("/etc/chargegate/lc".into()))
    );
    assert_eq!(all.ca_file, Some("/c/ca.pem".into()));
    assert_eq!(all.client_cert_file, Some("/c/c.pem".into()));
    assert_eq!(all.client_key_file, Some("/c/k.pem".into()));
    assert_eq!(all.call_timeout_s, 5);
    let plain = ocpp_of("[upstream.ocpp]\nurl = \"ws://127.0.0.1:9000\"\npassword = \"p\"");
    assert!(!plain.tls);
    assert_eq!(plain.url, "ws://127.0.0.1:9000");
    assert_eq!(plain.password(), Ok(Some("p".into())));
}

#[test]
fn mqtt_and_ocpp_may_be_set_together() {
    let config = config_of(&format!(
        "{URL}\n\n[upstream.mqtt]\nurl = \"mqtt://broker\""
    ));
    assert!(config.upstream.mqtt.is_some());
    assert!(config.upstream.ocpp.is_some());
}

#[test]
fn endpoints_append_the_percent_encoded_station_id() {
    let ocpp = ocpp_of(URL);
    assert_eq!(ocpp.endpoint_for("CP-01"), "wss://cloud.example/ocpp/CP-01");
    assert_eq!(
        ocpp.endpoint_for("a:b*c|d@e_f.g"),
        "wss://cloud.example/ocpp/a%3Ab%2Ac%7Cd%40e_f.g"
    );
}

#[test]
fn bad_urls_are_refused_at_the_url() {
    for (url, says) in [
        ("cloud.example/ocpp", "is not a URL"),
        ("https://cloud.example/ocpp", "HTTP scheme"),
        ("mqtt://cloud.example", "other than ws or wss"),
        ("wss://cloud.example/ocpp?x=1", "query or fragment"),
        ("wss://cloud.example/ocpp#top", "query or fragment"),
        ("wss:///ocpp", "no host"),
        ("wss://bad_host/ocpp", "neither a name nor an IP address"),
        ("wss://300.1.1.1/ocpp", "neither a name nor an IP address"),
        ("wss://[::1/ocpp", "without its ']'"),
        ("wss://cloud.example:0/ocpp", "as port"),
        ("wss://cloud.example:99999/ocpp", "as port"),
        ("wss://cloud.example/oc pp", "space or control"),
    ] {
        let problem = only_problem_at(
            &format!("[upstream.ocpp]\nurl = \"{url}\""),
            "upstream.ocpp.url",
            "url =",
        );
        assert!(problem.message.contains(says), "{url}: {problem}");
    }
    let missing = only_problem_at(
        "[upstream.ocpp]\nidentity = \"x\"",
        "upstream.ocpp.url",
        "[upstream.ocpp]",
    );
    assert_eq!(missing.message, "required key is missing");
}

#[test]
fn credentials_in_the_url_are_refused_without_repeating_them() {
    let problem = only_problem_at(
        "[upstream.ocpp]\nurl = \"wss://depot:hunter2@cloud.example/ocpp\"",
        "upstream.ocpp.url",
        "url =",
    );
    assert!(
        problem.message.contains("user name or password"),
        "{problem}"
    );
    let shown = format!("{problem} {problem:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn bad_identities_versions_and_timeouts_are_refused_at_their_key() {
    for (key, line, says) in [
        (
            "upstream.ocpp.identity",
            "identity = \"a/b\"",
            "no OCPP identity",
        ),
        (
            "upstream.ocpp.identity",
            "identity = \"\"",
            "no OCPP identity",
        ),
        (
            "upstream.ocpp.version",
            "version = \"2.1\"",
            "not an OCPP version",
        ),
        (
            "upstream.ocpp.version",
            "version = \"ocpp1.6\"",
            "not an OCPP version",
        ),
        ("upstream.ocpp.call-timeout-s", "call-timeout-s = 0", ""),
        ("upstream.ocpp.call-timeout-s", "call-timeout-s = 301", ""),
        (
            "upstream.ocpp.password",
            "password = \"\"",
            "1 to 256 characters",
        ),
    ] {
        let text = format!("{URL}\n{line}");
        let first_word = line.split(' ').next().unwrap();
        let text_site = site_with(&text);
        let problems = parse(&text_site).expect_err(line);
        assert_eq!(problems.len(), 1, "{line}: {problems:#?}");
        assert_eq!(problems[0].path, key, "{line}");
        assert_eq!(problems[0].line, Some(line_of(&text_site, first_word)));
        assert!(
            problems[0].message.contains(says),
            "{line}: {}",
            problems[0]
        );
    }
    // The default identity is the site id, which may be too long for an OCPP identity.
    let long = "d".repeat(60);
    let text = site_with(URL).replace("id = \"depot-1\"", &format!("id = \"{long}\""));
    let problems = parse(&text).unwrap_err();
    let problem = problems
        .iter()
        .find(|p| p.path == "upstream.ocpp.identity")
        .unwrap_or_else(|| panic!("{problems:#?}"));
    assert!(problem.message.contains("default identity"), "{problem}");
}

#[test]
fn password_rules_both_keys_and_a_colon_in_the_identity_are_refused() {
    let both = only_problem_at(
        &format!("{URL}\npassword = \"p\"\npassword-file = \"/etc/p\""),
        "upstream.ocpp.password-file",
        "password-file =",
    );
    assert!(both.message.contains("both set"), "{both}");
    let colon = only_problem_at(
        &format!("{URL}\nidentity = \"lc:1\"\npassword = \"p\""),
        "upstream.ocpp.password",
        "password =",
    );
    assert!(colon.message.contains("':'"), "{colon}");
    // Without a password, a ':' is a valid identity (client certificates).
    assert_eq!(
        ocpp_of(&format!("{URL}\nidentity = \"lc:1\"")).identity,
        "lc:1"
    );
    let empty_file = only_problem_at(
        &format!("{URL}\npassword-file = \"\""),
        "upstream.ocpp.password-file",
        "password-file =",
    );
    assert!(empty_file.message.contains("empty"), "{empty_file}");
}

#[test]
fn tls_files_need_wss_and_a_client_certificate_needs_its_key() {
    let plain = "[upstream.ocpp]\nurl = \"ws://cloud.example/ocpp\"";
    for key in ["ca-file", "client-cert-file", "client-key-file"] {
        let mut text = format!("{plain}\n{key} = \"/x.pem\"");
        if key == "client-cert-file" {
            text += "\nclient-key-file = \"/k.pem\"";
        } else if key == "client-key-file" {
            text = format!("{plain}\nclient-cert-file = \"/c.pem\"\n{key} = \"/x.pem\"");
        }
        let problems = parse(&site_with(&text)).unwrap_err();
        let problem = problems
            .iter()
            .find(|p| p.path == format!("upstream.ocpp.{key}"))
            .unwrap_or_else(|| panic!("{key}: {problems:#?}"));
        assert!(problem.message.contains("needs wss://"), "{problem}");
    }
    let cert_alone = only_problem_at(
        &format!("{URL}\nclient-cert-file = \"/c.pem\""),
        "upstream.ocpp.client-key-file",
        "[upstream.ocpp]",
    );
    assert!(
        cert_alone.message.contains("client-key-file is not"),
        "{cert_alone}"
    );
    let key_alone = only_problem_at(
        &format!("{URL}\nclient-key-file = \"/k.pem\""),
        "upstream.ocpp.client-cert-file",
        "[upstream.ocpp]",
    );
    assert!(
        key_alone.message.contains("client-cert-file is not"),
        "{key_alone}"
    );
}

#[test]
fn unknown_keys_are_refused_with_a_guess() {
    let problem = only_problem_at(
        &format!("{URL}\ncall-timeout = 5"),
        "upstream.ocpp.call-timeout",
        "call-timeout =",
    );
    assert_eq!(problem.message, "unknown key");
    assert_eq!(
        problem.hint.as_deref(),
        Some("did you mean `call-timeout-s`?")
    );
}

/// The site's chargers with `extra` added to the first one (CP-01, plain password).
fn first_charger_with(extra: &str) -> String {
    SITE.replace(
        "password = \"correct-horse-battery\"\n",
        &format!("password = \"correct-horse-battery\"\n{extra}\n"),
    ) + "\n"
        + URL
}

#[test]
fn a_chargers_upstream_password_defaults_to_its_plain_password_only() {
    let config = config_of(URL);
    let cp01 = &config.chargers[0];
    assert_eq!(
        cp01.upstream_password(),
        Ok(Some("correct-horse-battery".into()))
    );
    // CP-02 has only a hash, which cannot be sent on.
    assert_eq!(config.chargers[1].upstream_password, None);
    assert_eq!(config.chargers[1].upstream_password(), Ok(None));

    let own = parse(&first_charger_with("upstream-password = \"cloud-side-pw\"")).unwrap();
    assert_eq!(
        own.chargers[0].upstream_password(),
        Ok(Some("cloud-side-pw".into()))
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cp01");
    std::fs::write(&path, "from-a-file\r\n").unwrap();
    let file = parse(&first_charger_with(&format!(
        "upstream-password-file = \"{}\"",
        path.display()
    )))
    .unwrap();
    assert_eq!(
        file.chargers[0].upstream_password(),
        Ok(Some("from-a-file".into()))
    );
    std::fs::write(&path, "\n").unwrap();
    let err = file.chargers[0].upstream_password().unwrap_err();
    assert!(
        err.contains("CP-01") && err.contains("no password"),
        "{err}"
    );
}

#[test]
fn a_chargers_upstream_password_refusals() {
    let text = first_charger_with("upstream-password = \"a\"\nupstream-password-file = \"/p\"");
    let problems = parse(&text).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].path, "charger[0].upstream-password-file");
    assert!(problems[0].message.contains("both set"), "{}", problems[0]);

    let text = first_charger_with("upstream-password = \"\"");
    let problems = parse(&text).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].path, "charger[0].upstream-password");

    // A ':' in the id: no Basic auth toward the cloud either (RFC 7617 §2), reported at
    // the key that asks for it (besides the local password's problem at `id`).
    let text = SITE.replace("id = \"CP-02\"", "id = \"CP:02\"").replace(
        "max-current-a = 16",
        "max-current-a = 16\nupstream-password = \"cloud-pw-123\"",
    ) + "\n"
        + URL;
    let problems = parse(&text).unwrap_err();
    let colon = problems
        .iter()
        .find(|p| p.path == "charger[1].upstream-password")
        .unwrap_or_else(|| panic!("{problems:#?}"));
    assert!(colon.message.contains("':'"), "{colon}");
}

#[test]
fn the_summary_names_the_cloud_identity_version_and_passwords() {
    let text = summary(&config_of(&format!(
        "{URL}\nversion = \"1.6\"\nidentity = \"LC-9\""
    )));
    assert!(
        text.contains(
            "upstream: OCPP Local Controller toward wss://cloud.example/ocpp as LC-9 \
             (OCPP 1.6); 2 chargers relayed, 1 with a password\n"
        ),
        "{text}"
    );
    let both = summary(&config_of(&format!(
        "{URL}\n\n[upstream.mqtt]\nurl = \"mqtt://b\""
    )));
    assert!(both.contains("upstream mqtt mqtt://b:1883"), "{both}");
    assert!(both.contains("OCPP Local Controller"), "{both}");
}

#[test]
fn debug_output_never_shows_a_password() {
    let config = config_of(&format!("{URL}\npassword = \"hunter2-secret\""));
    let text = format!("{config:?}");
    assert!(!text.contains("hunter2-secret"), "{text}");
    assert!(!text.contains("correct-horse-battery"), "{text}");
}

#[test]
fn every_change_needs_a_restart_and_no_secret_is_logged() {
    let old = config_of(&format!("{URL}\npassword = \"old-secret\""));
    let new = config_of(
        "[upstream.ocpp]\nurl = \"wss://other.example/ocpp\"\nidentity = \"LC-2\"\n\
         version = \"1.6\"\npassword = \"new-secret\"\ncall-timeout-s = 9",
    );
    let reload = diff(&old, &new);
    assert!(reload.live.is_empty(), "{:?}", reload.live);
    let keys: Vec<&str> = reload.restart.iter().map(|c| c.key.as_str()).collect();
    for key in ["url", "identity", "version", "password", "call-timeout-s"] {
        assert!(
            keys.contains(&format!("upstream.ocpp.{key}").as_str()),
            "{key}: {keys:?}"
        );
    }
    let shown = format!("{:?}", reload.restart);
    assert!(!shown.contains("secret"), "{shown}");
    assert_eq!(reload.effective.upstream, old.upstream, "not applied");

    let removed = diff(&old, &parse(SITE).unwrap());
    assert!(
        removed.restart.iter().any(|c| c.key == "upstream.ocpp"),
        "{:?}",
        removed.restart
    );
}

#[test]
fn a_chargers_upstream_password_change_needs_a_restart_only_when_relayed() {
    let old = config_of(URL);
    let new = parse(&first_charger_with("upstream-password = \"cloud-only-pw\"")).unwrap();
    let reload = diff(&old, &new);
    assert!(
        reload
            .restart
            .iter()
            .any(|c| c.key == "charger.CP-01.upstream-password"),
        "{:?}",
        reload.restart
    );
    assert_eq!(
        reload.effective.chargers[0].upstream_password,
        old.chargers[0].upstream_password
    );
    // Without [upstream.ocpp], the local password change (live) drags its default along.
    let local_old = parse(SITE).unwrap();
    let local_new = parse(&SITE.replace("correct-horse-battery", "another-horse-battery")).unwrap();
    let reload = diff(&local_old, &local_new);
    assert!(reload.restart.is_empty(), "{:?}", reload.restart);
    assert_eq!(
        reload.effective.chargers[0].upstream_password(),
        Ok(Some("another-horse-battery".into()))
    );
}

/// Writes `text` to `name` in `dir`, returns the path as TOML writes it.
fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn load_checks_the_certificates_key_and_password_files() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["cloud.example".to_string()]).unwrap();
    let cert = write(
        dir.path(),
        "cert.pem",
        &params.self_signed(&key).unwrap().pem(),
    );
    let key = write(dir.path(), "key.pem", &key.serialize_pem());
    let empty = write(dir.path(), "empty", "");
    let store = format!(
        "\n[store]\npath = \"{}\"\n",
        dir.path().join("c.db").display()
    );
    let good = first_charger_with(&format!("upstream-password-file = \"{cert}\""))
        + &format!(
            "\npassword-file = \"{cert}\"\nca-file = \"{cert}\"\nclient-cert-file = \"{cert}\"\n\
             client-key-file = \"{key}\"\n"
        )
        + &store;
    let path = write(dir.path(), "good.toml", &good);
    load(std::path::Path::new(&path)).unwrap_or_else(|e| panic!("{e:?}"));

    let bad = first_charger_with(&format!("upstream-password-file = \"{empty}\""))
        + &format!(
            "\npassword-file = \"{empty}\"\nca-file = \"{key}\"\nclient-cert-file = \"/nonexistent\"\n\
             client-key-file = \"{cert}\"\n"
        )
        + &store;
    assert!(parse(&bad).is_ok(), "the text alone is fine");
    let path = write(dir.path(), "bad.toml", &bad);
    let Err(ConfigError::Invalid(problems)) = load(std::path::Path::new(&path)) else {
        panic!("load refuses it")
    };
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for key in [
        "upstream.ocpp.password-file",
        "upstream.ocpp.ca-file",
        "upstream.ocpp.client-cert-file",
        "upstream.ocpp.client-key-file",
        "charger[0].upstream-password-file",
    ] {
        assert!(paths.contains(&key), "{key}: {problems:#?}");
    }
}
