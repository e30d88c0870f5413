//! Building the LDAP provider of a connection.

use std::sync::Arc;

use portico_core::idp::{IdentityProvider, IdpError};
use portico_core::secretbox::SecretBox;
use portico_store::connections::Connection;

use super::idp::IdpRuntime;

/// The LDAP provider for `conn`.
pub fn provider(_rt: &IdpRuntime, _conn: &Connection, _secrets: &SecretBox) -> Result<Arc<dyn IdentityProvider>, IdpError> {
    Ok(Arc::new(portico_ldap::LdapProvider))
}
