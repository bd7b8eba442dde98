//! OCPP timestamps: strict on output, lenient on input.
//!
//! Both versions specify RFC 3339 date-times (OCPP 1.6 §2.1.1 "dateTime", OCPP 2.0.1 Part 2
//! §2.1.3). Real chargers send harmless deviations: no offset (`2026-01-01T12:00:00`, taken as
//! UTC as the specs recommend), a space for the `T`, or a lower-case `z`. We accept those and
//! always write UTC with millisecond precision and a `Z`.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Parses an OCPP date-time leniently (see the module comment).
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let normalised = text.replacen(' ', "T", 1).replace('z', "Z");
    if let Ok(t) = DateTime::parse_from_rfc3339(&normalised) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = normalised.trim_end_matches('Z');
    NaiveDateTime::parse_from_str(naive, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// Formats a date-time as OCPP expects: UTC, milliseconds, `Z`.
pub fn format(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `#[serde(with = "crate::ocpp::time")]` for a required timestamp.
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t))
}

/// `#[serde(with = "crate::ocpp::time")]` for a required timestamp.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).ok_or_else(|| {
        serde::de::Error::invalid_value(serde::de::Unexpected::Str(&text), &"an RFC 3339 date-time")
    })
}

/// `#[serde(default, with = "crate::ocpp::time::option", skip_serializing_if = "Option::is_none")]`
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => parse(&text).map(Some).ok_or_else(|| {
                serde::de::Error::invalid_value(
                    serde::de::Unexpected::Str(&text),
                    &"an RFC 3339 date-time",
                )
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_real_chargers_send() {
        let want = parse("2026-01-01T12:00:00Z").unwrap();
        for text in [
            "2026-01-01T12:00:00",
            "2026-01-01T12:00:00.000",
            "2026-01-01 12:00:00",
            "2026-01-01T12:00:00z",
            "2026-01-01T13:00:00+01:00",
        ] {
            assert_eq!(parse(text), Some(want), "{text}");
        }
        assert_eq!(parse("yesterday"), None);
        assert_eq!(parse("2026-13-01T12:00:00Z"), None);
    }

    #[test]
    fn writes_utc_millis_z() {
        let t = parse("2026-01-01T13:00:00.5+01:00").unwrap();
        assert_eq!(format(&t), "2026-01-01T12:00:00.500Z");
    }
}
