//! The systemd unit (`systemd/chargegate.service`) as systemd reads it (issue 14):
//! `systemd-analyze verify` finds no problem, and `systemd-analyze security` rates its
//! exposure at most `MAX_EXPOSURE` (the README records the figure). `.ci/run` installs
//! systemd's tools where they are missing; elsewhere, without them, the test says so and
//! checks the unit's text only.

use std::path::Path;
use std::process::Command;

/// The most exposure `systemd-analyze security` may rate (0-10, lower is safer; 1.4 at
/// the time of writing; a unit without hardening rates 9.6).
const MAX_EXPOSURE: &str = "2.0";

fn unit_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/chargegate.service");
    std::fs::read_to_string(path).unwrap()
}

/// The unit with its `ExecStart` pointing at this build, in a temp folder, as systemd would
/// find it installed.
fn installed_copy(dir: &Path) -> std::path::PathBuf {
    let text = unit_text().replace("/usr/bin/chargegate", env!("CARGO_BIN_EXE_chargegate"));
    let path = dir.join("chargegate.service");
    std::fs::write(&path, text).unwrap();
    path
}

fn systemd_analyze() -> Option<&'static str> {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if found {
        Some("systemd-analyze")
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is missing in CI (.ci/run installs it)"
        );
        eprintln!("systemd-analyze not found: the unit's text is checked, not its verification");
        None
    }
}

#[test]
fn the_unit_is_notify_watched_and_hardened() {
    let text = unit_text();
    for line in [
        "Type=notify",
        "WatchdogSec=30",
        "RestartPreventExitStatus=78",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "CapabilityBoundingSet=",
        "SystemCallFilter=@system-service",
        "ProtectSystem=strict",
        "DevicePolicy=closed",
        "SupplementaryGroups=dialout",
        "User=chargegate",
    ] {
        assert!(
            text.lines().any(|l| l.trim() == line),
            "{line} is not in the unit"
        );
    }
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let unit = installed_copy(dir.path());
    let verify = Command::new(analyze)
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && !said.contains("chargegate.service:"),
        "systemd-analyze verify: {said}"
    );
    let threshold = format!("--threshold={}", MAX_EXPOSURE.replace('.', ""));
    let security = Command::new(analyze)
        .args(["security", "--offline=true", &threshold])
        .arg(&unit)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&security.stdout);
    let overall = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or("no overall exposure line");
    assert!(
        security.status.success(),
        "exposure above {MAX_EXPOSURE}: {overall}\n{report}"
    );
}
