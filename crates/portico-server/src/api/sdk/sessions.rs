//! `/v1/sso/sessions[/{id}]` and `/v1/sso/enforce`.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::SecondsFormat;
use portico_core::org::AuthRequired;
use portico_store::{audit, sessions, Page};
use serde::Deserialize;
use serde_json::json;

use super::SdkAccess;
use crate::api::Api;
use crate::auth::policy::Need;
use crate::error::{not_found, ApiError};
use crate::extract::{ClientInfo, ValidJson};
use crate::openapi::shapes;
use crate::services::audit::event;
use crate::services::security_settings::{self, PolicyInput};
use crate::state::AppState;

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("sdk-sessions", true)
        .get("/v1/sso/sessions", "Active SSO sessions of the organization", list)
        .json_shape(200, "application/json", shapes::sdk_sessions())
        .delete("/v1/sso/sessions/{id}", "Revoke an SSO session now", revoke)
        .empty(204)
        .post(
            "/v1/sso/enforce",
            "Require SSO for the organization (the security policy)",
            enforce,
        )
        .body::<EnforceBody>()
        .json_shape(200, "application/json", shapes::sdk_enforce())
}

async fn list(
    State(state): State<AppState>,
    SdkAccess(access): SdkAccess,
) -> Result<Json<serde_json::Value>, ApiError> {
    access.require(Need::Admin)?;
    let page = Page {
        limit: 200,
        cursor: None,
    };
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let paged = sessions::for_org(&state.db, &access.org.id, true, &Page { cursor, ..page.clone() }).await?;
        for v in &paged.items {
            let s = &v.session;
            out.push(json!({
                "id": s.id,
                "connectionId": s.connection_id,
                "connectionName": v.connection_name,
                "principalId": s.user_id,
                "email": v.email,
                "name": v.name,
                "idpSubject": s.idp_subject.clone().unwrap_or_default(),
                "groups": s.groups,
                "mappedScopes": s.mapped_scopes,
                "method": s.method,
                "mfa": s.mfa,
                "createdAt": s.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                "expiresAt": s.expires_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            }));
        }
        match paged.next_cursor {
            Some(c) if out.len() < 10_000 => cursor = Some(c),
            _ => break,
        }
    }
    Ok(Json(json!({ "sessions": out })))
}

async fn revoke(
    State(state): State<AppState>,
    ctx: ClientInfo,
    SdkAccess(access): SdkAccess,
    Path(p): Path<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    access.require(Need::Admin)?;
    let id = p.get("id").cloned().unwrap_or_default();
    if !portico_core::ids::is_prefixed(&id, portico_core::ids::SSO_SESSION) {
        return Err(ApiError::NotFound("session"));
    }
    let mut tx = state.db.begin().await?;
    sessions::revoke(&mut *tx, &id, Some(&access.org.id))
        .await
        .map_err(not_found("session"))?;
    let mut e = event(&ctx, Some(&access.caller), Some(&access.org.id), "session.revoke");
    e.target_id = Some(id);
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EnforceBody {
    enforce: Option<bool>,
    enforced: Option<bool>,
    exempt_roles: Option<Vec<String>>,
}

async fn enforce(
    State(state): State<AppState>,
    ctx: ClientInfo,
    SdkAccess(access): SdkAccess,
    ValidJson(b): ValidJson<EnforceBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let on = b
        .enforce
        .or(b.enforced)
        .ok_or_else(|| ApiError::field("enforce", "is required (true or false)"))?;
    let auth_required = match (on, access.org.auth_required) {
        (true, _) => AuthRequired::Sso,
        (false, AuthRequired::Sso) => AuthRequired::Any,
        (false, other) => other,
    }
    .to_string();
    let exempt_roles = b.exempt_roles.unwrap_or_else(|| access.org.exempt_roles.clone());
    let org = security_settings::set(
        &state,
        &ctx,
        &access,
        PolicyInput {
            auth_required,
            require_mfa: access.org.require_mfa,
            exempt_roles,
        },
    )
    .await?;
    let enforced = org.auth_required == AuthRequired::Sso;
    Ok(Json(
        json!({ "enforce": enforced, "enforced": enforced, "exemptRoles": org.exempt_roles, "developerId": org.id }),
    ))
}
