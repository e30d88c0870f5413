//! The SCIM 2.0 service (RFC 7644) under `{public_url}/scim/v2/{directoryId}`: every route,
//! discovery included, needs that directory's bearer token; bodies are `application/scim+json`
//! (`application/json` accepted) up to the server's body cap (413 beyond); errors use the SCIM
//! error schema with `scimType` ([`crate::respond::scim_error_body`]); requests are throttled per directory.

mod discovery;
mod resources;

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use portico_core::token;
use portico_store::scim::directories::{self, Directory};
use serde_json::Value;

use super::Api;
use crate::error::{ApiError, ScimFault};
use crate::extract::ClientInfo;
use crate::services::scim::resource::scim_error;
use crate::services::scim::Scope;
use crate::state::AppState;

/// Registers the SCIM routes.
pub fn routes(api: Api) -> Api {
    let api = discovery::routes(api.section("scim", true));
    resources::routes(api)
}

/// The directory a request's token reaches, with the request context.
pub struct ScimAuth {
    /// The directory.
    pub dir: Directory,
    /// Request context.
    pub ctx: ClientInfo,
}

impl ScimAuth {
    /// The service scope.
    pub fn scope<'a>(&'a self, state: &'a AppState) -> Scope<'a> {
        Scope {
            state,
            dir: &self.dir,
            ctx: &self.ctx,
        }
    }
}

impl FromRequestParts<AppState> for ScimAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = || ApiError::Unauthorized("a valid directory bearer token is required");
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| unauthorized())?;
        let dir_id = params.get("directoryId").map(String::as_str).unwrap_or_default();
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| t.starts_with(crate::services::scim::directories::TOKEN_PREFIX) && t.len() <= 256)
            .ok_or_else(unauthorized)?;
        if !portico_core::ids::is_prefixed(dir_id, "dir_") {
            return Err(unauthorized());
        }
        let dir = directories::by_token(&state.db, dir_id, &token::digest(secret))
            .await?
            .ok_or_else(unauthorized)?;
        if !dir.is_active() {
            return Err(scim_error(ScimFault::Forbidden, "this directory is disabled"));
        }
        state.limits.hit(
            &format!("scim:{}", dir.id),
            state.settings.rate_limit.scim_per_directory_per_minute,
        )?;
        let ctx = ClientInfo::from_request_parts(parts, state).await?;
        Ok(Self { dir, ctx })
    }
}

/// A SCIM JSON body (`application/scim+json` or `application/json`).
pub struct ScimBody(pub Value);

impl FromRequest<AppState> for ScimBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        if let Some(ct) = ct.filter(|c| !c.is_empty()) {
            if ct != "application/scim+json" && ct != "application/json" {
                return Err(scim_error(
                    ScimFault::UnsupportedMediaType,
                    "Content-Type must be application/scim+json",
                ));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                scim_error(ScimFault::InvalidSyntax, "could not read the request body")
            }
        })?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|_| scim_error(ScimFault::InvalidSyntax, "the body is not valid JSON"))?;
        Ok(Self(v))
    }
}

/// A SCIM answer: `application/scim+json`, with `ETag` and `Location` when given.
pub fn answer(status: StatusCode, body: Value, version: Option<i64>, location: Option<String>) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/scim+json"));
    if let Some(v) = version.and_then(|v| HeaderValue::from_str(&crate::services::scim::resource::etag(v)).ok()) {
        h.insert(header::ETAG, v);
    }
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, l);
    }
    res
}
