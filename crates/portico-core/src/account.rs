//! The closed vocabularies of a person's account: the [`UserStatus`], the [`MembershipStatus`]
//! in each organization (and the [`MemberStatus`] a members list shows of both), and how a
//! session ([`SessionMethod`]) or a token ([`AuthMethod`]) was signed in. One wire and database
//! spelling each (see [`crate::vocab`]).

use crate::idp::Protocol;

crate::vocab::vocabulary! {
    /// Whether a user may sign in at all.
    pub enum UserStatus("user status") {
        /// Signs in.
        Active = "active",
        /// Refused everywhere; every credential stops working.
        Disabled = "disabled",
    }
}

crate::vocab::vocabulary! {
    /// A membership's standing in its organization.
    pub enum MembershipStatus("membership status") {
        /// Reaches the organization with its role.
        Active = "active",
        /// Deprovisioned by a directory: no access, kept so that reactivation restores the role.
        Suspended = "suspended",
    }
}

crate::vocab::vocabulary! {
    /// A member as an organization's members list shows them: the user's own status, unless a
    /// directory suspended the membership (a view of [`UserStatus`] and [`MembershipStatus`]).
    pub enum MemberStatus("member status") {
        /// An active user with an active membership.
        Active = "active",
        /// A disabled user.
        Disabled = "disabled",
        /// A membership a directory suspended.
        Suspended = "suspended",
    }
}

crate::vocab::vocabulary! {
    /// How a session signed in: a password, or one of the SSO protocols.
    pub enum SessionMethod("session method") {
        /// Email and password (and TOTP where enrolled).
        Password = "password",
        /// An OIDC connection.
        Oidc = "oidc",
        /// A SAML connection.
        Saml = "saml",
        /// An LDAP connection.
        Ldap = "ldap",
    }
}

crate::vocab::vocabulary! {
    /// How the session that minted a token signed in, or `bootstrap` for the key the command
    /// line's `portico bootstrap` made.
    pub enum AuthMethod("token auth method") {
        /// A password session.
        Password = "password",
        /// An OIDC session.
        Oidc = "oidc",
        /// A SAML session.
        Saml = "saml",
        /// An LDAP session.
        Ldap = "ldap",
        /// `portico bootstrap`.
        Bootstrap = "bootstrap",
    }
}

impl SessionMethod {
    /// The SSO protocol, `None` for a password session.
    pub fn protocol(self) -> Option<Protocol> {
        match self {
            Self::Password => None,
            Self::Oidc => Some(Protocol::Oidc),
            Self::Saml => Some(Protocol::Saml),
            Self::Ldap => Some(Protocol::Ldap),
        }
    }

    /// True for a session an SSO connection opened.
    pub fn is_sso(self) -> bool {
        self.protocol().is_some()
    }
}

impl AuthMethod {
    /// True for a token minted from a session an SSO connection opened.
    pub fn is_sso(self) -> bool {
        matches!(self, Self::Oidc | Self::Saml | Self::Ldap)
    }
}

impl From<Protocol> for SessionMethod {
    fn from(p: Protocol) -> Self {
        match p {
            Protocol::Oidc => Self::Oidc,
            Protocol::Saml => Self::Saml,
            Protocol::Ldap => Self::Ldap,
        }
    }
}

impl From<SessionMethod> for AuthMethod {
    fn from(m: SessionMethod) -> Self {
        match m {
            SessionMethod::Password => Self::Password,
            SessionMethod::Oidc => Self::Oidc,
            SessionMethod::Saml => Self::Saml,
            SessionMethod::Ldap => Self::Ldap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_follow_the_check_constraints() {
        for s in UserStatus::ALL {
            assert_eq!(UserStatus::try_from(s.as_str().to_owned()), Ok(*s));
        }
        for s in MembershipStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for m in SessionMethod::ALL {
            assert_eq!(SessionMethod::try_from(m.as_str().to_owned()), Ok(*m));
            assert_eq!(AuthMethod::from(*m).as_str(), m.as_str());
            assert_eq!(m.protocol().map(SessionMethod::from).unwrap_or(*m), *m);
            assert_eq!(AuthMethod::from(*m).is_sso(), m.is_sso());
        }
        assert_eq!(
            UserStatus::try_from("Active".to_owned()).unwrap_err().to_string(),
            "user status \"Active\" is not one of active, disabled"
        );
        assert!(!AuthMethod::Bootstrap.is_sso());
        for s in UserStatus::ALL.iter().map(|s| s.as_str()) {
            assert!(MemberStatus::parse(s).is_some(), "{s} is a member status too");
        }
        assert_eq!(
            MemberStatus::parse(MembershipStatus::Suspended.as_str()),
            Some(MemberStatus::Suspended)
        );
        assert!(SessionMethod::try_from("bootstrap".to_owned()).is_err());
    }
}
