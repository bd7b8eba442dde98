use super::*;
use crate::config::{ConfigError, Problem, load, parse, summary};

const SITE: &str = r#"
[site]
id = "depot-nord"
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
password = "correct-horse-battery"
max-current-a = 16
"#;

/// The site with `upstream` appended (a TOML fragment).
fn site_with(upstream: &str) -> String {
    format!("{SITE}\n{upstream}\n")
}

fn mqtt_of(upstream: &str) -> UpstreamMqtt {
    let config = parse(&site_with(upstream)).unwrap_or_else(|p| panic!("{upstream}: {p:#?}"));
    config.upstream.mqtt.expect("[upstream.mqtt] was read")
}

/// The 1-based line of the first line of `text` that starts with `needle`, from the first
/// `[upstream` table on (the chargers above have a `password` too).
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

/// Parses the site with `upstream` and returns the problem at `path`, which must be on the
/// line that starts with `at`.
fn problem_at(upstream: &str, path: &str, at: &str) -> Problem {
    let text = site_with(upstream);
    let problems = parse(&text).expect_err(upstream);
    let problem = problems
        .iter()
        .find(|p| p.path == path)
        .unwrap_or_else(|| panic!("{path} for {upstream}: {problems:#?}"))
        .clone();
    assert_eq!(
        problem.line,
        Some(line_of(&text, at)),
        "{upstream}: {problem:?}"
    );
    problem
}

#[test]
fn without_upstream_there_is_none_and_mqtt_takes_its_defaults_from_the_site() {
    let config = parse(SITE).unwrap_or_else(|p| panic!("{p:#?}"));
    assert_eq!(config.upstream, Upstream::default());
    assert_eq!(config.upstream.mqtt, None);
    let mqtt = mqtt_of("[upstream.mqtt]\nurl = \"mqtt://broker.local\"");
    assert_eq!(
        mqtt,
        UpstreamMqtt {
            url: "mqtt://broker.local".into(),
            tls: false,
            host: "broker.local".into(),
            port: 1883,
            client_id: "chargegate-depot-nord".into(),
            username: None,
            password: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            topic_prefix: "chargegate/depot-nord".into(),
            keep_alive_s: 30,
            telemetry_interval_s: 60,
            telemetry_retention_days: 7,
        }
    );
    assert_eq!(mqtt.password(), Ok(None));
}

#[test]
fn every_key_is_read() {
    let mqtt = mqtt_of(
        "[upstream.mqtt]\nurl = \"mqtts://broker.example:8884\"\nclient-id = \"gw.nord_1\"\n\
         username = \"fleet\"\npassword = \"s3cret\"\nca-file = \"/etc/ca.pem\"\n\
         client-cert-file = \"/etc/c.pem\"\nclient-key-file = \"/etc/k.pem\"\n\
         topic-prefix = \"fleet/nord\"\nkeep-alive-s = 5\ntelemetry-interval-s = 86400\n\
         telemetry-retention-days = 366",
    );
    assert!(mqtt.tls);
    assert_eq!((mqtt.host.as_str(), mqtt.port), ("broker.example", 8884));
    assert_eq!(mqtt.client_id, "gw.nord_1");
    assert_eq!(mqtt.username.as_deref(), Some("fleet"));
    assert_eq!(mqtt.password(), Ok(Some("s3cret".into())));
    assert_eq!(mqtt.ca_file, Some(PathBuf::from("/etc/ca.pem")));
    assert_eq!(mqtt.client_cert_file, Some(PathBuf::from("/etc/c.pem")));
    assert_eq!(mqtt.client_key_file, Some(PathBuf::from("/etc/k.pem")));
    assert_eq!(mqtt.topic_prefix, "fleet/nord");
    assert_eq!(mqtt.keep_alive_s, 5);
    assert_eq!(mqtt.telemetry_interval_s, 86_400);
    assert_eq!(mqtt.telemetry_retention_days, 366);
    assert_eq!(mqtt.worst_case_telemetry_messages(), 366);
}

#[test]
fn url_forms_give_scheme_host_and_port() {
    for (url, tls, host, port) in [
        ("mqtt://broker.local", false, "broker.local", 1883),
        ("mqtts://broker.local", true, "broker.local", 8883),
        ("mqtt://broker.local:1884/", false, "broker.local", 1884),
        ("MQTTS://Broker.Example:443", true, "Broker.Example", 443),
        ("mqtt://10.0.0.5", false, "10.0.0.5", 1883),
        ("mqtts://10.0.0.5:65535", true, "10.0.0.5", 65535),
        ("mqtt://[::1]:1884", false, "::1", 1884),
        ("mqtts://[2001:db8::17]", true, "2001:db8::17", 8883),
        ("mqtt://localhost", false, "localhost", 1883),
    ] {
        let mqtt = mqtt_of(&format!("[upstream.mqtt]\nurl = \"{url}\""));
        assert_eq!(
            (mqtt.tls, mqtt.host.as_str(), mqtt.port),
            (tls, host, port),
            "{url}"
        );
        assert_eq!(mqtt.url, url, "kept as written");
    }
    let v6 = mqtt_of("[upstream.mqtt]\nurl = \"mqtt://[::1]\"");
    assert_eq!(v6.endpoint(), "mqtt://[::1]:1883");
}

#[test]
fn bad_urls_are_problems_at_the_url_with_a_hint() {
    for (url, says) in [
        ("broker.local:1883", "not a URL"),
        ("http://broker.local", "other than mqtt"),
        ("ws://broker.local:8080", "WebSocket"),
        ("tcp://broker.local", "scheme tcp"),
        ("ssl://broker.local", "scheme ssl"),
        ("mqtt://broker.local/site", "path"),
        ("mqtt://broker.local?x=1", "query"),
        ("mqtt://broker.local#frag", "fragment"),
        ("mqtt://broker.local:0", "port"),
        ("mqtt://broker.local:65536", "port"),
        ("mqtt://broker.local:", "port"),
        ("mqtt://broker.local:+80", "port"),
        ("mqtt://:1883", "no host"),
        ("mqtt://", "no host"),
        ("mqtt://bad_host", "neither a name"),
        ("mqtt://999.1.1.1", "neither a name"),
        ("mqtt://::1:1883", "more than one ':'"),
        ("mqtt://[::1:1883", "without its ']'"),
        ("mqtt://[broker]:1883", "no IPv6 address"),
        ("mqtt://[::1]1883", "not :PORT"),
    ] {
        let problem = problem_at(
            &format!("[upstream.mqtt]\nurl = \"{url}\""),
            "upstream.mqtt.url",
            "url =",
        );
        assert!(problem.message.contains(says), "{url}: {problem}");
        assert!(problem.message.contains(url), "names the url: {problem}");
        assert!(problem.hint.is_some(), "{problem:?}");
    }
}

#[test]
fn credentials_in_the_url_are_refused_without_repeating_them() {
    for url in [
        "mqtt://fleet:hunter22@broker.local",
        "mqtts://fleet@broker.local:8883",
        "mqtt://fleet:hun/ter22@broker.local",
    ] {
        let problem = problem_at(
            &format!("[upstream.mqtt]\nurl = \"{url}\""),
            "upstream.mqtt.url",
            "url =",
        );
        let text = problem.to_string();
        assert!(text.contains("user name or password"), "{text}");
        assert!(
            !text.contains("hunter22") && !text.contains("fleet"),
            "{text}"
        );
        assert!(problem.hint.unwrap().contains("username and password"));
    }
}

#[test]
fn every_bad_value_is_a_problem_at_its_key_and_line() {
    let long_prefix = format!("\"{}\"", "a/".repeat(100) + "b");
    let cases: Vec<(&str, String)> = vec![
        ("url", "42".into()),
        ("client-id", "\"\"".into()),
        ("client-id", "\"gw nord\"".into()),
        ("client-id", format!("\"{}\"", "x".repeat(65))),
        ("username", "\"\"".into()),
        ("username", "\"fleet\\u0007\"".into()),
        ("password", "\"\"".into()),
        ("password-file", "\"\"".into()),
        ("topic-prefix", "\"\"".into()),
        ("topic-prefix", "\"fleet/+/nord\"".into()),
        ("topic-prefix", "\"fleet/#\"".into()),
        ("topic-prefix", "\"fleet\\u0000nord\"".into()),
        ("topic-prefix", "\"/fleet\"".into()),
        ("topic-prefix", "\"fleet/\"".into()),
        ("topic-prefix", "\"fleet//nord\"".into()),
        ("topic-prefix", "\"$SYS/nord\"".into()),
        ("topic-prefix", long_prefix),
        ("topic-prefix", "7".into()),
        ("keep-alive-s", "4".into()),
        ("keep-alive-s", "3601".into()),
        ("keep-alive-s", "\"30\"".into()),
        ("telemetry-interval-s", "0".into()),
        ("telemetry-interval-s", "86401".into()),
        ("telemetry-retention-days", "0".into()),
        ("telemetry-retention-days", "367".into()),
        ("telemetry-retention-days", "1.5".into()),
    ];
    for (key, value) in cases {
        // username is set so that a password is not also refused for lacking one.
        let url = if key == "url" {
            String::new()
        } else {
            "url = \"mqtts://broker.local\"\n".into()
        };
        let user = if key.starts_with("password") {
            "username = \"fleet\"\n"
        } else {
            ""
        };
        let upstream = format!("[upstream.mqtt]\n{url}{user}{key} = {value}");
        problem_at(
            &upstream,
            &format!("upstream.mqtt.{key}"),
            &format!("{key} ="),
        );
    }
}

#[test]
fn a_password_is_inline_or_in_a_file_and_belongs_to_a_username() {
    let both = "[upstream.mqtt]\nurl = \"mqtt://b\"\nusername = \"u\"\npassword = \"p\"\n\
                password-file = \"/etc/chargegate/mqtt-password\"";
    let problem = problem_at(both, "upstream.mqtt.password-file", "password-file =");
    assert!(problem.message.contains("both"), "{problem}");
    for (upstream, key) in [
        (
            "[upstream.mqtt]\nurl = \"mqtt://b\"\npassword = \"p\"",
            "password",
        ),
        (
            "[upstream.mqtt]\nurl = \"mqtt://b\"\npassword-file = \"/p\"",
            "password-file",
        ),
    ] {
        let problem = problem_at(
            upstream,
            &format!("upstream.mqtt.{key}"),
            &format!("{key} ="),
        );
        assert!(problem.message.contains("needs a username"), "{problem}");
    }
    let from_file =
        mqtt_of("[upstream.mqtt]\nurl = \"mqtt://b\"\nusername = \"u\"\npassword-file = \"/p\"");
    assert_eq!(
        from_file.password,
        Some(UpstreamPassword::File("/p".into()))
    );
}

#[test]
fn tls_files_need_mqtts_and_a_client_certificate_needs_its_key() {
    for key in TLS_KEYS {
        let upstream = format!(
            "[upstream.mqtt]\nurl = \"mqtt://broker.local\"\n{key} = \"/etc/chargegate/x.pem\""
        );
        let problem = problem_at(
            &upstream,
            &format!("upstream.mqtt.{key}"),
            &format!("{key} ="),
        );
        assert!(problem.message.contains("needs mqtts://"), "{problem}");
    }
    let cert_only = "[upstream.mqtt]\nurl = \"mqtts://b\"\nclient-cert-file = \"/c.pem\"";
    let problem = problem_at(
        cert_only,
        "upstream.mqtt.client-key-file",
        "[upstream.mqtt]",
    );
    assert!(
        problem.message.contains("client-key-file is not"),
        "{problem}"
    );
    let key_only = "[upstream.mqtt]\nurl = \"mqtts://b\"\nclient-key-file = \"/k.pem\"";
    let problem = problem_at(
        key_only,
        "upstream.mqtt.client-cert-file",
        "[upstream.mqtt]",
    );
    assert!(
        problem.message.contains("client-cert-file is not"),
        "{problem}"
    );
}

#[test]
fn unknown_keys_are_refused() {
    let unknown = "[upstream]\nkafka = true\n\n[upstream.mqtt]\nurl = \"mqtt://b\"";
    let problem = problem_at(unknown, "upstream.kafka", "kafka =");
    assert_eq!(problem.message, "unknown key");
    let typo = "[upstream.mqtt]\nurl = \"mqtt://b\"\nkeep-alive = 30";
    let problem = problem_at(typo, "upstream.mqtt.keep-alive", "keep-alive =");
    assert_eq!(
        problem.hint.as_deref(),
        Some("did you mean `keep-alive-s`?")
    );
    let required = problem_at(
        "[upstream.mqtt]\nclient-id = \"x\"",
        "upstream.mqtt.url",
        "[upstream.mqtt]",
    );
    assert_eq!(required.message, "required key is missing");
}

#[test]
fn a_site_id_too_long_for_the_default_client_id_asks_for_one() {
    let long_id = "d".repeat(60);
    let text = site_with("[upstream.mqtt]\nurl = \"mqtt://b\"")
        .replace("id = \"depot-nord\"", &format!("id = \"{long_id}\""));
    let problems = parse(&text).unwrap_err();
    let problem = problems
        .iter()
        .find(|p| p.path == "upstream.mqtt.client-id")
        .unwrap_or_else(|| panic!("{problems:#?}"));
    assert_eq!(problem.line, Some(line_of(&text, "[upstream.mqtt]")));
    assert!(problem.message.contains("longer than 64"), "{problem}");
    let named = text.replace("url = ", "client-id = \"gw-1\"\nurl = ");
    let mqtt = parse(&named)
        .unwrap_or_else(|p| panic!("{p:#?}"))
        .upstream
        .mqtt
        .unwrap();
    assert_eq!(mqtt.client_id, "gw-1");
    assert_eq!(mqtt.topic_prefix, format!("chargegate/{long_id}"));
}

#[test]
fn password_reads_the_first_line_of_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut mqtt =
        mqtt_of("[upstream.mqtt]\nurl = \"mqtt://b\"\nusername = \"u\"\npassword = \"inline\"");
    assert_eq!(mqtt.password(), Ok(Some("inline".into())));
    for (content, want) in [
        ("s3cret\n", Ok(Some("s3cret".to_string()))),
        ("s3cret\r\nsecond line\n", Ok(Some("s3cret".to_string()))),
        ("no newline", Ok(Some("no newline".to_string()))),
    ] {
        let path = dir.path().join("password");
        std::fs::write(&path, content).unwrap();
        mqtt.password = Some(UpstreamPassword::File(path));
        assert_eq!(mqtt.password(), want, "{content:?}");
    }
    for content in ["", "\n", "\nsecond line"] {
        let path = dir.path().join("empty");
        std::fs::write(&path, content).unwrap();
        mqtt.password = Some(UpstreamPassword::File(path.clone()));
        let err = mqtt.password().unwrap_err();
        assert!(
            err.contains(&path.display().to_string()) && err.contains("no password"),
            "{err}"
        );
    }
    let missing = dir.path().join("missing");
    mqtt.password = Some(UpstreamPassword::File(missing.clone()));
    let err = mqtt.password().unwrap_err();
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("No such file"), "names the io error: {err}");
}

#[test]
fn debug_output_never_shows_the_password() {
    let mqtt = mqtt_of(
        "[upstream.mqtt]\nurl = \"mqtt://b\"\nusername = \"u\"\npassword = \"hunter2-secret\"",
    );
    let config = parse(&site_with(
        "[upstream.mqtt]\nurl = \"mqtt://b\"\nusername = \"u\"\npassword = \"hunter2-secret\"",
    ))
    .unwrap();
    for text in [
        format!("{mqtt:?}"),
        format!("{mqtt:#?}"),
        format!("{config:?}"),
    ] {
        assert!(!text.contains("hunter2-secret"), "{text}");
        assert!(text.contains("Inline(***)"), "{text}");
    }
    let file = UpstreamPassword::File("/etc/chargegate/mqtt-password".into());
    assert_eq!(
        format!("{file:?}"),
        "File(\"/etc/chargegate/mqtt-password\")"
    );
}

#[test]
fn the_summary_shows_the_broker_topics_and_the_worst_case_kept_offline() {
    let config = parse(&site_with(
        "[upstream.mqtt]\nurl = \"mqtts://broker:8883\"\ntelemetry-interval-s = 60\n\
         telemetry-retention-days = 7",
    ))
    .unwrap();
    let mqtt = config.upstream.mqtt.as_ref().unwrap();
    // 7 days of one message a minute.
    assert_eq!(mqtt.worst_case_telemetry_messages(), 7 * 24 * 60);
    // 10080 messages of 600 B + 250 B for each of the 2 chargers: 11 088 000 B, 10.6 MiB.
    let text = summary(&config);
    assert!(
        text.contains(
            "upstream mqtt mqtts://broker:8883 as chargegate-depot-nord, topics under \
             chargegate/depot-nord, telemetry every 60 s, kept 7 days offline \
             (at most 10080 messages, about 11 MiB by estimate)\n"
        ),
        "{text}"
    );
    assert!(summary(&parse(SITE).unwrap()).contains("upstream: none"));
    assert_eq!(about_bytes(1), "1 KiB");
    assert_eq!(about_bytes(1536 * 1024 * 1024), "2 GiB");
    let month = mqtt_of(
        "[upstream.mqtt]\nurl = \"mqtt://b\"\ntelemetry-interval-s = 1\ntelemetry-retention-days = 366",
    );
    assert_eq!(month.worst_case_telemetry_messages(), 366 * 86_400);
}

/// Writes `text` to `name` in `dir`, returns the path as TOML writes it.
fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The site with `upstream`, its store in `dir`, written to `dir/site.toml` and loaded.
fn load_with(
    dir: &std::path::Path,
    upstream: &str,
) -> (String, Result<crate::config::Config, ConfigError>) {
    let text = site_with(upstream)
        + &format!(
            "\n[store]\npath = \"{}\"\n",
            dir.join("chargegate.db").display()
        );
    let path = write(dir, "site.toml", &text);
    (text, load(std::path::Path::new(&path)))
}

#[test]
fn load_checks_the_certificates_key_and_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["broker.local".to_string()]).unwrap();
    let cert = write(
        dir.path(),
        "cert.pem",
        &params.self_signed(&key).unwrap().pem(),
    );
    let key = write(dir.path(), "key.pem", &key.serialize_pem());
    let password = write(dir.path(), "password", "s3cret\n");
    let good = format!(
        "[upstream.mqtt]\nurl = \"mqtts://broker.local\"\nusername = \"u\"\n\
         password-file = \"{password}\"\nca-file = \"{cert}\"\nclient-cert-file = \"{cert}\"\n\
         client-key-file = \"{key}\""
    );
    let (_, loaded) = load_with(dir.path(), &good);
    let mqtt = loaded
        .unwrap_or_else(|e| panic!("{e:?}"))
        .upstream
        .mqtt
        .unwrap();
    assert_eq!(mqtt.password(), Ok(Some("s3cret".into())));

    let empty = write(dir.path(), "empty", "");
    let bad = good
        .replace(
            &format!("password-file = \"{password}\""),
            &format!("password-file = \"{empty}\""),
        )
        .replace(
            &format!("ca-file = \"{cert}\""),
            &format!("ca-file = \"{key}\""),
        )
        .replace(
            &format!("client-cert-file = \"{cert}\""),
            "client-cert-file = \"/nonexistent/c.pem\"",
        )
        .replace(
            &format!("client-key-file = \"{key}\""),
            &format!("client-key-file = \"{cert}\""),
        );
    assert!(parse(&site_with(&bad)).is_ok(), "the text alone is fine");
    let (text, loaded) = load_with(dir.path(), &bad);
    let Err(ConfigError::Invalid(problems)) = loaded else {
        panic!("load refuses it")
    };
    for key in [
        "password-file",
        "ca-file",
        "client-cert-file",
        "client-key-file",
    ] {
        let problem = problems
            .iter()
            .find(|p| p.path == format!("upstream.mqtt.{key}"))
            .unwrap_or_else(|| panic!("{key}: {problems:#?}"));
        assert_eq!(
            problem.line,
            Some(line_of(&text, &format!("{key} ="))),
            "{problem:?}"
        );
    }
}
