//! Length-bounded strings of the OCPP schemas (1.6 CiString20Type ... CiString500Type,
//! 2.0.1 string maxLength / identifierString).
//!
//! A string over its bound is refused at the parse boundary with serde's
//! "string longer than" error, which `rpc::PayloadError::from_serde` classifies as a
//! PropertyConstraintViolation (OCPP-J 1.6 §4.2.3). Above `ocpp/` plain `String`s are used.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string of at most `N` characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Bounded<const N: usize>(pub String);

impl<const N: usize> Bounded<N> {
    pub fn into_inner(self) -> String {
        self.0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For strings chargegate writes: cuts to `N` characters rather than fail, because a
    /// too long message of ours would be refused by a strict charger.
    pub fn truncating(s: impl Into<String>) -> Self {
        let s: String = s.into();
        Self(s.chars().take(N).collect())
    }
}

impl<const N: usize> Serialize for Bounded<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de, const N: usize> Deserialize<'de> for Bounded<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let len = s.chars().count();
        if len > N {
            return Err(serde::de::Error::custom(format!(
                "string longer than {N} characters ({len})"
            )));
        }
        Ok(Self(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_strings_over_the_bound() {
        let ok: Bounded<3> = serde_json::from_str(r#""abc""#).unwrap();
        assert_eq!(ok.as_str(), "abc");
        let err = serde_json::from_str::<Bounded<3>>(r#""abcd""#).unwrap_err();
        assert!(err.to_string().starts_with("string longer than 3"), "{err}");
        assert_eq!(Bounded::<2>::truncating("xyz").as_str(), "xy");
    }
}
