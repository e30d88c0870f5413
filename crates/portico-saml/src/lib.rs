//! SAML 2.0 service provider adapter. The full implementation on `samael` lands with the SAML
//! issue; until then every connection of this protocol refuses to start a login.
#![forbid(unsafe_code)]

use portico_core::idp::{CheckReport, CompleteContext, ExternalIdentity, IdentityProvider, IdpError, LoginContext, LoginInput, LoginStart, Protocol};

/// A SAML connection's provider (not yet implemented).
#[derive(Debug, Default)]
pub struct SamlProvider;

#[async_trait::async_trait]
impl IdentityProvider for SamlProvider {
    fn protocol(&self) -> Protocol {
        Protocol::Saml
    }

    async fn begin_login(&self, _ctx: &LoginContext) -> Result<LoginStart, IdpError> {
        Err(IdpError::Unsupported("SAML sign-in is not available in this build".into()))
    }

    async fn complete_login(&self, _ctx: &CompleteContext, _input: LoginInput) -> Result<ExternalIdentity, IdpError> {
        Err(IdpError::Unsupported("SAML sign-in is not available in this build".into()))
    }

    async fn check(&self) -> CheckReport {
        let mut r = CheckReport::default();
        r.push("saml", false, "SAML is not available in this build");
        r
    }
}
