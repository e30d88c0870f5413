//! The closed vocabularies of an SSO connection row: its [`Protocol`] (re-exported from
//! [`crate::idp`]) and its [`ConnectionStatus`], each with one wire and database spelling.
//! Both convert from the stored `TEXT` (`TryFrom<String>`), so the store decodes them directly.

pub use crate::idp::Protocol;
pub use crate::vocab::UnknownValue;

crate::vocab::vocabulary! {
    /// Whether a connection takes part in sign-in.
    pub enum ConnectionStatus("connection status") {
        /// Routes logins.
        Active = "active",
        /// Kept, but routes nothing.
        Inactive = "inactive",
        /// Being set up: routes nothing by domain or default, and refuses logins.
        Testing = "testing",
    }
}

impl ConnectionStatus {
    /// True for [`ConnectionStatus::Active`].
    pub fn is_active(self) -> bool {
        self == Self::Active
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
