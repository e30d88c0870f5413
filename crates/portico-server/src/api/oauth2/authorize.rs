//! `GET /oauth2/authorize`: validates the request (HTML page until the client and its exact
//! redirect URI are known, `error=` redirects after), answers from a live Portico session where it
//! may, or routes to the organization's IdP through the ordinary browser login (same callback, same
//! admission) with the resume step as its return target.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{Duration, Utc};
use portico_core::token;
use portico_store::oauth_clients;
use portico_store::oauth_grants::{self, Pending};

use super::page;
use super::reply::{code_for, internal_page, oauth_error};
use super::request::{pairs, validate};
use super::resume::{resume_cookie_name, RESUME_PATH};
use super::routing::{browser_session, route, Route};
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::respond::redirect_with_cookies;
use crate::services::provider::AuthorizeRequest;
use crate::services::signin::{self, Kind, Mode};
use crate::state::AppState;

/// `GET /oauth2/authorize`.
pub async fn authorize(
    State(state): State<AppState>,
    ctx: ClientInfo,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let rid = ctx.request_id.as_deref();
    let params = match pairs(raw.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            return page::error(
                StatusCode::BAD_REQUEST,
                "Sign-in request not valid",
                &e,
                "Go back to the application and try again.",
                rid,
            )
        }
    };
    let q: HashMap<&str, &str> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let client = match q.get("client_id") {
        Some(id) if id.starts_with("cli_") && id.len() <= 40 => oauth_clients::by_id(&state.db, id).await,
        _ => Ok(None),
    };
    let client = match client {
        Ok(Some(c)) => c,
        Ok(None) => {
            return page::error(
                StatusCode::BAD_REQUEST,
                "Unknown application",
                "The application that sent you here is not registered with this sign-in service.",
                "Contact the application's administrator.",
                rid,
            )
        }
        Err(e) => return internal_page(e.into(), rid),
    };
    let Some(redirect_uri) = q
        .get("redirect_uri")
        .filter(|r| client.redirect_uris.iter().any(|u| u == *r))
    else {
        return page::error(
            StatusCode::BAD_REQUEST,
            "Sign-in request not valid",
            "The application asked to return you to an address it has not registered, so you were not sent there.",
            "Contact the application's administrator.",
            rid,
        );
    };
    let mut req = AuthorizeRequest {
        client_id: client.id.clone(),
        redirect_uri: (*redirect_uri).to_owned(),
        scope: String::new(),
        state: q.get("state").map(|s| (*s).to_owned()),
        nonce: q.get("nonce").map(|s| (*s).to_owned()),
        code_challenge: None,
    };
    if let Err((error, description)) = validate(&client, &mut req, &q) {
        return oauth_error(&state, &req, error, &description);
    }
    let prompt = q.get("prompt").copied().unwrap_or_default();
    let max_age = q.get("max_age").and_then(|m| m.parse::<i64>().ok());
    let fresh = Freshness {
        skip_session: prompt.split(' ').any(|p| p == "login" || p == "select_account"),
        force_authn: prompt.split(' ').any(|p| p == "login") || max_age.is_some(),
        max_age,
    };
    match run(&state, &ctx, &headers, &req, &q, &params, prompt, fresh).await {
        Ok(res) => res,
        Err(e) => {
            tracing::warn!(error = %e, "authorization failed");
            let (error, description) = match e.code() {
                "INTERNAL_ERROR" => ("server_error", "the sign-in could not be started"),
                "SERVICE_UNAVAILABLE" => (
                    "temporarily_unavailable",
                    "the sign-in service is temporarily unavailable",
                ),
                "RATE_LIMITED" => ("temporarily_unavailable", "too many sign-in attempts; retry later"),
                _ => ("access_denied", "the organization's sign-in could not be started"),
            };
            oauth_error(&state, &req, error, description)
        }
    }
}

/// What the request says of how recent the person's authentication must be.
#[derive(Clone, Copy)]
struct Freshness {
    /// Never reuse a live Portico session (`prompt=login`, `prompt=select_account`).
    skip_session: bool,
    /// The IdP must authenticate afresh (`prompt=login`, or `max_age` once no live session is
    /// recent enough: the IdP's own session may be older).
    force_authn: bool,
    /// `max_age`: a live session older than this many seconds is not reused.
    max_age: Option<i64>,
}

#[allow(clippy::too_many_arguments)]
async fn run(
    state: &AppState,
    ctx: &ClientInfo,
    headers: &HeaderMap,
    req: &AuthorizeRequest,
    q: &HashMap<&str, &str>,
    params: &[(String, String)],
    prompt: &str,
    fresh: Freshness,
) -> Result<Response, ApiError> {
    let rid = ctx.request_id.as_deref();
    let live = if fresh.skip_session {
        None
    } else {
        browser_session(state, headers).await?
    };
    // The fresh local check: a live session authenticated within max_age may answer.
    let live = live.filter(|s| {
        fresh
            .max_age
            .is_none_or(|m| (Utc::now() - s.session.created_at).num_seconds() <= m)
    });
    if prompt == "none" {
        let Some(s) = live else {
            return Ok(oauth_error(state, req, "login_required", "no live sign-in"));
        };
        return code_for(state, req, &s, &[]).await;
    }
    let routed = if prompt.split(' ').any(|p| p == "select_account") && !q.contains_key("login_hint") {
        Route::None
    } else {
        route(state, q).await?
    };
    let conn = match routed {
        Route::To(c) => *c,
        Route::None => {
            if let Some(s) = live {
                return code_for(state, req, &s, &[]).await;
            }
            return Ok(page::sign_in(params, None, None, rid));
        }
        Route::Unknown(note) => return Ok(page::sign_in(params, q.get("login_hint").copied(), Some(&note), rid)),
    };
    if let Some(s) = live.filter(|s| s.session.organization_id.as_deref() == Some(conn.organization_id.as_str())) {
        return code_for(state, req, &s, &[]).await;
    }
    state.limits.sign_in(
        &state.settings.rate_limit,
        ctx.ip.as_deref(),
        Some((&conn.organization_id, &conn.id)),
    )?;
    let handle = token::random_urlsafe(32);
    let binding = token::random_urlsafe(32);
    let ttl = state.settings.security.login_ttl_secs.min(600);
    oauth_grants::insert_pending(
        &state.db,
        &token::digest(&handle),
        &Pending {
            binding_hash: token::digest(&binding),
            client_id: req.client_id.clone(),
            connection_id: Some(conn.id.clone()),
            request: serde_json::to_value(req).map_err(|e| ApiError::Internal(e.to_string()))?,
            expires_at: Utc::now() + Duration::seconds(ttl),
        },
    )
    .await?;
    let resume = format!("{}{RESUME_PATH}?h={handle}", state.settings.public_base());
    let hint = q.get("login_hint").map(|h| (*h).to_owned());
    let started = match signin::start(
        state,
        &conn,
        Mode::Browser,
        state.settings.callback_url(),
        Some(resume),
        hint,
        fresh.force_authn,
    )
    .await
    {
        Ok(s) => s,
        Err(f) => {
            signin::failure::record(state, ctx, &f).await;
            let (error, description) = match f.kind {
                Kind::Upstream | Kind::Unavailable => (
                    "temporarily_unavailable",
                    "the organization's identity provider could not be reached",
                ),
                Kind::Internal => ("server_error", "the sign-in could not be started"),
                _ => ("access_denied", "the organization's sign-in could not be started"),
            };
            return Ok(oauth_error(state, req, error, description));
        }
    };
    let Some(url) = started.url else {
        // LDAP: the person types the directory password into Portico's own form.
        return Ok(super::ldap_step::first_form(state, &conn, &handle, &binding, ttl, rid));
    };
    let secure = if state.settings.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let mut cookies: Vec<String> = started
        .binding
        .iter()
        .map(crate::api::cookies::binding_set_cookie)
        .collect();
    cookies.push(format!(
        "{}={binding}; Path=/oauth2/authorize/resume; HttpOnly; SameSite=Lax; Max-Age={ttl}{secure}",
        resume_cookie_name(&handle)
    ));
    Ok(redirect_with_cookies(&url, &cookies))
}
