//! Operator endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::{Api, Shape};
use crate::error::ApiError;
use crate::openapi::shapes;
use crate::respond::{Envelope, OrgResult};
use crate::state::AppState;

/// The OpenAPI document, built once at start-up.
#[derive(Clone)]
pub struct OpenApiDoc(pub Arc<serde_json::Value>);

/// Registers the operator routes.
pub fn routes(api: Api) -> Api {
    api.section("operations", false)
        .get("/healthz", "Liveness: the process is up", healthz)
        .data_shape(200, shapes::status())
        .get("/readyz", "Readiness: the database answers", readyz)
        .data_shape(200, shapes::status())
        .get("/metrics", "Prometheus metrics", metrics)
        .media(200, "text/plain")
        .get("/api/openapi.json", "This OpenAPI 3.1 document", openapi)
        .json_shape(
            200,
            "application/json",
            Shape::named(
                "OpenApiDocument",
                // Open: the document is OpenAPI's own format, which openapi-spec-validator checks.
                serde_json::json!({ "type": "object", "required": ["openapi", "paths"], "additionalProperties": true }),
            ),
        )
}

async fn healthz() -> OrgResult {
    Ok(Envelope::ok(serde_json::json!({ "status": "ok" })))
}

/// The readiness probe's own limit, so `/readyz` says "no" within a second however the database
/// fails (refusing, hanging, or a pool exhausted by stuck requests).
const READY_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(800);

/// While `serve` waits for the database, every route but the operator ones answers 503
/// `SERVICE_UNAVAILABLE` (with `Retry-After`): nothing half-started (no migrations yet) is reached.
pub async fn until_ready(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.ready.is_ready() || matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics") {
        return next.run(req).await;
    }
    ApiError::Unavailable(STARTING.into()).into_response()
}

const STARTING: &str = "starting: waiting for the database";

async fn readyz(State(state): State<AppState>) -> OrgResult {
    if !state.ready.is_ready() {
        return Err(ApiError::Unavailable(STARTING.into()));
    }
    if portico_store::ping(&state.db, READY_PROBE_TIMEOUT).await {
        Ok(Envelope::ok(serde_json::json!({ "status": "ready", "database": "ok" })))
    } else {
        Err(ApiError::Unavailable("database unreachable".into()))
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    metrics::gauge!("portico_db_pool_connections").set(f64::from(state.db.size()));
    metrics::gauge!("portico_db_pool_idle").set(state.db.num_idle() as f64);
    let body = state.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
        .into_response()
}

async fn openapi(Extension(doc): Extension<OpenApiDoc>) -> Json<serde_json::Value> {
    Json((*doc.0).clone())
}
