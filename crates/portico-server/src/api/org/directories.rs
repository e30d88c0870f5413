//! `/api/user/organizations/{orgId}/directories[/{directoryId}]` (+ `/token`, `/users`,
//! `/groups`): SCIM directories in the envelope.

use std::collections::HashMap;

use axum::extract::{Path, State};
use portico_store::scim::{directories, groups, users};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::Api;
use crate::auth::org::OrgAccess;
use crate::auth::policy::Need;
use crate::extract::{ClientInfo, PageQuery, ValidJson, ValidQuery};
use crate::openapi::shapes;
use crate::respond::{Envelope, OrgResult};
use crate::services::scim::directories::{self as service, Changes};
use crate::state::AppState;

const ONE: &str = "/api/user/organizations/{orgId}/directories/{directoryId}";

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("directories", true)
        .post(
            "/api/user/organizations/{orgId}/directories",
            "Create a SCIM directory (owner); its token is shown once",
            create,
        )
        .body::<CreateBody>()
        .data_shape(201, shapes::directory())
        .get(
            "/api/user/organizations/{orgId}/directories",
            "The organization's directories (admin+)",
            list,
        )
        .query::<PageQuery>()
        .page_shape(shapes::directory())
        .get(ONE, "Read a directory (admin+)", get)
        .data_shape(200, shapes::directory())
        .patch(
            ONE,
            "Update name, groupRoleMappings, status or requireMappedGroup (owner)",
            patch,
        )
        .body::<PatchBody>()
        .data_shape(200, shapes::directory())
        .delete(ONE, "Delete a directory, deprovisioning what it synced (owner)", remove)
        .data_shape(200, shapes::deleted())
        .post(
            "/api/user/organizations/{orgId}/directories/{directoryId}/token",
            "Rotate the directory's token (owner); the old one stops working at once",
            rotate,
        )
        .no_body()
        .data_shape(200, shapes::directory())
        .get(
            "/api/user/organizations/{orgId}/directories/{directoryId}/users",
            "Users the directory synced (admin+)",
            list_users,
        )
        .query::<PageQuery>()
        .page_shape(shapes::directory_user())
        .get(
            "/api/user/organizations/{orgId}/directories/{directoryId}/groups",
            "Groups the directory synced (admin+)",
            list_groups,
        )
        .query::<PageQuery>()
        .page_shape(shapes::directory_group())
}

fn param(p: &HashMap<String, String>) -> &str {
    p.get("directoryId").map(String::as_str).unwrap_or_default()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = CreateDirectoryBody)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    provider: String,
}

async fn create(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    ValidJson(b): ValidJson<CreateBody>,
) -> OrgResult {
    let (d, token) = service::create(&state, &ctx, &access, &b.name, &b.provider).await?;
    Ok(Envelope::created(service::view_with_token(&state, &d, &token))
        .message("Directory created; copy the token now, it is not shown again"))
}

async fn list(State(state): State<AppState>, access: OrgAccess, ValidQuery(q): ValidQuery<PageQuery>) -> OrgResult {
    access.require(Need::Admin)?;
    let page = q.page()?;
    let paged = directories::list(&state.db, &access.org.id, &page).await?;
    let items: Vec<Value> = paged.items.iter().map(|d| service::view(&state, d)).collect();
    Ok(Envelope::list(items, paged.next_cursor, page.limit))
}

async fn get(State(state): State<AppState>, access: OrgAccess, Path(p): Path<HashMap<String, String>>) -> OrgResult {
    let d = service::get(&state, &access, param(&p)).await?;
    Ok(Envelope::ok(service::view(&state, &d)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = PatchDirectoryBody)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PatchBody {
    name: Option<String>,
    #[schema(value_type = Option<Object>)]
    group_role_mappings: Option<Value>,
    status: Option<String>,
    require_mapped_group: Option<bool>,
}

async fn patch(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    Path(p): Path<HashMap<String, String>>,
    ValidJson(b): ValidJson<PatchBody>,
) -> OrgResult {
    let changes = Changes {
        name: b.name,
        group_role_mappings: b.group_role_mappings,
        status: b.status,
        require_mapped_group: b.require_mapped_group,
    };
    let d = service::update(&state, &ctx, &access, param(&p), changes).await?;
    Ok(Envelope::ok(service::view(&state, &d)).message("Directory updated"))
}

async fn remove(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    Path(p): Path<HashMap<String, String>>,
) -> OrgResult {
    let d = service::delete(&state, &ctx, &access, param(&p)).await?;
    Ok(
        Envelope::ok(json!({ "id": d.id, "deleted": true }))
            .message("Directory deleted; its people were deprovisioned"),
    )
}

async fn rotate(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    Path(p): Path<HashMap<String, String>>,
) -> OrgResult {
    let (d, token) = service::rotate(&state, &ctx, &access, param(&p)).await?;
    Ok(Envelope::ok(service::view_with_token(&state, &d, &token))
        .message("Token rotated; the previous token no longer works"))
}

async fn list_users(
    State(state): State<AppState>,
    access: OrgAccess,
    Path(p): Path<HashMap<String, String>>,
    ValidQuery(q): ValidQuery<PageQuery>,
) -> OrgResult {
    let d = service::get(&state, &access, param(&p)).await?;
    let page = q.page()?;
    let paged = users::page(&state.db, &d.id, &page).await?;
    let items: Vec<Value> = paged
        .items
        .iter()
        .map(|u| {
            json!({
                "id": u.id, "userName": u.user_name, "externalId": u.external_id, "email": u.primary_email,
                "displayName": u.display_name, "active": u.active, "userId": u.user_id,
                "createdAt": u.created_at, "updatedAt": u.updated_at,
            })
        })
        .collect();
    Ok(Envelope::list(items, paged.next_cursor, page.limit))
}

async fn list_groups(
    State(state): State<AppState>,
    access: OrgAccess,
    Path(p): Path<HashMap<String, String>>,
    ValidQuery(q): ValidQuery<PageQuery>,
) -> OrgResult {
    let d = service::get(&state, &access, param(&p)).await?;
    let page = q.page()?;
    let paged = groups::page(&state.db, &d.id, &page).await?;
    let ids: Vec<String> = paged.items.iter().map(|g| g.id.clone()).collect();
    let members = if ids.is_empty() {
        Vec::new()
    } else {
        groups::members_of(&state.db, &ids).await?
    };
    let mapping = &d.group_role_mappings;
    let items: Vec<Value> = paged
        .items
        .iter()
        .map(|g| {
            let role = mapping
                .as_object()
                .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(&g.display_name)))
                .map(|(_, r)| r.clone());
            json!({
                "id": g.id, "displayName": g.display_name, "externalId": g.external_id,
                "memberCount": members.iter().filter(|m| m.group_id == g.id).count(),
                "mappedRole": role, "createdAt": g.created_at, "updatedAt": g.updated_at,
            })
        })
        .collect();
    Ok(Envelope::list(items, paged.next_cursor, page.limit))
}
