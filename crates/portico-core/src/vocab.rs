//! Closed vocabularies: enums with one wire and database spelling per value, written once by
//! [`vocabulary!`] — `as_str`, `parse`, `Display`, serde by the spelling, and `TryFrom<String>`
//! so that the store decodes a `TEXT` column (backed by its CHECK constraint) directly.

/// A stored or received spelling that names no known value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not one of {}", expected.join(", "))]
pub struct UnknownValue {
    /// What was being read (`protocol`, `connection status`).
    pub what: &'static str,
    /// The spelling found (at most 40 characters kept).
    pub value: String,
    /// The spellings allowed.
    pub expected: &'static [&'static str],
}

impl UnknownValue {
    /// `value` (cut to 40 characters) read as a `what`, which allows `expected`.
    pub fn new(what: &'static str, value: &str, expected: &'static [&'static str]) -> Self {
        Self {
            what,
            value: value.chars().take(40).collect(),
            expected,
        }
    }
}

/// Declares a closed vocabulary: `vocabulary! { /// doc  pub enum Name("what") { /// doc
/// Variant = "spelling", … } }`.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $spelling:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $spelling)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
            const SPELLINGS: &'static [&'static str] = &[$($spelling),+];

            /// Wire and database spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $spelling),+
                }
            }

            /// Parses the wire spelling.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($spelling => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::vocab::UnknownValue;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s).ok_or_else(|| $crate::vocab::UnknownValue::new($what, &s, Self::SPELLINGS))
            }
        }
    };
}

pub(crate) use vocabulary;
