//! Building the `IdentityProvider` of a stored connection. Adapters are built per request from
//! the row (cheap); their caches (discovery, JWKS, metadata) live in the shared runtimes here.

use std::sync::Arc;
use std::time::Duration;

use portico_core::idp::{IdentityProvider, IdpError, Protocol};
use portico_core::secretbox::{SecretBox, Slot};
use portico_http::OutboundPolicy;
use portico_oidc::{ClientAuth, OidcProvider, OidcRuntime, OidcSettings};
use portico_store::connections::Connection;

use crate::config::Settings;

/// Shared runtimes of the protocol adapters.
#[derive(Clone)]
pub struct IdpRuntime {
    oidc: OidcRuntime,
    /// The outbound policy (SAML metadata fetches, LDAP targets).
    pub outbound: OutboundPolicy,
    /// Service-account LDAP connections, keyed inside by a digest of each connection's settings
    /// (a changed URL, CA or bind password never reuses an old connection); safe to lose.
    pub ldap_pool: portico_ldap::LdapPool,
}

impl IdpRuntime {
    /// Builds the runtimes from the outbound settings.
    pub fn new(settings: &Settings) -> Self {
        Self {
            oidc: OidcRuntime::new(outbound_policy(settings)),
            outbound: outbound_policy(settings),
            ldap_pool: portico_ldap::LdapPool::default(),
        }
    }

    /// The provider for `conn`.
    pub fn provider(&self, conn: &Connection, secrets: &SecretBox) -> Result<Arc<dyn IdentityProvider>, IdpError> {
        match Protocol::parse(&conn.protocol) {
            Some(Protocol::Oidc) => Ok(Arc::new(OidcProvider::new(
                oidc_settings(conn, secrets)?,
                self.oidc.clone(),
            ))),
            Some(Protocol::Saml) => super::idp_saml::provider(self, conn, secrets),
            Some(Protocol::Ldap) => super::idp_ldap::provider(self, conn, secrets),
            None => Err(IdpError::Config(format!("unknown protocol {}", conn.protocol))),
        }
    }
}

/// The outbound guard's policy from settings.
pub fn outbound_policy(settings: &Settings) -> OutboundPolicy {
    OutboundPolicy {
        allow_private_networks: settings.outbound.allow_private_networks,
        allow_insecure_http: settings.outbound.allow_insecure_http,
        timeout: Duration::from_secs(settings.outbound.timeout_secs),
        max_body_bytes: settings.outbound.max_body_bytes,
    }
}

fn oidc_settings(conn: &Connection, secrets: &SecretBox) -> Result<OidcSettings, IdpError> {
    let issuer = conn
        .config_str("issuerUrl")
        .ok_or_else(|| IdpError::Config("issuerUrl is missing".into()))?;
    let client_id = conn
        .config_str("clientId")
        .ok_or_else(|| IdpError::Config("clientId is missing".into()))?;
    let sealed = conn
        .client_secret
        .as_deref()
        .ok_or_else(|| IdpError::Config("clientSecret is missing".into()))?;
    let secret = secrets
        .open(
            sealed,
            Slot {
                table: "sso_connections",
                row: &conn.id,
                column: "client_secret",
            },
        )
        .map_err(|e| IdpError::Config(format!("client secret cannot be opened: {e}")))?;
    let mut s = OidcSettings::new(issuer, client_id, secret);
    s.client_auth = conn.config_str("tokenEndpointAuthMethod").and_then(ClientAuth::parse);
    if let Some(scopes) = conn.config.get("scopes").and_then(|v| v.as_array()) {
        s.scopes = scopes.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
    }
    Ok(s)
}
