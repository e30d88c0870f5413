//! LDAP search-then-bind adapter. The full implementation on `ldap3` lands with the SAML
//! issue; until then every connection of this protocol refuses to start a login.
#![forbid(unsafe_code)]

use portico_core::idp::{CheckReport, CompleteContext, ExternalIdentity, IdentityProvider, IdpError, LoginContext, LoginInput, LoginStart, Protocol};

/// An LDAP connection's provider (not yet implemented).
#[derive(Debug, Default)]
pub struct LdapProvider;

#[async_trait::async_trait]
impl IdentityProvider for LdapProvider {
    fn protocol(&self) -> Protocol {
        Protocol::Ldap
    }

    async fn begin_login(&self, _ctx: &LoginContext) -> Result<LoginStart, IdpError> {
        Err(IdpError::Unsupported("LDAP sign-in is not available in this build".into()))
    }

    async fn complete_login(&self, _ctx: &CompleteContext, _input: LoginInput) -> Result<ExternalIdentity, IdpError> {
        Err(IdpError::Unsupported("LDAP sign-in is not available in this build".into()))
    }

    async fn check(&self) -> CheckReport {
        let mut r = CheckReport::default();
        r.push("ldap", false, "LDAP is not available in this build");
        r
    }
}
