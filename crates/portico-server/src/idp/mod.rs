//! The factory of identity providers: the `IdentityProvider` of a stored connection, built by
//! its protocol's module ([`oidc`], [`saml`], [`ldap`]) with the shared runtimes held here
//! (OIDC discovery/JWKS caches, SAML metadata cache, the LDAP pool, the outbound policy).
//! Nothing here knows the application state or HTTP routing.
//! Built providers are kept per
//! connection, keyed by a digest of every field they are built from (so an update — even a raw
//! SQL one — builds a new one); their caches (discovery, JWKS, metadata) live in the shared
//! runtimes here. All of it is safe to lose.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portico_core::idp::{IdentityProvider, IdpError, Protocol};
use portico_core::secretbox::SecretBox;
use portico_http::OutboundPolicy;
use portico_oidc::{OidcProvider, OidcRuntime};
use portico_saml::SamlRuntime;
use portico_store::connections::Connection;

use crate::config::Settings;

pub mod ldap;
pub mod oidc;
pub mod saml;

/// Shared runtimes of the protocol adapters.
#[derive(Clone)]
pub struct IdpRuntime {
    oidc: OidcRuntime,
    /// The SAML metadata cache (metadata URLs fetched through the outbound guard).
    pub saml: SamlRuntime,
    /// The outbound policy (SAML metadata fetches, LDAP targets).
    pub outbound: OutboundPolicy,
    /// Service-account LDAP connections, keyed inside by a digest of each connection's settings
    /// (a changed URL, CA or bind password never reuses an old connection); safe to lose.
    pub ldap_pool: portico_ldap::LdapPool,
    built: Arc<Mutex<HashMap<String, Built>>>,
}

/// A built provider and the fingerprint of the row it was built from.
type Built = (Vec<u8>, Arc<dyn IdentityProvider>);

/// Most providers kept; past this the cache starts over.
const MAX_BUILT: usize = 4096;

/// A digest of everything a provider is built from.
fn fingerprint(conn: &Connection) -> Vec<u8> {
    let parts = [
        conn.protocol.as_str(),
        &conn.config.to_string(),
        conn.client_secret.as_deref().unwrap_or(""),
        conn.ldap_bind_password.as_deref().unwrap_or(""),
        conn.sp_private_key.as_deref().unwrap_or(""),
        conn.group_attribute.as_deref().unwrap_or(""),
        &conn.attribute_mapping.to_string(),
        &conn.updated_at.to_rfc3339(),
    ];
    portico_core::token::digest(&parts.join("\u{1f}"))
}

impl IdpRuntime {
    /// Builds the runtimes from the outbound settings.
    pub fn new(settings: &Settings) -> Self {
        Self {
            oidc: OidcRuntime::new(outbound_policy(settings)),
            saml: SamlRuntime::new(outbound_policy(settings)),
            outbound: outbound_policy(settings),
            ldap_pool: portico_ldap::LdapPool::default(),
            built: Arc::default(),
        }
    }

    /// The provider for `conn` (reused while the connection is unchanged).
    pub fn provider(&self, conn: &Connection, secrets: &SecretBox) -> Result<Arc<dyn IdentityProvider>, IdpError> {
        let fp = fingerprint(conn);
        let cached = {
            let map = self.built.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            map.get(&conn.id).filter(|(f, _)| *f == fp).map(|(_, p)| p.clone())
        };
        if let Some(p) = cached {
            return Ok(p);
        }
        let p = self.build(conn, secrets)?;
        let mut map = self.built.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_BUILT {
            map.clear();
        }
        map.insert(conn.id.clone(), (fp, p.clone()));
        Ok(p)
    }

    fn build(&self, conn: &Connection, secrets: &SecretBox) -> Result<Arc<dyn IdentityProvider>, IdpError> {
        match conn.protocol {
            Protocol::Oidc => Ok(Arc::new(OidcProvider::new(
                oidc::settings(conn, secrets)?,
                self.oidc.clone(),
            ))),
            Protocol::Saml => saml::provider(self, conn, secrets),
            Protocol::Ldap => ldap::provider(self, conn, secrets),
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
