//! `/v1/sso/connections[/{id}]` and `…/test`: connection CRUD for SDK callers.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use portico_store::connections;
use serde_json::json;

use super::SdkAccess;
use crate::api::Api;
use crate::auth::policy::Need;
use crate::error::ApiError;
use crate::extract::{ClientInfo, ValidJson};
use crate::openapi::shapes;
use crate::services::connections::{self as svc, ConnectionInput};
use crate::state::AppState;

const JSON: &str = "application/json";

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("sdk-connections", true)
        .post(
            "/v1/sso/connections",
            "Create a connection (oidc, saml or ldap)",
            create,
        )
        .body_shape(shapes::connection_create())
        .json_shape(201, JSON, shapes::connection())
        .get("/v1/sso/connections", "List the organization's connections", list)
        .json_shape(200, JSON, shapes::connection_list())
        .get("/v1/sso/connections/{id}", "Read a connection", read)
        .json_shape(200, JSON, shapes::connection())
        .patch(
            "/v1/sso/connections/{id}",
            "Update a connection; explicit null clears a field",
            update,
        )
        .body::<ConnectionInput>()
        .json_shape(200, JSON, shapes::connection())
        .delete(
            "/v1/sso/connections/{id}",
            "Delete a connection and revoke its sessions",
            delete,
        )
        .empty(204)
        .post(
            "/v1/sso/connections/{id}/test",
            "Test a connection (success:false when it fails)",
            test,
        )
        .no_body()
        .json_shape(200, JSON, shapes::connection_test())
}

fn id_of(p: &HashMap<String, String>) -> Result<String, ApiError> {
    p.get("id")
        .filter(|i| portico_core::ids::is_prefixed(i, portico_core::ids::CONNECTION))
        .cloned()
        .ok_or(ApiError::NotFound("connection"))
}

async fn create(
    State(state): State<AppState>,
    ctx: ClientInfo,
    SdkAccess(access): SdkAccess,
    ValidJson(input): ValidJson<ConnectionInput>,
) -> Result<Response, ApiError> {
    let c = svc::create(&state, &ctx, &access, input).await?;
    Ok((StatusCode::CREATED, Json(svc::view(&c))).into_response())
}

async fn list(
    State(state): State<AppState>,
    SdkAccess(access): SdkAccess,
) -> Result<Json<serde_json::Value>, ApiError> {
    // Connection views carry directory details (bind DN, metadata, group mappings): owner only,
    // as on the Organization API.
    access.require(Need::Owner)?;
    let all = connections::for_org(&state.db, &access.org.id).await?;
    Ok(Json(
        json!({ "connections": all.iter().map(svc::view).collect::<Vec<_>>() }),
    ))
}

async fn read(
    State(state): State<AppState>,
    SdkAccess(access): SdkAccess,
    Path(p): Path<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    access.require(Need::Owner)?;
    let id = id_of(&p)?;
    let c = connections::by_id(&state.db, &id, Some(&access.org.id))
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    Ok(Json(svc::view(&c)))
}

async fn update(
    State(state): State<AppState>,
    ctx: ClientInfo,
    SdkAccess(access): SdkAccess,
    Path(p): Path<HashMap<String, String>>,
    ValidJson(input): ValidJson<ConnectionInput>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = id_of(&p)?;
    let c = svc::update(&state, &ctx, &access, &id, input).await?;
    Ok(Json(svc::view(&c)))
}

async fn delete(
    State(state): State<AppState>,
    ctx: ClientInfo,
    SdkAccess(access): SdkAccess,
    Path(p): Path<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let id = id_of(&p)?;
    svc::delete(&state.db, &ctx, &access, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn test(
    State(state): State<AppState>,
    ctx: ClientInfo,
    SdkAccess(access): SdkAccess,
    Path(p): Path<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    access.require(Need::Owner)?;
    let id = id_of(&p)?;
    let c = connections::by_id(&state.db, &id, Some(&access.org.id))
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    let report = svc::test(&state, &ctx, &access, &c).await?;
    Ok(Json(svc::test_view(&c, &report)))
}
