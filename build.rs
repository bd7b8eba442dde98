//! Build facts for `chargegate --version` (issue 14): the git commit the binary was built
//! from and the target triple, so a gateway in the field says exactly what it runs.
//! Outside a git checkout (a source tarball) the commit reads `unknown`.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_string());
    println!("cargo:rustc-env=CHARGEGATE_COMMIT={commit}");
    println!("cargo:rustc-env=CHARGEGATE_TARGET={target}");
    // A new commit moves HEAD or the branch it names. Ask git where those live: in a
    // worktree `.git` is a file and HEAD sits under the common dir's `worktrees/`; naming a
    // path that does not exist would make cargo rerun this script, and rebuild the crate,
    // on every command.
    for path in [git_path("HEAD"), git_path("refs/heads")]
        .into_iter()
        .flatten()
    {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// The file system path git uses for `name` in this checkout (`git rev-parse --git-path`),
/// or `None` outside a git checkout.
fn git_path(name: &str) -> Option<String> {
    Command::new("git")
        .args(["rev-parse", "--git-path", name])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && std::path::Path::new(s).exists())
}
