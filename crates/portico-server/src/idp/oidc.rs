//! The OIDC adapter settings of a connection: its typed [`OidcSettings`] and the client secret
//! opened from its sealed column.

use portico_core::idp::IdpError;
use portico_core::secretbox::{SecretBox, Slot};
use portico_oidc::ClientAuth;
use portico_store::connections::Connection;

use crate::services::connections::settings::{OidcSettings, ProtocolFields};

/// The OIDC adapter settings of `conn`.
pub fn settings(conn: &Connection, secrets: &SecretBox) -> Result<portico_oidc::OidcSettings, IdpError> {
    let stored = OidcSettings::of(conn)?;
    let issuer = stored
        .issuer_url
        .as_deref()
        .ok_or_else(|| IdpError::Config("issuerUrl is missing".into()))?;
    let client_id = stored
        .client_id
        .as_deref()
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
    let mut s = portico_oidc::OidcSettings::new(issuer, client_id, secret);
    s.client_auth = stored.token_endpoint_auth_method.as_deref().and_then(ClientAuth::parse);
    if let Some(scopes) = stored.scopes {
        s.scopes = scopes;
    }
    Ok(s)
}
