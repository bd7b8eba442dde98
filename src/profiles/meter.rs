//! Meter device profiles: register maps as data (STYLE.md §6, evcc's meter templates).
//!
//! A profile is `profiles/meter/<vendor>-<model>.toml`, documented field by field in
//! `profiles/README.md`. This module owns the serde types (strict: unknown fields are
//! rejected), loading a profile by name from a list of folders, and the checks a profile
//! must pass before any poller uses it. It must never talk Modbus or decide what a value
//! means for the site.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where profiles are looked for when the config does not say: the installed copy, then the
/// checkout's `profiles/meter` (running from the repository), then the one built into this
/// binary's source tree (tests and `cargo run`).
pub fn default_profile_dirs() -> Vec<PathBuf> {
    vec![
        PathBuf::from("/usr/share/chargegate/profiles/meter"),
        PathBuf::from("profiles/meter"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/meter"),
    ]
}

/// Modbus register table: input registers (function code 0x04) or holding registers (0x03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegisterKind {
    Input,
    Holding,
}

impl RegisterKind {
    /// The Modbus function code used to read this table.
    pub fn function_code(self) -> u8 {
        match self {
            RegisterKind::Input => 0x04,
            RegisterKind::Holding => 0x03,
        }
    }
}

/// How the register words form a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValueType {
    U16,
    I16,
    U32,
    I32,
    U64,
    F32,
    F64,
}

impl ValueType {
    /// Number of 16-bit registers the value occupies.
    pub fn words(self) -> u16 {
        match self {
            ValueType::U16 | ValueType::I16 => 1,
            ValueType::U32 | ValueType::I32 | ValueType::F32 => 2,
            ValueType::U64 | ValueType::F64 => 4,
        }
    }
}

/// Word order of multi-register values ("big": most significant word at the lowest
/// address, as in the Modbus spec for most meters), or byte order inside each word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    #[default]
    Big,
    Little,
}

/// The unit the device reports in; decoding converts to V, A, W, Wh, Hz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Unit {
    V,
    A,
    #[serde(rename = "mA")]
    MilliA,
    W,
    #[serde(rename = "kW")]
    KiloW,
    Wh,
    #[serde(rename = "kWh")]
    KiloWh,
    Hz,
}

impl Unit {
    /// Factor to the base unit (V, A, W, Wh, Hz).
    pub fn to_base(self) -> f64 {
        match self {
            Unit::MilliA => 0.001,
            Unit::KiloW | Unit::KiloWh => 1000.0,
            _ => 1.0,
        }
    }

    /// The base unit's symbol.
    pub fn base_symbol(self) -> &'static str {
        match self {
            Unit::V => "V",
            Unit::A | Unit::MilliA => "A",
            Unit::W | Unit::KiloW => "W",
            Unit::Wh | Unit::KiloWh => "Wh",
            Unit::Hz => "Hz",
        }
    }
}

/// What a register measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quantity {
    VoltageL1,
    VoltageL2,
    VoltageL3,
    CurrentL1,
    CurrentL2,
    CurrentL3,
    PowerL1,
    PowerL2,
    PowerL3,
    PowerTotal,
    EnergyImport,
    EnergyExport,
    Frequency,
}

impl Quantity {
    pub const ALL: [Quantity; 13] = [
        Quantity::VoltageL1,
        Quantity::VoltageL2,
        Quantity::VoltageL3,
        Quantity::CurrentL1,
        Quantity::CurrentL2,
        Quantity::CurrentL3,
        Quantity::PowerL1,
        Quantity::PowerL2,
        Quantity::PowerL3,
        Quantity::PowerTotal,
        Quantity::EnergyImport,
        Quantity::EnergyExport,
        Quantity::Frequency,
    ];

    /// The kebab-case name used in profiles and fixtures.
    pub fn name(self) -> &'static str {
        match self {
            Quantity::VoltageL1 => "voltage-l1",
            Quantity::VoltageL2 => "voltage-l2",
            Quantity::VoltageL3 => "voltage-l3",
            Quantity::CurrentL1 => "current-l1",
            Quantity::CurrentL2 => "current-l2",
            Quantity::CurrentL3 => "current-l3",
            Quantity::PowerL1 => "power-l1",
            Quantity::PowerL2 => "power-l2",
            Quantity::PowerL3 => "power-l3",
            Quantity::PowerTotal => "power-total",
            Quantity::EnergyImport => "energy-import",
            Quantity::EnergyExport => "energy-export",
            Quantity::Frequency => "frequency",
        }
    }

    /// The unit a unit symbol of this quantity must convert to.
    pub fn base_symbol(self) -> &'static str {
        match self {
            Quantity::VoltageL1 | Quantity::VoltageL2 | Quantity::VoltageL3 => "V",
            Quantity::CurrentL1 | Quantity::CurrentL2 | Quantity::CurrentL3 => "A",
            Quantity::PowerL1 | Quantity::PowerL2 | Quantity::PowerL3 | Quantity::PowerTotal => "W",
            Quantity::EnergyImport | Quantity::EnergyExport => "Wh",
            Quantity::Frequency => "Hz",
        }
    }
}

/// One value of the register map.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Register {
    pub quantity: Quantity,
    pub kind: RegisterKind,
    /// 0-based protocol address (PDU address). For SunSpec profiles: the offset from the
    /// model's ID register.
    pub address: u16,
    #[serde(rename = "type")]
    pub value_type: ValueType,
    pub unit: Unit,
    /// Fixed multiplier applied to the raw number (e.g. 0.001 for mA counts).
    #[serde(default = "one")]
    pub scale: f64,
    /// SunSpec-style scale factor: an i16 register `sf`, value = raw * 10^sf. Same
    /// addressing as `address`; read with the same function code.
    pub scale_register: Option<u16>,
    /// Overrides the profile's word order for this register.
    pub word_order: Option<Order>,
}

fn one() -> f64 {
    1.0
}

/// SunSpec discovery: the map's addresses are offsets into the first model found.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SunSpec {
    /// Holding-register addresses where the "SunS" marker (0x5375 0x6E53) may be.
    pub base_addresses: Vec<u16>,
    /// Model ids the map applies to (201-204 share one point layout).
    pub models: Vec<u16>,
}

/// A whole profile file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Profile {
    pub vendor: String,
    pub model: String,
    /// The vendor document the map was taken from (title, version).
    pub source: String,
    /// Largest number of registers the device answers in one request.
    pub max_block_registers: u16,
    /// Unmapped registers a batched read may span between two mapped ones; 0 when the
    /// device answers exception 0x02 for reads touching unmapped addresses.
    #[serde(default)]
    pub max_gap_registers: u16,
    #[serde(default)]
    pub word_order: Order,
    #[serde(default)]
    pub byte_order: Order,
    pub sunspec: Option<SunSpec>,
    #[serde(rename = "register")]
    pub registers: Vec<Register>,
}

/// Why a profile cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("no profile {name:?} in {searched}")]
    NotFound { name: String, searched: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Profile {
    /// Parses and checks profile text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ProfileError> {
        let profile: Profile = toml::from_str(text).map_err(|e| ProfileError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        profile.check().map_err(|message| ProfileError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(profile)
    }

    /// Finds `name`.toml in the first folder that has it and loads it.
    pub fn load(name: &str, dirs: &[PathBuf]) -> Result<(Self, PathBuf), ProfileError> {
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let found = valid_name
            .then(|| {
                dirs.iter()
                    .map(|d| d.join(format!("{name}.toml")))
                    .find(|p| p.is_file())
            })
            .flatten();
        let Some(path) = found else {
            return Err(ProfileError::NotFound {
                name: name.to_string(),
                searched: dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ProfileError::Read {
            path: path.clone(),
            source,
        })?;
        Ok((Self::parse(&text, &path)?, path))
    }

    /// The register for `q`, if the profile maps it.
    pub fn register(&self, q: Quantity) -> Option<&Register> {
        self.registers.iter().find(|r| r.quantity == q)
    }

    fn check(&self) -> Result<(), String> {
        if !(1..=125).contains(&self.max_block_registers) {
            // Modbus Application Protocol V1.1b3 §6.3/6.4: at most 125 registers per read.
            return Err("max-block-registers must be 1 to 125 (the Modbus limit)".into());
        }
        let mut seen = HashSet::new();
        for r in &self.registers {
            if !seen.insert(r.quantity) {
                return Err(format!("{} is mapped twice", r.quantity.name()));
            }
            if r.unit.base_symbol() != r.quantity.base_symbol() {
                return Err(format!(
                    "{} cannot be in {:?} (it is in {})",
                    r.quantity.name(),
                    r.unit,
                    r.quantity.base_symbol()
                ));
            }
            let last = u32::from(r.address) + u32::from(r.value_type.words()) - 1;
            if last > u32::from(u16::MAX) {
                // Modbus addresses are 16 bits: the value would wrap to register 0.
                return Err(format!(
                    "{} at address {} runs past register 65535",
                    r.quantity.name(),
                    r.address
                ));
            }
            if !r.scale.is_finite() || r.scale == 0.0 {
                return Err(format!(
                    "{}: scale must be a non-zero number",
                    r.quantity.name()
                ));
            }
            if r.value_type.words() > self.max_block_registers {
                return Err(format!(
                    "{} does not fit in max-block-registers",
                    r.quantity.name()
                ));
            }
        }
        if self.register(Quantity::CurrentL1).is_none() {
            return Err("a meter profile must map at least current-l1".into());
        }
        if let Some(s) = &self.sunspec
            && (s.base_addresses.is_empty() || s.models.is_empty())
        {
            return Err("sunspec needs base-addresses and models".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_profile_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/meter");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            Profile::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
            count += 1;
        }
        assert!(count >= 10, "only {count} profiles");
    }

    #[test]
    fn bad_profiles_are_refused_with_the_reason() {
        let base = "vendor='x'\nmodel='y'\nsource='z'\nmax-block-registers=10\n";
        let p = Path::new("x.toml");
        let no_current = format!(
            "{base}[[register]]\nquantity='voltage-l1'\nkind='input'\naddress=0\ntype='f32'\nunit='V'\n"
        );
        let e = Profile::parse(&no_current, p).unwrap_err().to_string();
        assert!(e.contains("current-l1"), "{e}");
        let wrong_unit = format!(
            "{base}[[register]]\nquantity='current-l1'\nkind='input'\naddress=0\ntype='f32'\nunit='V'\n"
        );
        let e = Profile::parse(&wrong_unit, p).unwrap_err().to_string();
        assert!(e.contains("cannot be in"), "{e}");
        let wraps = format!(
            "{base}[[register]]\nquantity='current-l1'\nkind='input'\naddress=65535\ntype='f32'\nunit='A'\n"
        );
        let e = Profile::parse(&wraps, p).unwrap_err().to_string();
        assert!(e.contains("runs past register 65535"), "{e}");
        let unknown = format!("{base}colour='red'\n");
        assert!(Profile::parse(&unknown, p).is_err());
        let err = Profile::load("../etc/passwd", &[PathBuf::from("/")]).unwrap_err();
        assert!(matches!(err, ProfileError::NotFound { .. }));
    }
}
