//! `/api/user/organizations/{orgId}/members[/{userId}]`: list (admin+), change role, remove.

use std::collections::HashMap;

use axum::extract::{Path, State};
use portico_core::role::Role;
use portico_store::orgs;
use serde::Deserialize;

use super::views::MemberView;
use crate::api::Api;
use crate::auth::org::OrgAccess;
use crate::auth::policy::Need;
use crate::error::ApiError;
use crate::extract::{ClientInfo, PageQuery, ValidJson, ValidQuery};
use crate::openapi::shapes;
use crate::respond::{Envelope, OrgResult};
use crate::services;
use crate::state::AppState;

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("members", true)
        .get(
            "/api/user/organizations/{orgId}/members",
            "Members and roles (admin+)",
            list,
        )
        .query::<PageQuery>()
        .page::<MemberView>()
        .patch(
            "/api/user/organizations/{orgId}/members/{userId}",
            "Change a member's role",
            set_role,
        )
        .body::<RoleBody>()
        .data_shape(200, shapes::role_changed())
        .delete(
            "/api/user/organizations/{orgId}/members/{userId}",
            "Remove a member, or leave",
            remove,
        )
        .data_shape(200, shapes::member_removed())
}

async fn list(State(state): State<AppState>, access: OrgAccess, ValidQuery(q): ValidQuery<PageQuery>) -> OrgResult {
    access.require(Need::Admin)?;
    let page = q.page()?;
    let paged = orgs::members(&state.db, &access.org.id, &page).await?;
    Ok(Envelope::list(
        paged.items.iter().map(MemberView::from).collect(),
        paged.next_cursor,
        page.limit,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: String,
}

fn user_param(p: &HashMap<String, String>) -> Result<String, ApiError> {
    p.get("userId")
        .filter(|u| portico_core::ids::is_prefixed(u, portico_core::ids::USER))
        .cloned()
        .ok_or(ApiError::NotFound("member"))
}

async fn set_role(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    Path(p): Path<HashMap<String, String>>,
    ValidJson(b): ValidJson<RoleBody>,
) -> OrgResult {
    let user_id = user_param(&p)?;
    let role = Role::parse(&b.role).map_err(|e| ApiError::field("role", e.to_string()))?;
    services::orgs::set_role(&state.db, &ctx, &access, &user_id, &role).await?;
    Ok(Envelope::ok(serde_json::json!({ "userId": user_id, "role": role.as_str() })).message("Role changed"))
}

async fn remove(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    Path(p): Path<HashMap<String, String>>,
) -> OrgResult {
    let user_id = user_param(&p)?;
    services::orgs::remove_member(&state.db, &ctx, &access, &user_id).await?;
    Ok(Envelope::ok(serde_json::json!({ "userId": user_id, "removed": true })).message("Member removed"))
}
