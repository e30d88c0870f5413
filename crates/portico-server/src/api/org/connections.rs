//! `/api/user/organizations/{orgId}/sso/connections[/{id}]`: the same connections as
//! `/v1/sso/connections`, through the same service, in the envelope.

use std::collections::HashMap;

use axum::extract::{Path, State};
use portico_store::connections;

use crate::api::Api;
use crate::auth::org::OrgAccess;
use crate::auth::policy::Need;
use crate::error::ApiError;
use crate::extract::{ClientInfo, ValidJson};
use crate::openapi::shapes;
use crate::respond::{Envelope, OrgResult};
use crate::services::connections::{self as svc, ConnectionInput};
use crate::state::AppState;

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("connections", true)
        .get(
            "/api/user/organizations/{orgId}/sso/connections",
            "SSO connections (owner)",
            list,
        )
        .page_shape(shapes::connection())
        .post(
            "/api/user/organizations/{orgId}/sso/connections",
            "Create an SSO connection (owner)",
            create,
        )
        .body_shape(shapes::connection_create())
        .data_shape(201, shapes::connection())
        .get(
            "/api/user/organizations/{orgId}/sso/connections/{id}",
            "Read an SSO connection (owner)",
            read,
        )
        .data_shape(200, shapes::connection())
        .patch(
            "/api/user/organizations/{orgId}/sso/connections/{id}",
            "Update an SSO connection (owner)",
            update,
        )
        .body::<ConnectionInput>()
        .data_shape(200, shapes::connection())
        .delete(
            "/api/user/organizations/{orgId}/sso/connections/{id}",
            "Delete an SSO connection (owner)",
            delete,
        )
        .data_shape(200, shapes::deleted())
        .post(
            "/api/user/organizations/{orgId}/sso/connections/{id}/test",
            "Test an SSO connection (owner)",
            test,
        )
        .no_body()
        .data_shape(200, shapes::connection_test())
}

fn id_of(p: &HashMap<String, String>) -> Result<String, ApiError> {
    p.get("id").cloned().ok_or(ApiError::NotFound("connection"))
}

async fn list(State(state): State<AppState>, access: OrgAccess) -> OrgResult {
    access.require(Need::Owner)?;
    let all = connections::for_org(&state.db, &access.org.id).await?;
    let n = i64::try_from(all.len()).unwrap_or(i64::MAX);
    Ok(Envelope::list(all.iter().map(svc::view).collect(), None, n.max(1)))
}

async fn create(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    ValidJson(input): ValidJson<ConnectionInput>,
) -> OrgResult {
    let c = svc::create(&state, &ctx, &access, input).await?;
    Ok(Envelope::created(svc::view(&c)).message("Connection created"))
}

async fn read(State(state): State<AppState>, access: OrgAccess, Path(p): Path<HashMap<String, String>>) -> OrgResult {
    access.require(Need::Owner)?;
    let c = connections::by_id(&state.db, &id_of(&p)?, Some(&access.org.id))
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    Ok(Envelope::ok(svc::view(&c)))
}

async fn update(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    Path(p): Path<HashMap<String, String>>,
    ValidJson(input): ValidJson<ConnectionInput>,
) -> OrgResult {
    let c = svc::update(&state, &ctx, &access, &id_of(&p)?, input).await?;
    Ok(Envelope::ok(svc::view(&c)).message("Connection updated"))
}

async fn delete(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    Path(p): Path<HashMap<String, String>>,
) -> OrgResult {
    let id = id_of(&p)?;
    svc::delete(&state.db, &ctx, &access, &id).await?;
    Ok(Envelope::ok(serde_json::json!({ "id": id, "deleted": true })).message("Connection deleted"))
}

async fn test(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    Path(p): Path<HashMap<String, String>>,
) -> OrgResult {
    access.require(Need::Owner)?;
    let c = connections::by_id(&state.db, &id_of(&p)?, Some(&access.org.id))
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    let report = svc::test(&state, &ctx, &access, &c).await?;
    let message = if report.success() {
        "Connection test passed"
    } else {
        "Connection test failed"
    };
    Ok(Envelope::ok(svc::test_view(&c, &report)).message(message))
}
