//! Building the LDAP provider of a connection: its settings from the row (typed [`LdapSettings`],
//! the sealed bind password, `groupAttribute`), the outbound rule for the directory's address,
//! and the runtime's pool of service-account connections.

use std::sync::Arc;
use std::time::Duration;

use portico_core::idp::{IdentityProvider, IdpError};
use portico_core::secretbox::{SecretBox, Slot};
use portico_ldap::LdapProvider;
use portico_store::connections::Connection;

use super::IdpRuntime;
use crate::services::connections::settings::{text, LdapSettings, ProtocolFields};

/// The longest wait for a TCP connection and its TLS handshake (StartTLS included).
pub const CONNECT_TIMEOUT_MAX: Duration = Duration::from_secs(5);

/// The LDAP settings of `conn` (bind password opened from its sealed column).
pub fn settings(
    rt: &IdpRuntime,
    conn: &Connection,
    secrets: &SecretBox,
) -> Result<portico_ldap::LdapSettings, IdpError> {
    let c = LdapSettings::of(conn)?;
    let url = text(&c.ldap_url).ok_or_else(|| IdpError::Config("ldapUrl is missing".into()))?;
    let bind_dn = text(&c.ldap_bind_dn).ok_or_else(|| IdpError::Config("ldapBindDn is missing".into()))?;
    let search_base = text(&c.ldap_search_base).ok_or_else(|| IdpError::Config("ldapSearchBase is missing".into()))?;
    let sealed = conn
        .ldap_bind_password
        .as_deref()
        .ok_or_else(|| IdpError::Config("ldapBindPassword is missing".into()))?;
    let password = secrets
        .open(
            sealed,
            Slot {
                table: "sso_connections",
                row: &conn.id,
                column: "ldap_bind_password",
            },
        )
        .map_err(|e| IdpError::Config(format!("the bind password cannot be opened: {e}")))?;
    let mut s = portico_ldap::LdapSettings::new(url, bind_dn, password, search_base);
    if let Some(f) = text(&c.ldap_search_filter) {
        s.search_filter = f;
    }
    s.group_search_base = text(&c.ldap_group_search_base);
    if let Some(f) = text(&c.ldap_group_search_filter) {
        s.group_search_filter = f;
    }
    if let Some(a) = conn.group_attribute.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        s.group_attribute = a.to_owned();
    }
    s.start_tls = c.ldap_start_tls.unwrap_or(false);
    s.tls_enabled = c.ldap_tls_enabled;
    s.allow_plaintext = c.ldap_allow_plaintext.unwrap_or(false);
    s.ca_certificate_pem = text(&c.ldap_ca_certificate);
    // A directory is near: a dead one is reported within CONNECT_TIMEOUT_MAX at most.
    s.connect_timeout = rt.outbound.timeout.min(CONNECT_TIMEOUT_MAX);
    s.op_timeout = rt.outbound.timeout;
    s.address_guard =
        (!rt.outbound.allow_private_networks).then_some(portico_http::forbidden_reason as portico_ldap::AddressGuard);
    Ok(s)
}

/// The LDAP provider for `conn`.
pub fn provider(
    rt: &IdpRuntime,
    conn: &Connection,
    secrets: &SecretBox,
) -> Result<Arc<dyn IdentityProvider>, IdpError> {
    Ok(Arc::new(LdapProvider::new(
        settings(rt, conn, secrets)?,
        rt.ldap_pool.clone(),
    )?))
}
