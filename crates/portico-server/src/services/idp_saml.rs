//! Building the SAML provider of a connection, and preparing new SAML connections.

use std::sync::Arc;

use portico_core::idp::{IdentityProvider, IdpError};
use portico_core::secretbox::SecretBox;
use portico_store::connections::Connection;

use super::idp::IdpRuntime;
use crate::error::ApiError;
use crate::state::AppState;

/// The SAML provider for `conn`.
pub fn provider(_rt: &IdpRuntime, _conn: &Connection, _secrets: &SecretBox) -> Result<Arc<dyn IdentityProvider>, IdpError> {
    Ok(Arc::new(portico_saml::SamlProvider))
}

/// Prepares a new SAML connection before it is stored (SP entity ID and ACS defaults).
pub fn prepare(state: &AppState, conn: &mut Connection) -> Result<(), ApiError> {
    let mut cfg = conn.config.as_object().cloned().unwrap_or_default();
    cfg.entry("spEntityId").or_insert_with(|| {
        serde_json::Value::String(format!("{}/api/auth/sso/saml/{}/metadata", state.settings.public_base(), conn.id))
    });
    cfg.entry("spAcsUrl").or_insert_with(|| serde_json::Value::String(state.settings.callback_url()));
    conn.config = serde_json::Value::Object(cfg);
    Ok(())
}
