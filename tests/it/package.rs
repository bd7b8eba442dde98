//! The Debian package (issue 14): `[package.metadata.deb]` in Cargo.toml, `debian/`.
//!
//! The packaged `/etc/chargegate/site.toml` (`debian/site.toml`) is the annotated example
//! without the two numbers no example can know (the site's fuse and worst-case load), so
//! an installed service refuses to start until the electrician filled them in. And the
//! amd64 package `.ci/run` builds (`CHARGEGATE_DEB`) is opened with `dpkg-deb`: its files,
//! conffile, dependencies and maintainer scripts. Outside CI, without a package, the test
//! says so; in CI a missing package fails it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_chargegate");
/// The keys the packaged file leaves to fill in.
const SITE_VALUES: [&str; 2] = ["grid-limit-a", "worst-case-load-a"];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap()
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn is_site_value(line: &str) -> bool {
    SITE_VALUES.iter().any(|key| {
        line.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    })
}

#[test]
fn the_packaged_site_file_is_the_example_without_the_site_values() {
    let example = read("systemd/site.example.toml");
    let packaged = read("debian/site.toml");
    let settings = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !is_comment(l) && !is_site_value(l))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        settings(&packaged),
        settings(&example),
        "debian/site.toml must be systemd/site.example.toml with only comments added and \
         the site values commented out: copy the example's change over"
    );
    for key in SITE_VALUES {
        assert!(
            example.lines().any(|l| l.starts_with(key)),
            "the example sets {key}"
        );
        assert!(
            !packaged.lines().any(is_site_value) && packaged.contains(&format!("# {key} =")),
            "the packaged file leaves {key} to fill in, as a comment"
        );
    }
}

fn validate(config: &Path) -> Output {
    Command::new(BIN)
        .args(["validate", "--config"])
        .arg(config)
        .output()
        .unwrap()
}

#[test]
fn the_packaged_site_file_refuses_to_start_until_filled_in() {
    let dir = tempfile::tempdir().unwrap();
    // The database in a temp folder: the store's folder check must not decide this.
    let packaged = read("debian/site.toml").replace(
        "/var/lib/chargegate/",
        &format!("{}/", dir.path().display()),
    );

    let as_shipped = dir.path().join("site.toml");
    std::fs::write(&as_shipped, &packaged).unwrap();
    let out = validate(&as_shipped);
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(78), "{said}");
    for key in SITE_VALUES {
        assert!(said.contains(key), "validate names {key}: {said}");
    }

    let filled: String = packaged
        .lines()
        .map(|l| match l {
            l if l.starts_with("# grid-limit-a =") => "grid-limit-a = 250".to_owned(),
            l if l.starts_with("# worst-case-load-a =") => "worst-case-load-a = 150".to_owned(),
            l => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let filled_in = dir.path().join("filled.toml");
    std::fs::write(&filled_in, filled).unwrap();
    let out = validate(&filled_in);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The programs other than chargegate that the unit runs, and the Debian package of each.
const UNIT_PROGRAMS: [(&str, &str); 1] = [("/bin/kill", "procps")];

#[test]
fn the_package_depends_on_every_program_the_unit_runs() {
    let depends = read("Cargo.toml")
        .lines()
        .find_map(|l| l.strip_prefix("depends = "))
        .expect("[package.metadata.deb] depends")
        .trim_matches('"')
        .to_owned();
    let depends: Vec<&str> = depends
        .split(',')
        .map(|d| d.split_whitespace().next().unwrap_or_default())
        .collect();
    for line in read("systemd/chargegate.service").lines() {
        let Some((key, command)) = line.split_once('=') else {
            continue;
        };
        if !key.starts_with("Exec") {
            continue;
        }
        // systemd's prefixes: `-` ignore failure, `@` argv0, `:` `+` `!` privileges.
        let program = command
            .trim_start_matches(['-', '@', ':', '+', '!'])
            .split_whitespace()
            .next()
            .unwrap_or_default();
        if program == "/usr/bin/chargegate" {
            continue;
        }
        let package = UNIT_PROGRAMS
            .iter()
            .find_map(|(p, package)| (*p == program).then_some(*package))
            .unwrap_or_else(|| {
                panic!("{key}= runs {program}: add its Debian package to UNIT_PROGRAMS")
            });
        assert!(
            depends.contains(&package),
            "{key}= runs {program}, from {package}, which a minimal Debian lacks: add it to \
             [package.metadata.deb] depends (now {depends:?})"
        );
    }
}

/// The amd64 package `.ci/run` built, or `None` outside CI when there is none.
fn built_package() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHARGEGATE_DEB") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "CHARGEGATE_DEB={} is not a file",
            path.display()
        );
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CHARGEGATE_DEB is not set in CI (.ci/run builds the package and sets it)"
    );
    eprintln!(
        "CHARGEGATE_DEB not set: the package's contents are not checked \
         (cargo deb, then CHARGEGATE_DEB=target/debian/chargegate_..._amd64.deb)"
    );
    None
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let out = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .expect("dpkg-deb runs");
    assert!(
        out.status.success(),
        "dpkg-deb {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `dpkg-deb -x` (the files) or `-e` (the control files) into a temp folder.
fn unpack(what: &str, deb: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("dpkg-deb")
        .arg(what)
        .arg(deb)
        .arg(dir.path())
        .output()
        .expect("dpkg-deb runs");
    assert!(
        out.status.success(),
        "dpkg-deb {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn names_in(folder: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo(folder))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    names
}

#[test]
fn the_amd64_package_holds_the_daemon_its_unit_config_and_profiles() {
    let Some(deb) = built_package() else {
        return;
    };
    check_listing(&deb);
    check_files(&deb);
    check_control(&deb);
}

/// Paths, modes and owners, from `dpkg-deb -c` (tar's listing).
fn check_listing(deb: &Path) {
    let listing = dpkg_deb(&["-c"], deb);
    let entry = |path: &str| -> String {
        listing
            .lines()
            .find(|l| l.ends_with(&format!(" .{path}")))
            .unwrap_or_else(|| panic!("{path} is not in the package:\n{listing}"))
            .to_owned()
    };
    for line in listing.lines() {
        assert!(
            line.contains(" 0/0 ") || line.contains(" root/root "),
            "owned by root: {line}"
        );
    }
    assert!(entry("/usr/bin/chargegate").starts_with("-rwxr-xr-x "));
    assert!(entry("/usr/lib/systemd/system/chargegate.service").starts_with("-rw-r--r-- "));
    // The site file may hold passwords: not world-readable (postinst gives it to the
    // service's group).
    assert!(entry("/etc/chargegate/site.toml").starts_with("-rw-r----- "));
    for kind in ["meter", "charger"] {
        for name in names_in(&format!("profiles/{kind}")) {
            entry(&format!("/usr/share/chargegate/profiles/{kind}/{name}"));
        }
    }
    for doc in [
        "README.md",
        "CHANGELOG.md",
        "site.example.toml",
        "copyright",
    ] {
        entry(&format!("/usr/share/doc/chargegate/{doc}"));
    }
}

/// The files are this checkout's, and the binary runs.
fn check_files(deb: &Path) {
    let root = unpack("-x", deb);
    let installed = |path: &str| std::fs::read_to_string(root.path().join(path)).unwrap();
    assert_eq!(
        installed("usr/lib/systemd/system/chargegate.service"),
        read("systemd/chargegate.service")
    );
    assert_eq!(
        installed("etc/chargegate/site.toml"),
        read("debian/site.toml")
    );
    let version = Command::new(root.path().join("usr/bin/chargegate"))
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.contains(env!("CARGO_PKG_VERSION")) && version.contains("x86_64-unknown-linux-gnu"),
        "{version}"
    );
}

/// Control: architecture, dependencies, the conffile, the maintainer scripts.
fn check_control(deb: &Path) {
    let info = dpkg_deb(&["-I"], deb);
    let field = |name: &str| -> String {
        info.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name}: in\n{info}"))
            .to_owned()
    };
    assert_eq!(field("Package"), "chargegate");
    assert_eq!(field("Architecture"), "amd64");
    assert_eq!(field("Version"), format!("{}-1", env!("CARGO_PKG_VERSION")));
    assert!(field("Depends").contains("adduser"), "{info}");
    assert!(
        field("Depends").contains("procps"),
        "/bin/kill for ExecReload=: {info}"
    );

    let control = unpack("-e", deb);
    let script =
        |name: &str| std::fs::read_to_string(control.path().join(name)).unwrap_or_default();
    let conffiles: BTreeSet<String> = script("conffiles").lines().map(str::to_owned).collect();
    assert_eq!(
        conffiles,
        BTreeSet::from(["/etc/chargegate/site.toml".to_owned()])
    );
    let postinst = script("postinst");
    assert!(postinst.contains("adduser --system --group"), "{postinst}");
    assert!(
        postinst.contains("adduser chargegate dialout"),
        "{postinst}"
    );
    assert_eq!(
        postinst
            .matches("deb-systemd-helper enable chargegate.service")
            .count(),
        1,
        "enabled once, after the user exists: {postinst}"
    );
    assert!(
        postinst.find("adduser --system") < postinst.find("deb-systemd-helper enable"),
        "{postinst}"
    );
    // Never started by the package: only `try-restart` on upgrade, which starts nothing.
    assert!(!postinst.contains("deb-systemd-invoke start"), "{postinst}");
    assert!(!postinst.contains("#DEBHELPER#"), "{postinst}");
    assert!(
        script("prerm").contains("deb-systemd-invoke stop"),
        "the service stops on removal"
    );
    assert!(
        script("postrm").contains("rm -rf /var/lib/chargegate"),
        "purge removes the database"
    );
    for name in ["postinst", "prerm", "postrm"] {
        let check = Command::new("sh")
            .arg("-n")
            .arg(control.path().join(name))
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}
