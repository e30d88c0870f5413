//! Portico's OpenID Connect relying party: an [`IdentityProvider`] for one OIDC connection, built
//! on `openidconnect` and Portico's guarded outbound client ([`portico_http`]).
//!
//! - Discovery from `{issuer}/.well-known/openid-configuration` (one trailing `/` of the
//!   configured issuer is dropped first). The discovered `issuer` must equal the configured one;
//!   the only tolerance is a single trailing `/` on either side. From then on the *discovered*
//!   issuer is compared exactly: ID token `iss`, RFC 9207 `iss` response parameter.
//! - Discovery documents and JWKS are cached in the [`OidcRuntime`] for 10 minutes, shared by all
//!   providers of the same issuer. An ID token whose key is not in the cached JWKS triggers one
//!   JWKS refetch (at most one per issuer every 10 s) and one more verification.
//! - Authorization code flow with PKCE S256, a fresh `nonce`, the server's opaque `state` and
//!   the `login_hint`; `client_secret_basic` or `client_secret_post` (see [`ClientAuth`]).
//! - ID token: signature by an asymmetric algorithm of [`ALLOWED_ID_TOKEN_ALGS`] only, `iss`,
//!   `aud` (must contain the client ID; other audiences only with `azp` = client ID), `azp` (when
//!   present it must be the client ID), `exp` and `iat` with [`CLOCK_SKEW`], `nonce`, and a
//!   string `sub`.
//! - Userinfo is fetched when the ID token lacks `email` or `name`; its `sub` must be the ID
//!   token's. `amr` becomes [`ExternalIdentity::mfa`] through [`amr_indicates_mfa`].
//!
//! Errors are [`IdpError`]s whose messages are precise enough for the audit log and never contain
//! the client secret, the authorization code or any token.
#![forbid(unsafe_code)]

mod claims;
mod discovery;
mod provider;
mod runtime;
mod token;
mod verify;

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

pub use claims::amr_indicates_mfa;
pub use runtime::{CacheStats, OidcRuntime};

#[doc(no_inline)]
pub use portico_core::idp::{ExternalIdentity, IdentityProvider, IdpError};

/// ID token signature algorithms accepted: asymmetric only. `none` and the HMAC family (`HS*`)
/// are never accepted, whatever the provider advertises.
pub const ALLOWED_ID_TOKEN_ALGS: &[&str] = &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"];

/// Tolerance applied to `exp` and `iat` for clock differences between Portico and the IdP.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// How discovery documents and JWKS stay cached.
pub const CACHE_TTL: Duration = Duration::from_secs(600);

/// Minimum time between two JWKS refetches of one issuer caused by an unknown key ID.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// Scopes requested when [`OidcSettings::scopes`] is empty.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "email", "profile"];

/// How Portico authenticates to the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic authentication.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post,
}

impl ClientAuth {
    /// The OAuth 2.0 name (`client_secret_basic`, `client_secret_post`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "client_secret_basic",
            Self::Post => "client_secret_post",
        }
    }

    /// Parses the OAuth 2.0 name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client_secret_basic" => Some(Self::Basic),
            "client_secret_post" => Some(Self::Post),
            _ => None,
        }
    }
}

/// One OIDC connection's settings. `Debug` never shows the client secret.
#[derive(Clone)]
pub struct OidcSettings {
    /// The issuer identifier, e.g. `https://login.example.com/tenant` (one trailing `/` is fine).
    pub issuer_url: String,
    /// The client ID registered at the IdP.
    pub client_id: String,
    /// The client secret registered at the IdP.
    pub client_secret: SecretString,
    /// Token endpoint authentication. `None`: chosen from discovery's
    /// `token_endpoint_auth_methods_supported`, preferring `client_secret_basic` (also when the
    /// provider does not say).
    pub client_auth: Option<ClientAuth>,
    /// Scopes to request; empty means [`DEFAULT_SCOPES`]. `openid` is always requested.
    pub scopes: Vec<String>,
}

impl OidcSettings {
    /// Settings with the default scopes and the client authentication chosen from discovery.
    pub fn new(issuer_url: impl Into<String>, client_id: impl Into<String>, client_secret: SecretString) -> Self {
        Self {
            issuer_url: issuer_url.into(),
            client_id: client_id.into(),
            client_secret,
            client_auth: None,
            scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

impl fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer_url", &self.issuer_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("client_auth", &self.client_auth)
            .field("scopes", &self.scopes)
            .finish()
    }
}

pub use provider::OidcProvider;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_debug_redacts_the_secret() {
        let s = OidcSettings::new(
            "https://idp.example.com",
            "client",
            SecretString::from("hunter2-very-secret".to_owned()),
        );
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[redacted]") && shown.contains("client"), "{shown}");
        let p = OidcProvider::new(s, OidcRuntime::new(portico_http::OutboundPolicy::default()));
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn client_auth_names() {
        for auth in [ClientAuth::Basic, ClientAuth::Post] {
            assert_eq!(ClientAuth::parse(auth.as_str()), Some(auth));
        }
        assert_eq!(ClientAuth::parse("private_key_jwt"), None);
    }
}
