//! SSO connections: create, update, delete and test, through one typed input
//! ([`ConnectionInput`]) merged onto the stored row and validated as a whole — the protocol's
//! fields as typed [`settings`] beside their validation; secrets sealed; a domain on at most
//! one active connection per organization; one view for both API families ([`views`]).

use chrono::Utc;
use portico_core::connection::{ConnectionStatus, Protocol};
use portico_core::ids;
use portico_store::connections::{self, Connection};
use portico_store::{audit, PgPool};
use serde_json::json;

use crate::auth::org::OrgAccess;
use crate::auth::policy::Need;
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::services::audit::event;
use crate::state::AppState;

mod body;
mod input;
pub mod settings;
pub mod views;

pub use input::ConnectionInput;
pub use views::{test_view, view};

/// A new connection of `protocol` for `org_id` before its body is merged in: unnamed, active,
/// no settings (the one place a connection row starts; the default OIDC one too).
pub(crate) fn blank(org_id: &str, protocol: Protocol) -> Connection {
    let now = Utc::now();
    Connection {
        id: ids::prefixed(ids::CONNECTION),
        organization_id: org_id.to_owned(),
        name: String::new(),
        protocol,
        status: ConnectionStatus::Active,
        is_default: false,
        provider: None,
        config: json!({}),
        client_secret: None,
        ldap_bind_password: None,
        sp_private_key: None,
        domains: Vec::new(),
        jit_provisioning: false,
        enforce: false,
        group_attribute: None,
        group_mappings: json!({}),
        default_scopes: Vec::new(),
        default_role: None,
        attribute_mapping: json!({}),
        redirect_uris: Vec::new(),
        last_test_at: None,
        last_test_success: None,
        created_at: now,
        updated_at: now,
    }
}

/// Refuses a domain already on another active connection of the organization.
async fn check_domain_exclusive(db: &mut sqlx::PgConnection, conn: &Connection) -> Result<(), ApiError> {
    if !conn.status.is_active() || conn.domains.is_empty() {
        return Ok(());
    }
    for other in connections::for_org(&mut *db, &conn.organization_id).await? {
        if other.id == conn.id || !other.status.is_active() {
            continue;
        }
        if let Some(d) = other.domains.iter().find(|d| conn.domains.contains(d)) {
            return Err(ApiError::Conflict(format!(
                "domains: {d} is already routed to active connection {}",
                other.id
            )));
        }
    }
    Ok(())
}

/// Locks the organization row so concurrent connection writes serialise on it.
async fn lock_org(db: &mut sqlx::PgConnection, org_id: &str) -> Result<(), ApiError> {
    sqlx::query("SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE")
        .bind(org_id)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// Creates a connection.
pub async fn create(
    state: &AppState,
    ctx: &ClientInfo,
    access: &OrgAccess,
    input: ConnectionInput,
) -> Result<Connection, ApiError> {
    access.require(Need::Owner)?;
    let protocol = input
        .protocol
        .value()
        .ok_or_else(|| ApiError::field("protocol", "is required (oidc, saml or ldap)"))?;
    let protocol =
        Protocol::parse(protocol).ok_or_else(|| ApiError::field("protocol", "must be oidc, saml or ldap"))?;
    if input.name.value().is_none() {
        return Err(ApiError::field("name", "is required"));
    }
    let mut conn = blank(&access.org.id, protocol);
    input::apply(state, &mut conn, input)?;
    if conn.protocol == Protocol::Saml {
        crate::services::saml_setup::prepare(state, &mut conn)?;
        crate::services::saml_setup::check_idp_metadata_url(state, &conn).await?;
    }
    let mut tx = state.db.begin().await?;
    lock_org(&mut tx, &access.org.id).await?;
    check_domain_exclusive(&mut tx, &conn).await?;
    let saved = connections::insert(&mut *tx, &conn).await?;
    let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "sso_connection.create");
    e.connection_id = Some(saved.id.clone());
    e.details = Some(json!({ "name": saved.name, "protocol": saved.protocol, "domains": saved.domains }));
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(saved)
}

/// Updates a connection (any subset; not the protocol).
pub async fn update(
    state: &AppState,
    ctx: &ClientInfo,
    access: &OrgAccess,
    id: &str,
    input: ConnectionInput,
) -> Result<Connection, ApiError> {
    access.require(Need::Owner)?;
    if input.protocol.is_present() {
        return Err(ApiError::field(
            "protocol",
            "cannot be changed; create a new connection",
        ));
    }
    let mut tx = state.db.begin().await?;
    lock_org(&mut tx, &access.org.id).await?;
    let mut conn = connections::by_id(&mut *tx, id, Some(&access.org.id))
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    let changed_config = input.changes_idp_config();
    input::apply(state, &mut conn, input)?;
    if changed_config {
        conn.last_test_at = None;
        conn.last_test_success = None;
    }
    if conn.protocol == Protocol::Saml {
        crate::services::saml_setup::check_idp(&conn)?;
        // Inside the transaction (the org row is locked for at most the outbound timeout): an
        // update is rare, and the check must see the merged configuration.
        if changed_config {
            crate::services::saml_setup::check_idp_metadata_url(state, &conn).await?;
        }
    }
    check_domain_exclusive(&mut tx, &conn).await?;
    let saved = connections::update(&mut *tx, &conn).await?;
    let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "sso_connection.update");
    e.connection_id = Some(saved.id.clone());
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(saved)
}

/// Deletes a connection; its identities and sessions go with it (revoked at once).
pub async fn delete(db: &PgPool, ctx: &ClientInfo, access: &OrgAccess, id: &str) -> Result<(), ApiError> {
    access.require(Need::Owner)?;
    let mut tx = db.begin().await?;
    connections::delete(&mut *tx, id, &access.org.id)
        .await
        .map_err(crate::error::not_found("connection"))?;
    let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "sso_connection.delete");
    e.connection_id = Some(id.to_owned());
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(())
}

/// Tests a connection and records the result; failures are a report, not an error.
pub async fn test(
    state: &AppState,
    ctx: &ClientInfo,
    access: &OrgAccess,
    conn: &Connection,
) -> Result<portico_core::idp::CheckReport, ApiError> {
    let report = match state.idp.provider(conn, &state.secrets) {
        Ok(p) => p.check().await,
        Err(e) => {
            let mut r = portico_core::idp::CheckReport::default();
            r.push("configuration", false, e.to_string());
            r
        }
    };
    let mut report = report;
    mix_up_findings(state, conn, &mut report).await?;
    let success = report.success();
    connections::record_test(&state.db, &conn.id, success).await?;
    let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "sso_connection.test");
    e.connection_id = Some(conn.id.clone());
    e.success = success;
    e.reason = report.first_failure().map(|c| c.name.clone());
    audit::record(&state.db, e).await?;
    Ok(report)
}

/// What an OIDC test learnt about mix-up protection: whether the IdP advertises RFC 9207 `iss`
/// (kept on the connection for its view), and, when no protection holds, a warning with the fix.
async fn mix_up_findings(
    state: &AppState,
    conn: &Connection,
    report: &mut portico_core::idp::CheckReport,
) -> Result<(), ApiError> {
    let Ok(mut s) = <settings::OidcSettings as settings::ProtocolFields>::of(conn) else {
        return Ok(());
    };
    let Some(iss) = report.facts.get(ISS_FACT).and_then(serde_json::Value::as_bool) else {
        return Ok(());
    };
    if let Some(issuer) = &s.issuer_url {
        connections::record_iss_support(&state.db, &conn.id, issuer, iss).await?;
    }
    s.iss_parameter_supported = Some(iss);
    if s.mix_up_protection() == settings::MixUpProtection::None {
        let url = crate::services::signin::mixup::dedicated_url(&state.settings, &conn.id);
        report.warn(
            "mix_up_protection",
            format!(
                "the identity provider does not advertise RFC 9207 `iss` and this connection shares the callback \
                 with every organization, so another organization's malicious IdP could obtain its authorization \
                 codes (mix-up): register {url} at the identity provider, then set dedicatedCallback: true"
            ),
        );
    }
    Ok(())
}

/// The test fact of the OIDC adapter: the IdP advertises RFC 9207 `iss`.
const ISS_FACT: &str = "issParameterSupported";
