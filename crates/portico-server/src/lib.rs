//! The Portico server: the axum application ([`router`]), its start-up ([`run`]) and the
//! `portico` command line ([`cli`]).
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod cli;
pub mod client_addr;
pub mod config;
pub mod devmode;
pub mod error;
pub mod extract;
pub mod idp;
pub mod jobs;
pub mod openapi;
pub mod patch;
pub mod ratelimit;
pub mod respond;
pub mod server;
pub mod services;
pub mod startup;
pub mod state;
pub mod telemetry;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::{Extension, Router};
use tower_http::catch_panic::CatchPanicLayer;

pub use config::Settings;
pub use state::AppState;

use crate::error::ApiError;

/// The whole application for `state`.
pub fn router(state: AppState) -> Router {
    let (routes, ops) = api::all();
    let doc = api::ops::OpenApiDoc(Arc::new(openapi::document(&ops)));
    let max_body = state.settings.server.max_body_bytes;
    let body_limit = std::time::Duration::from_secs(state.settings.server.body_read_timeout_secs.max(1));
    let cors = Arc::new(api::cors::Policies::new(&state.settings, state.db.clone()));
    routes
        .fallback(|| async { ApiError::NotFound("route") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::ops::until_ready,
        ))
        .layer(axum::middleware::from_fn(extract::uri_hygiene))
        .layer(Extension(doc))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(move |req, next| {
            server::body_deadline(body_limit, max_body, req, next)
        }))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("handler panicked".into()).into_response()
        }))
        .layer(axum::middleware::from_fn_with_state(cors, api::cors::apply))
        .layer(axum::middleware::from_fn(respond::finalize))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let jobs = jobs::spawn(
        state.db.clone(),
        state.ready.clone(),
        state.settings.audit.retention_days,
    );
    let limits = server::ConnLimits::from(&state.settings.server);
    let r = server::serve(listener, router(state), limits, shutdown).await;
    jobs.abort();
    r
}
