//! The OIDC settings of a connection: `conn.config` keys and the client secret opened from its
//! sealed column.

use portico_core::idp::IdpError;
use portico_core::secretbox::{SecretBox, Slot};
use portico_oidc::{ClientAuth, OidcSettings};
use portico_store::connections::Connection;

/// The OIDC adapter settings of `conn`.
pub fn settings(conn: &Connection, secrets: &SecretBox) -> Result<OidcSettings, IdpError> {
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
