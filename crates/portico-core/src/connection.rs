//! The closed vocabularies of an SSO connection row: its [`Protocol`] (re-exported from
//! [`crate::idp`]) and its [`ConnectionStatus`], each with one wire and database spelling.
//! Both convert from the stored `TEXT` (`TryFrom<String>`), so the store decodes them directly.

use serde::{Deserialize, Serialize};

pub use crate::idp::Protocol;

/// A stored or received spelling that names no known value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not one of {expected}")]
pub struct UnknownValue {
    /// What was being read (`protocol`, `connection status`).
    pub what: &'static str,
    /// The spelling found (at most 40 characters kept).
    pub value: String,
    /// The spellings allowed, for the message.
    pub expected: &'static str,
}

impl UnknownValue {
    fn new(what: &'static str, value: &str, expected: &'static str) -> Self {
        Self {
            what,
            value: value.chars().take(40).collect(),
            expected,
        }
    }
}

/// Whether a connection takes part in sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionStatus {
    /// Routes logins.
    Active,
    /// Kept, but routes nothing.
    Inactive,
    /// Being set up: routes nothing by domain or default, and refuses logins.
    Testing,
}

impl ConnectionStatus {
    /// Wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Testing => "testing",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            "testing" => Some(Self::Testing),
            _ => None,
        }
    }

    /// True for [`ConnectionStatus::Active`].
    pub fn is_active(self) -> bool {
        self == Self::Active
    }
}

impl std::fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for ConnectionStatus {
    type Error = UnknownValue;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or_else(|| UnknownValue::new("connection status", &s, "active, inactive, testing"))
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Protocol {
    type Error = UnknownValue;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or_else(|| UnknownValue::new("protocol", &s, "oidc, saml, ldap"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_unknown_ones_are_refused() {
        for p in [Protocol::Oidc, Protocol::Saml, Protocol::Ldap] {
            assert_eq!(Protocol::try_from(p.as_str().to_owned()), Ok(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
            assert_eq!(p.to_string(), p.as_str());
        }
        for s in [
            ConnectionStatus::Active,
            ConnectionStatus::Inactive,
            ConnectionStatus::Testing,
        ] {
            assert_eq!(ConnectionStatus::try_from(s.as_str().to_owned()), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        let e = Protocol::try_from("SAML".to_owned()).unwrap_err();
        assert_eq!(e.to_string(), "protocol \"SAML\" is not one of oidc, saml, ldap");
        assert!(ConnectionStatus::try_from("disabled".to_owned()).is_err());
    }
}
