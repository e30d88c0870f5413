//! The closed vocabularies of an organization: its sign-in requirement ([`AuthRequired`]), the
//! standing of its claimed domains ([`DomainStatus`]), join requests ([`JoinRequestStatus`]) and
//! SCIM directories ([`DirectoryStatus`]). One wire and database spelling each
//! (see [`crate::vocab`]).

crate::vocab::vocabulary! {
    /// How members must sign in to reach the organization.
    pub enum AuthRequired("auth requirement") {
        /// Any sign-in.
        Any = "any",
        /// A sign-in with MFA (completed or asserted by the IdP).
        Mfa = "mfa",
        /// An SSO sign-in through one of the organization's connections (exempt roles aside).
        Sso = "sso",
    }
}

crate::vocab::vocabulary! {
    /// Whether an organization has proven it holds a domain.
    pub enum DomainStatus("domain status") {
        /// Claimed, DNS proof not seen yet.
        Pending = "pending",
        /// Proven by its DNS TXT record.
        Verified = "verified",
    }
}

crate::vocab::vocabulary! {
    /// Where a request to join an organization stands.
    pub enum JoinRequestStatus("join request status") {
        /// Waiting for an admin.
        Pending = "pending",
        /// Admitted: the membership exists.
        Approved = "approved",
        /// Refused.
        Rejected = "rejected",
    }
}

crate::vocab::vocabulary! {
    /// Whether a SCIM directory may provision.
    pub enum DirectoryStatus("directory status") {
        /// Its bearer token is accepted.
        Active = "active",
        /// Its bearer token is refused.
        Disabled = "disabled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_follow_the_check_constraints() {
        let spellings = |all: &[&str]| all.join(",");
        let auth: Vec<_> = AuthRequired::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(spellings(&auth), "any,mfa,sso");
        let domain: Vec<_> = DomainStatus::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(spellings(&domain), "pending,verified");
        let join: Vec<_> = JoinRequestStatus::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(spellings(&join), "pending,approved,rejected");
        let dir: Vec<_> = DirectoryStatus::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(spellings(&dir), "active,disabled");
        assert_eq!(AuthRequired::try_from("sso".to_owned()), Ok(AuthRequired::Sso));
        assert!(AuthRequired::try_from("SSO".to_owned()).is_err());
        assert_eq!(serde_json::to_value(DirectoryStatus::Disabled).unwrap(), "disabled");
    }
}
