//! Legacy single-config methods: `/v1/sso/config` and `GET /sso/callback` are a view over the
//! organization's default OIDC connection (the same one `settings/sso` writes).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::SecondsFormat;
use portico_core::idp::LoginInput;
use portico_store::connections::{self, Connection};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};

use super::login::complete_by_state;
use super::SdkAccess;
use crate::api::Api;
use crate::error::ApiError;
use crate::extract::{ClientInfo, ValidJson};
use crate::openapi::shapes;
use crate::services::connections::settings::{OidcSettings, ProtocolFields};
use crate::services::sso_settings::{self, SsoSettingsInput};
use crate::state::AppState;

const JSON: &str = "application/json";

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("sdk-legacy", true)
        .post(
            "/v1/sso/config",
            "Create or replace the default OIDC configuration (legacy)",
            create,
        )
        .body::<ConfigBody>()
        .json_shape(201, JSON, shapes::sdk_config())
        .get("/v1/sso/config", "Read the default OIDC configuration (legacy)", read)
        .json_shape(200, JSON, shapes::sdk_config())
        .delete(
            "/v1/sso/config",
            "Remove the default OIDC configuration (legacy)",
            delete,
        )
        .empty(204)
        .get("/sso/callback", "Complete a legacy OIDC login (code + state)", callback)
        .query_names(&[
            ("code", "Authorization code (required)"),
            ("state", "The login's state"),
            ("iss", "The issuer (RFC 9207)"),
        ])
        .json_shape(200, JSON, shapes::sdk_signed_in())
}

fn config_view(c: &Connection) -> Value {
    let oidc = OidcSettings::of(c).unwrap_or_default();
    json!({
        "issuerUrl": oidc.issuer_url,
        "clientId": oidc.client_id,
        "redirectUri": c.redirect_uris.first(),
        "connectionId": c.id,
        "createdAt": c.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "updatedAt": c.updated_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfigBody {
    issuer_url: String,
    client_id: String,
    #[schema(value_type = String)]
    client_secret: SecretString,
    redirect_uri: String,
}

async fn create(
    State(state): State<AppState>,
    ctx: ClientInfo,
    SdkAccess(access): SdkAccess,
    ValidJson(b): ValidJson<ConfigBody>,
) -> Result<Response, ApiError> {
    let parsed =
        url::Url::parse(&b.redirect_uri).map_err(|_| ApiError::field("redirectUri", "must be an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ApiError::field("redirectUri", "must be an http(s) URL"));
    }
    let provider = connections::default_for(&state.db, &access.org.id)
        .await?
        .and_then(|c| c.provider)
        .unwrap_or_else(|| "oidc".into());
    let input = SsoSettingsInput {
        provider,
        issuer_url: b.issuer_url,
        client_id: b.client_id,
        client_secret: b.client_secret,
    };
    let mut conn = sso_settings::put(&state, &ctx, &access, input).await?;
    conn.redirect_uris = vec![b.redirect_uri];
    let conn = connections::update(&state.db, &conn).await?;
    Ok((StatusCode::CREATED, Json(config_view(&conn))).into_response())
}

async fn read(State(state): State<AppState>, SdkAccess(access): SdkAccess) -> Result<Json<Value>, ApiError> {
    access.require(crate::auth::policy::Need::Owner)?;
    let c = connections::default_for(&state.db, &access.org.id)
        .await?
        .ok_or(ApiError::NotFound("SSO configuration"))?;
    Ok(Json(config_view(&c)))
}

async fn delete(
    State(state): State<AppState>,
    ctx: ClientInfo,
    SdkAccess(access): SdkAccess,
) -> Result<StatusCode, ApiError> {
    sso_settings::delete(&state, &ctx, &access).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn callback(
    State(state): State<AppState>,
    ctx: ClientInfo,
    SdkAccess(access): SdkAccess,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let code = q.get("code").cloned().unwrap_or_default();
    let st = q.get("state").cloned().unwrap_or_default();
    if code.is_empty() {
        return Err(ApiError::field("code", "is required"));
    }
    let input = LoginInput::OidcCode {
        code,
        iss: q.get("iss").cloned(),
    };
    let done = complete_by_state(&state, &ctx, &access, &st, None, input).await?;
    Ok(Json(super::login::callback_result(&done)))
}
