//! `wire_enum!`: the one way both OCPP versions declare a closed string enumeration of
//! their schemas, and `WireEnum`, the trait code generic over such enums reads them by.
//!
//! Owns the spelling rule: each value is written once, and serde, `as_str` and `parse`
//! cannot disagree. A value outside the enumeration fails to deserialize with serde's
//! "unknown variant" error, which `PayloadError::from_serde` answers with
//! PropertyConstraintViolation (OCPP-J 1.6 §4.2.3, OCPP 2.0.1 Part 4 §4.2.3). It must never
//! map values to the model; that is each version's `convert`, `commands` and `charging`.

/// An enumeration whose values travel as strings, declared with `wire_enum!`.
pub trait WireEnum: Copy {
    /// The value as the specification spells it.
    fn as_str(self) -> &'static str;
}

/// Declares a wire enum: serde derives with the exact schema spelling, `as_str`, `ALL` and
/// `parse`, and `WireEnum`. A variant whose spelling is not its Rust name gives it as
/// `Variant = "text"`.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident $(= $text:literal)?),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, ::serde::Serialize, ::serde::Deserialize)]
        // The variants are the schema's words (e.g. `...Inventory`), not names we choose.
        #[allow(clippy::enum_variant_names)]
        pub enum $name {
            $( $(#[serde(rename = $text)])? $variant ),+
        }

        impl $name {
            /// Every value, in schema order.
            #[allow(dead_code)]
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The schema spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $crate::ocpp::wire_enum::wire_enum!(@text $variant $($text)?) ),+
                }
            }

            /// Reads the schema spelling (exact, case-sensitive like the schemas).
            #[allow(dead_code)]
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }

        impl $crate::ocpp::wire_enum::WireEnum for $name {
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
        }
    };
    (@text $variant:ident $text:literal) => { $text };
    (@text $variant:ident) => { stringify!($variant) };
}

pub(crate) use wire_enum;

#[cfg(test)]
mod tests {
    use super::WireEnum;

    wire_enum!(
        /// A test enumeration with both forms of variant.
        Sample { Plain, Dotted = "Sample.Dotted" }
    );

    #[test]
    fn serde_as_str_and_parse_agree_on_the_spelling() {
        for value in Sample::ALL {
            let text = value.as_str();
            assert_eq!(serde_json::to_value(value).unwrap(), text);
            assert_eq!(
                serde_json::from_value::<Sample>(text.into()).unwrap(),
                *value
            );
            assert_eq!(Sample::parse(text), Some(*value));
            assert_eq!(WireEnum::as_str(*value), text);
        }
        assert_eq!(Sample::Dotted.as_str(), "Sample.Dotted");
        assert_eq!(Sample::parse("plain"), None, "case matters");
    }
}
