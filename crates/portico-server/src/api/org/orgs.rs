//! `/api/user/organizations[/{orgId}]`: list, create, read, rename, delete.

use axum::extract::State;
use portico_core::role::Role;
use portico_core::slug;
use portico_store::orgs;
use serde::Deserialize;

use super::views::OrgView;
use crate::api::Api;
use crate::auth::org::OrgAccess;
use crate::auth::{Caller, Credential};
use crate::error::ApiError;
use crate::extract::{ClientInfo, PageQuery, ValidJson, ValidQuery};
use crate::openapi::shapes;
use crate::respond::{Envelope, OrgResult};
use crate::services;
use crate::state::AppState;

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("organizations", true)
        .get("/api/user/organizations", "Organizations the caller belongs to", list)
        .query::<PageQuery>()
        .page::<OrgView>()
        .post(
            "/api/user/organizations",
            "Create an organization; the caller becomes owner",
            create,
        )
        .body::<CreateBody>()
        .data::<OrgView>(201)
        .get("/api/user/organizations/{orgId}", "Read an organization", read)
        .data::<OrgView>(200)
        .patch(
            "/api/user/organizations/{orgId}",
            "Rename an organization (owner)",
            rename,
        )
        .body::<RenameBody>()
        .data::<OrgView>(200)
        .delete(
            "/api/user/organizations/{orgId}",
            "Delete an organization (owner)",
            delete,
        )
        .data_shape(200, shapes::deleted())
}

async fn list(State(state): State<AppState>, caller: Caller, ValidQuery(q): ValidQuery<PageQuery>) -> OrgResult {
    let page = q.page()?;
    let mut paged = orgs::for_user(&state.db, &caller.user_id, &page).await?;
    if let Credential::ApiKey {
        pinned_org: Some(p), ..
    } = &caller.credential
    {
        paged.items.retain(|m| &m.org.id == p);
        paged.next_cursor = None;
    }
    Ok(Envelope::list(
        paged.items.iter().map(OrgView::from).collect(),
        paged.next_cursor,
        page.limit,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = CreateOrganizationBody)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    slug: Option<String>,
}

fn valid_name(name: &str) -> Result<&str, ApiError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 200 {
        return Err(ApiError::field("name", "must be 1-200 characters"));
    }
    Ok(n)
}

async fn create(
    State(state): State<AppState>,
    ctx: ClientInfo,
    caller: Caller,
    ValidJson(b): ValidJson<CreateBody>,
) -> OrgResult {
    if !state.settings.app.allow_org_creation {
        return Err(ApiError::Forbidden("organization creation is disabled".into()));
    }
    if let Credential::ApiKey {
        pinned_org: Some(_), ..
    } = caller.credential
    {
        return Err(ApiError::Forbidden(
            "a key pinned to an organization cannot create organizations".into(),
        ));
    }
    let name = valid_name(&b.name)?;
    let s = match b.slug {
        Some(s) if slug::is_valid(&s) => s,
        Some(_) => {
            return Err(ApiError::field(
                "slug",
                "must be 1-63 characters of a-z, 0-9 and inner '-'",
            ))
        }
        None => slug::from_name(name),
    };
    let org = services::orgs::create(&state.db, &ctx, &caller, name, &s).await?;
    Ok(Envelope::created(OrgView::new(&org, Some(Role::Owner.as_str()))).message("Organization created"))
}

async fn read(access: OrgAccess) -> OrgResult {
    Ok(Envelope::ok(OrgView::new(&access.org, Some(access.role.as_str()))))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    name: String,
}

async fn rename(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    ValidJson(b): ValidJson<RenameBody>,
) -> OrgResult {
    let name = valid_name(&b.name)?;
    let org = services::orgs::rename(&state.db, &ctx, &access, name).await?;
    Ok(Envelope::ok(OrgView::new(&org, Some(access.role.as_str()))).message("Organization renamed"))
}

async fn delete(State(state): State<AppState>, ctx: ClientInfo, access: OrgAccess) -> OrgResult {
    services::orgs::delete(&state.db, &ctx, &access).await?;
    Ok(Envelope::ok(serde_json::json!({ "id": access.org.id, "deleted": true })).message("Organization deleted"))
}
