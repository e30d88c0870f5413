//! Seed-004 SSO settings: the organization's default OIDC connection, written with exactly
//! `{provider, issuerUrl, clientId, clientSecret}`; the secret is sealed and never returned.

use chrono::Utc;
use portico_core::connection::{ConnectionStatus, Protocol};
use portico_core::secretbox::Slot;
use portico_store::audit;
use portico_store::connections::{self, Connection};
use serde::Serialize;

use crate::auth::org::OrgAccess;
use crate::auth::policy::Need;
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::services::audit::event;
use crate::services::connections::settings::{OidcSettings, ProtocolFields, UrlRules};
use crate::state::AppState;

/// The providers seed 004 names.
pub const PROVIDERS: &[&str] = &["okta", "azure", "google", "oidc"];

/// Validated settings input.
pub struct SsoSettingsInput {
    /// IdP family.
    pub provider: String,
    /// Issuer URL.
    pub issuer_url: String,
    /// Client id.
    pub client_id: String,
    /// Client secret (sealed before it is stored).
    pub client_secret: secrecy::SecretString,
}

/// The settings as returned (never the secret).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SsoSettings)]
pub struct SsoSettingsView {
    provider: Option<String>,
    issuer_url: Option<String>,
    client_id: Option<String>,
    client_secret_set: bool,
    connection_id: String,
    #[schema(value_type = crate::openapi::mirrors::ConnectionStatusSchema)]
    status: ConnectionStatus,
    callback_url: String,
    login_url: String,
    last_test_at: Option<chrono::DateTime<Utc>>,
    last_test_success: Option<bool>,
    updated_at: chrono::DateTime<Utc>,
}

/// The view of a default connection.
pub fn view(state: &AppState, org_slug: &str, c: &Connection) -> SsoSettingsView {
    let oidc = OidcSettings::of(c).ok();
    SsoSettingsView {
        provider: c.provider.clone(),
        issuer_url: oidc.as_ref().and_then(|s| s.issuer_url.clone()),
        client_id: oidc.and_then(|s| s.client_id),
        client_secret_set: c.client_secret.is_some(),
        connection_id: c.id.clone(),
        status: c.status,
        callback_url: state.settings.callback_url(),
        login_url: state.sso_login_url(org_slug),
        last_test_at: c.last_test_at,
        last_test_success: c.last_test_success,
        updated_at: c.updated_at,
    }
}

/// Creates or replaces the organization's default OIDC connection.
pub async fn put(
    state: &AppState,
    ctx: &ClientInfo,
    access: &OrgAccess,
    input: SsoSettingsInput,
) -> Result<Connection, ApiError> {
    access.require(Need::Owner)?;
    if !PROVIDERS.contains(&input.provider.as_str()) {
        return Err(ApiError::field("provider", "must be one of okta, azure, google, oidc"));
    }
    UrlRules::of(&state.settings).check_issuer("issuerUrl", &input.issuer_url)?;
    let client_id = input.client_id.trim();
    if client_id.is_empty() || client_id.len() > 256 {
        return Err(ApiError::field("clientId", "must be 1-256 characters"));
    }
    use secrecy::ExposeSecret;
    let secret = input.client_secret.expose_secret();
    if secret.is_empty() || secret.len() > 1024 {
        return Err(ApiError::field("clientSecret", "must be 1-1024 characters"));
    }
    let mut tx = state.db.begin().await?;
    let existing = connections::default_for(&mut *tx, &access.org.id).await?;
    let is_new = existing.is_none();
    let mut conn = existing.unwrap_or_else(|| new_default(&access.org.id));
    let sealed = state.secrets.seal(
        secret,
        Slot {
            table: "sso_connections",
            row: &conn.id,
            column: "client_secret",
        },
    )?;
    conn.provider = Some(input.provider.clone());
    let mut settings = OidcSettings::of(&conn).map_err(|e| ApiError::Conflict(e.to_string()))?;
    settings.issuer_url = Some(input.issuer_url.clone());
    settings.client_id = Some(client_id.to_owned());
    settings.store(&mut conn)?;
    conn.client_secret = Some(sealed);
    conn.last_test_at = None;
    conn.last_test_success = None;
    let saved = if is_new {
        connections::insert(&mut *tx, &conn).await?
    } else {
        connections::update(&mut *tx, &conn).await?
    };
    let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "sso_settings.update");
    e.connection_id = Some(saved.id.clone());
    e.details = Some(
        serde_json::json!({ "provider": input.provider, "issuerUrl": input.issuer_url, "clientId": client_id, "created": is_new }),
    );
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(saved)
}

/// The organization's default OIDC connection before its first save: a [`connections::blank`]
/// one, named, default, provisioning just in time.
fn new_default(org_id: &str) -> Connection {
    Connection {
        name: "Default OIDC".into(),
        is_default: true,
        jit_provisioning: true,
        ..crate::services::connections::blank(org_id, Protocol::Oidc)
    }
}

/// Removes the default connection (its identities and sessions go with it).
pub async fn delete(state: &AppState, ctx: &ClientInfo, access: &OrgAccess) -> Result<(), ApiError> {
    access.require(Need::Owner)?;
    let mut tx = state.db.begin().await?;
    let conn = connections::default_for(&mut *tx, &access.org.id)
        .await?
        .ok_or(ApiError::NotFound("SSO settings"))?;
    connections::delete(&mut *tx, &conn.id, &access.org.id).await?;
    let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "sso_settings.delete");
    e.connection_id = Some(conn.id.clone());
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(())
}
