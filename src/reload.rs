//! Reloading the config while running (`systemctl reload`, SIGHUP): the file is read and
//! checked as `chargegate validate` checks it; a bad file changes nothing. A good one is
//! compared with the config in force (`config::diff`): what can change live is applied
//! (the id tokens to the store here, everything else by the tasks that follow
//! `config::Live`), what needs a restart is logged at WARN and left as it runs. Every
//! applied change is logged at INFO with its old and new value.
//!
//! The mix of running and new values is checked again before anything is applied: a
//! change held back for the restart (a removed charger) can make a live one (a lower
//! grid limit) break the failsafe budget (S3); then nothing is applied. Never panics on
//! what the file holds.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::diff::{self, Reload};
use crate::config::{self, Config, ConfigError, Problem};
use crate::csms::Csms;
use crate::store::StoreError;

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file cannot be read or is not a valid config.
    #[error("{0}")]
    File(#[from] ConfigError),
    /// With the changes that need a restart left out, the config would not be valid.
    #[error("{} problem(s) with the changes that need a restart left out", .0.len())]
    Mixed(Vec<Problem>),
    /// The id tokens could not be written (the store's fault, not the file's).
    #[error("cannot store the id tokens: {0}")]
    Store(#[from] StoreError),
}

impl ReloadError {
    /// Every problem, one line each, as `validate` names them.
    pub fn problems(&self) -> Vec<String> {
        match self {
            ReloadError::File(ConfigError::Invalid(problems)) | ReloadError::Mixed(problems) => {
                problems.iter().map(one_line).collect()
            }
            other => vec![other.to_string()],
        }
    }
}

/// Reads and checks `path` as `validate` does, on the blocking pool (the file and the
/// TLS files it names are read from disk); `store_path` overrides `[store] path` as
/// `run --store-path` does, so it does not read as a change.
pub async fn read(path: &Path, store_path: Option<&Path>) -> Result<Config, ReloadError> {
    let owned = path.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || config::load(&owned)).await;
    let mut config = match loaded {
        Ok(loaded) => loaded?,
        Err(e) => {
            let source = std::io::Error::other(format!("the check did not finish: {e}"));
            let path = path.to_path_buf();
            return Err(ConfigError::Read { path, source }.into());
        }
    };
    if let Some(store_path) = store_path {
        config.store.path = store_path.to_path_buf();
    }
    Ok(config)
}

/// Puts `new`'s live changes in force (see the module doc); on an error nothing changed.
pub async fn apply(
    running: &watch::Sender<Arc<Config>>,
    csms: &Csms,
    new: Config,
) -> Result<Reload, ReloadError> {
    let old = running.borrow().clone();
    let reload = diff::diff(&old, &new);
    let problems = config::recheck(&reload.effective);
    if !problems.is_empty() {
        return Err(ReloadError::Mixed(problems));
    }
    if reload.effective.id_tokens != old.id_tokens {
        // First: the one step that can fail leaves the rest untouched (one transaction).
        csms.load_tokens(&reload.effective).await?;
    }
    if !reload.live.is_empty() {
        running.send_replace(Arc::new(reload.effective.clone()));
    }
    Ok(reload)
}

/// Logs what a reload did: each live change at INFO, each held one at WARN.
pub fn log(reload: &Reload) {
    for c in &reload.live {
        tracing::info!(
            key = c.key,
            "reload applied {}: {} -> {}",
            c.key,
            c.old,
            c.new
        );
    }
    for c in &reload.restart {
        tracing::warn!(
            key = c.key,
            "needs a restart: {} ({} -> {}); running as before until `systemctl restart chargegate`",
            c.key,
            c.old,
            c.new
        );
    }
    if reload.live.is_empty() && reload.restart.is_empty() {
        tracing::info!("reload: the config file holds no change");
    }
}

/// The line `systemctl status` shows after a reload.
pub fn status_line(result: &Result<Reload, ReloadError>) -> String {
    match result {
        Ok(r) if r.restart.is_empty() => format!("reloaded: {} change(s) applied", r.live.len()),
        Ok(r) => format!(
            "reloaded: {} change(s) applied, {} need a restart",
            r.live.len(),
            r.restart.len()
        ),
        Err(e) => format!("reload failed, running on the previous config: {e}"),
    }
}

/// Logs a refused reload: every problem at ERROR, then that the old config stays.
pub fn log_refused(path: &Path, error: &ReloadError) {
    for problem in error.problems() {
        tracing::error!("reload of {}: {problem}", path.display());
    }
    tracing::error!(
        "reload refused ({error}); still running on the previous config, nothing changed"
    );
}

fn one_line(p: &Problem) -> String {
    let mut out = match p.line {
        Some(line) => format!("line {line}: {}: {}", p.path, p.message),
        None => format!("{}: {}", p.path, p.message),
    };
    if let Some(hint) = &p.hint {
        out += &format!(" (hint: {hint})");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_one_line_with_its_hint() {
        let p = Problem {
            path: "site.margin-a".into(),
            line: Some(4),
            message: "the margin leaves nothing".into(),
            hint: Some("a few A".into()),
        };
        assert_eq!(
            one_line(&p),
            "line 4: site.margin-a: the margin leaves nothing (hint: a few A)"
        );
    }
}
