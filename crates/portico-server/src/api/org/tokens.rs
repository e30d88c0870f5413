//! `/api/user/tokens[/{id}]`: personal access tokens, optionally pinned to one organization,
//! shown once. A pinned key can only mint keys pinned to the same organization; a session from
//! an organization's IdP only keys pinned there; a pinned key needs a credential that meets the
//! organization's policy. Each token records how its minting session signed in.

use std::collections::HashMap;

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use portico_store::{audit, tokens};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::views::TokenView;
use crate::api::Api;
use crate::auth::org::admit;
use crate::auth::{Caller, Credential};
use crate::error::{not_found, ApiError};
use crate::extract::{ClientInfo, PageQuery, ValidJson, ValidQuery};
use crate::openapi::shapes;
use crate::respond::{Envelope, OrgResult};
use crate::services::audit::event;
use crate::state::AppState;

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("tokens", true)
        .post(
            "/api/user/tokens",
            "Create a personal access token (shown once)",
            create,
        )
        .body::<CreateBody>()
        .data_shape(201, shapes::created_token())
        .get("/api/user/tokens", "The caller's tokens", list)
        .query::<PageQuery>()
        .page::<TokenView>()
        .get("/api/user/tokens/{tokenId}", "One of the caller's tokens", show)
        .data::<TokenView>(200)
        .delete("/api/user/tokens/{tokenId}", "Revoke a token now", revoke)
        .data::<TokenView>(200)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = CreateTokenBody)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateBody {
    name: String,
    organization_id: Option<String>,
    expires_at: Option<DateTime<Utc>>,
}

async fn create(
    State(state): State<AppState>,
    ctx: ClientInfo,
    caller: Caller,
    ValidJson(b): ValidJson<CreateBody>,
) -> OrgResult {
    let name = b.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::field("name", "must be 1-200 characters"));
    }
    if b.expires_at.is_some_and(|e| e <= Utc::now()) {
        return Err(ApiError::field("expiresAt", "must be in the future"));
    }
    if let Credential::ApiKey {
        pinned_org: Some(p), ..
    } = &caller.credential
    {
        if b.organization_id.as_deref() != Some(p.as_str()) {
            return Err(ApiError::Forbidden(
                "a pinned key can only create keys pinned to the same organization".into(),
            ));
        }
    }
    if let Some(sso_org) = caller.credential.sso_org() {
        if b.organization_id.as_deref() != Some(sso_org) {
            return Err(ApiError::Forbidden(
                "a session from an organization's identity provider can only mint tokens pinned to that organization"
                    .into(),
            ));
        }
    }
    if let Some(org) = &b.organization_id {
        // Minting a pinned token needs a credential that satisfies the organization's policy.
        match admit(&state, caller.clone(), org).await {
            Err(ApiError::NotFound(_)) => {
                return Err(ApiError::field("organizationId", "not an organization you belong to"))
            }
            other => other.map(|_| ())?,
        }
    }
    let minted = crate::services::tokens::minted_by(&caller.credential);
    let mut tx = state.db.begin().await?;
    let (row, secret) = crate::services::tokens::create(
        &mut *tx,
        &caller.user_id,
        b.organization_id.as_deref(),
        name,
        b.expires_at,
        &minted,
    )
    .await?;
    let mut e = event(&ctx, Some(&caller), b.organization_id.as_deref(), "token.create");
    e.target_id = Some(row.id.clone());
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    let mut data = serde_json::to_value(TokenView::from(&row)).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(o) = data.as_object_mut() {
        o.insert(
            "token".into(),
            serde_json::Value::String(secret.expose_secret().to_owned()),
        );
    }
    Ok(Envelope::created(data).message("Token created; it is shown only once"))
}

async fn list(State(state): State<AppState>, caller: Caller, ValidQuery(q): ValidQuery<PageQuery>) -> OrgResult {
    let page = q.page()?;
    let paged = tokens::for_user(&state.db, &caller.user_id, &page).await?;
    Ok(Envelope::list(
        paged.items.iter().map(TokenView::from).collect(),
        paged.next_cursor,
        page.limit,
    ))
}

async fn show(State(state): State<AppState>, caller: Caller, Path(p): Path<HashMap<String, String>>) -> OrgResult {
    let id = p.get("tokenId").cloned().unwrap_or_default();
    let row = tokens::of_user(&state.db, &caller.user_id, &id)
        .await
        .map_err(not_found("token"))?;
    Ok(Envelope::ok(TokenView::from(&row)))
}

async fn revoke(
    State(state): State<AppState>,
    ctx: ClientInfo,
    caller: Caller,
    Path(p): Path<HashMap<String, String>>,
) -> OrgResult {
    let id = p.get("tokenId").cloned().unwrap_or_default();
    let mut tx = state.db.begin().await?;
    let row = tokens::revoke(&mut *tx, &caller.user_id, &id)
        .await
        .map_err(not_found("token"))?;
    let mut e = event(&ctx, Some(&caller), row.organization_id.as_deref(), "token.revoke");
    e.target_id = Some(id);
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(Envelope::ok(TokenView::from(&row)).message("Token revoked"))
}
