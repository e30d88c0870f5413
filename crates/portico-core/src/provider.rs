//! The closed vocabulary of Portico as an OpenID Provider: where an ID-token signing key stands
//! in its roll ([`SigningKeyStatus`]), one wire and database spelling each (see [`crate::vocab`]).

crate::vocab::vocabulary! {
    /// Where a signing key stands: published first, then the signer, then published until every
    /// ID token it signed has expired (`oauth_signing_keys.status`).
    pub enum SigningKeyStatus("signing key status") {
        /// Published in the JWKS, not signing yet.
        Staged = "staged",
        /// The signer of its algorithm (one per algorithm).
        Active = "active",
        /// No longer signing; still published for the overlap.
        Retired = "retired",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_follow_the_check_constraint() {
        let all: Vec<_> = SigningKeyStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(all.join(","), "staged,active,retired");
        assert_eq!(
            SigningKeyStatus::try_from("active".to_owned()),
            Ok(SigningKeyStatus::Active)
        );
    }
}
