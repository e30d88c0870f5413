//! `GET /oauth2/authorize/resume?h=…`: the end of the sign-in an authorization request started.
//! The pending request is taken once and must come back to the browser that started it (the
//! resume cookie); the IdP's refusal or the finished session then answers the client.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use portico_core::token;
use portico_store::oauth_grants;

use super::page;
use super::reply::{code_for, internal_page, to_client};
use super::routing::browser_session;
use crate::auth::cookie;
use crate::extract::ClientInfo;
use crate::services::provider::AuthorizeRequest;
use crate::state::AppState;

/// The resume step's path.
pub const RESUME_PATH: &str = "/oauth2/authorize/resume";

/// The name of the cookie that binds the pending request of `handle` to its browser.
pub(super) fn resume_cookie_name(handle: &str) -> String {
    let d = token::digest(handle);
    format!("portico_authz_{:02x}{:02x}{:02x}{:02x}", d[0], d[1], d[2], d[3])
}

/// `GET /oauth2/authorize/resume?h=…`: the end of the sign-in the authorize request started.
pub async fn resume(
    State(state): State<AppState>,
    ctx: ClientInfo,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let rid = ctx.request_id.as_deref();
    let handle = q.get("h").cloned().unwrap_or_default();
    let expired = || {
        page::error(
            StatusCode::BAD_REQUEST,
            "Sign-in link expired",
            "This sign-in was already completed or has expired.",
            "Go back to the application and sign in again.",
            rid,
        )
    };
    if handle.is_empty() || handle.len() > 64 {
        return expired();
    }
    let name = resume_cookie_name(&handle);
    let clear = format!("{name}=; Path=/oauth2/authorize/resume; HttpOnly; SameSite=Lax; Max-Age=0");
    let pending = match oauth_grants::take_pending(&state.db, &token::digest(&handle)).await {
        Ok(Some(p)) => p,
        Ok(None) => return expired(),
        Err(e) => return internal_page(e.into(), rid),
    };
    let bound = cookie(&headers, &name).is_some_and(|b| {
        use subtle::ConstantTimeEq;
        bool::from(token::digest(&b).ct_eq(&pending.binding_hash))
    });
    if !bound {
        return page::error(
            StatusCode::BAD_REQUEST,
            "Sign-in not finished",
            "This sign-in was started in another browser.",
            "Go back to the application and sign in again from this browser.",
            rid,
        );
    }
    let Ok(req) = serde_json::from_value::<AuthorizeRequest>(pending.request) else {
        return expired();
    };
    if let Some(error) = q.get("error") {
        // The sign-in at the organization's IdP was refused (already audited): the client learns
        // it on its redirect_uri. Only the RFC 6749 codes and a Portico code pass through.
        let error = match error.as_str() {
            "temporarily_unavailable" | "server_error" => error.as_str(),
            _ => "access_denied",
        };
        let code = q
            .get("error_code")
            .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
            .map_or("SSO_FAILED", String::as_str);
        let description = format!("the sign-in at the organization's identity provider failed ({code})");
        return to_client(
            &state,
            &req,
            &[("error", error), ("error_description", &description)],
            &[clear],
        );
    }
    if pending.expires_at <= Utc::now() {
        return to_client(
            &state,
            &req,
            &[
                ("error", "access_denied"),
                ("error_description", "the sign-in took too long"),
            ],
            &[clear],
        );
    }
    let session = match browser_session(&state, &headers).await {
        Ok(s) => s.filter(|s| s.session.connection_id == pending.connection_id),
        Err(e) => return internal_page(e, rid),
    };
    let Some(s) = session else {
        return to_client(
            &state,
            &req,
            &[
                ("error", "access_denied"),
                ("error_description", "the sign-in did not complete"),
            ],
            &[clear],
        );
    };
    match code_for(&state, &req, &s, &[clear]).await {
        Ok(r) => r,
        Err(e) => internal_page(e, rid),
    }
}
