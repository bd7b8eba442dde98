//! Charger profiles: how a charger model takes limits, as data (STYLE.md §6).
//!
//! A profile is `profiles/charger/<name>.toml` (documented in `profiles/README.md`): the
//! rate unit it accepts, the step its limits are rounded down to, whether it honours
//! TxProfile, and whether 0 A pauses it. The config loads each `[[charger]] profile` once;
//! dispatch builds profiles to fit. Never performs IO beyond reading the profile file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How a charger takes limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerQuirks {
    /// The charger only accepts schedules in W.
    pub watts_only: bool,
    /// Limits are rounded down to a multiple of this, in A (0.1 A is the 1.6 schema's step).
    pub step_a: f64,
    /// Honours TxProfile; `false`: leases go out as station-wide TxDefaultProfile.
    pub tx_profile: bool,
    /// 0 A pauses it; `false`: it is never sent less than its minimum current.
    pub zero_pause: bool,
}

impl Default for ChargerQuirks {
    /// The `generic` profile.
    fn default() -> Self {
        Self {
            watts_only: false,
            step_a: 0.1,
            tx_profile: true,
            zero_pause: true,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ProfileFile {
    /// A human name, for `validate` and logs.
    #[allow(dead_code)]
    name: String,
    rate_unit: RateUnitName,
    #[serde(default = "default_step")]
    step_a: f64,
    #[serde(default = "yes")]
    tx_profile: bool,
    #[serde(default = "yes")]
    zero_pause: bool,
}

#[derive(Debug, Deserialize)]
enum RateUnitName {
    A,
    W,
}

fn default_step() -> f64 {
    0.1
}

fn yes() -> bool {
    true
}

/// Why a charger profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum QuirksError {
    #[error("no charger profile {name:?} in {}", .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotFound {
        name: String,
        searched: Vec<PathBuf>,
    },
    #[error("charger profile {path}: {message}")]
    Invalid { path: String, message: String },
}

/// Where charger profiles are looked for, in order.
pub fn default_dirs() -> Vec<PathBuf> {
    vec![
        PathBuf::from("/usr/share/chargegate/profiles/charger"),
        PathBuf::from("profiles/charger"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/charger"),
    ]
}

/// Loads the charger profile `name` from the first folder that has it.
pub fn load(name: &str, dirs: &[PathBuf]) -> Result<ChargerQuirks, QuirksError> {
    // A profile name is a file name, never a path.
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(QuirksError::NotFound {
            name: name.to_string(),
            searched: Vec::new(),
        });
    }
    let Some(path) = dirs
        .iter()
        .map(|d| d.join(format!("{name}.toml")))
        .find(|p| p.is_file())
    else {
        return Err(QuirksError::NotFound {
            name: name.to_string(),
            searched: dirs.to_vec(),
        });
    };
    let invalid = |message: String| QuirksError::Invalid {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| invalid(e.to_string()))?;
    let file: ProfileFile = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if !(file.step_a > 0.0 && file.step_a <= 6.0) {
        return Err(invalid(format!(
            "step-a must be above 0 and at most 6 A, found {}",
            file.step_a
        )));
    }
    Ok(ChargerQuirks {
        watts_only: matches!(file.rate_unit, RateUnitName::W),
        step_a: file.step_a,
        tx_profile: file.tx_profile,
        zero_pause: file.zero_pause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_profiles_load() {
        let dirs = default_dirs();
        assert_eq!(load("generic", &dirs).unwrap(), ChargerQuirks::default());
        assert!(load("watts-only", &dirs).unwrap().watts_only);
        assert!(!load("no-tx-profile", &dirs).unwrap().tx_profile);
        let no_pause = load("no-zero-pause", &dirs).unwrap();
        assert!(!no_pause.zero_pause);
        assert_eq!(no_pause.step_a, 1.0);
    }

    #[test]
    fn bad_names_and_files_are_refused() {
        let dirs = default_dirs();
        assert!(matches!(
            load("../meter/eastron-sdm630", &dirs),
            Err(QuirksError::NotFound { .. })
        ));
        assert!(matches!(
            load("nonexistent", &dirs),
            Err(QuirksError::NotFound { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("odd.toml"),
            "name = \"x\"\nrate-unit = \"kW\"\n",
        )
        .unwrap();
        let err = load("odd", &[dir.path().to_path_buf()]).unwrap_err();
        assert!(matches!(err, QuirksError::Invalid { .. }), "{err}");
        std::fs::write(
            dir.path().join("typo.toml"),
            "name = \"x\"\nrate-unit = \"A\"\nzero-paus = true\n",
        )
        .unwrap();
        assert!(load("typo", &[dir.path().to_path_buf()]).is_err());
    }
}
