//! `GET /oauth2/authorize` and `GET /oauth2/authorize/resume`: validates the request (HTML page
//! until the client and its exact redirect URI are known, `error=` redirects after), routes it to
//! the organization's IdP through the ordinary browser login (same callback, same admission), and
//! once that sign-in has set its session, mints the code and redirects with `code`, `state`, `iss`.

use std::collections::HashMap;

use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{Duration, Utc};
use portico_core::token;
use portico_store::connections::{self, Connection};
use portico_store::oauth_clients::{self, Client};
use portico_store::oauth_grants::{self, Pending};
use portico_store::{orgs, sessions};

use super::page;
use crate::auth::{cookie, SESSION_COOKIE};
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::respond::redirect_with_cookies;
use crate::services::provider::grants::{self, SignedInSession};
use crate::services::provider::{AuthorizeRequest, SCOPES};
use crate::services::signin::{self, Kind, Mode};
use crate::state::AppState;

/// The resume step's path.
pub const RESUME_PATH: &str = "/oauth2/authorize/resume";

/// The redirect to the client with `params`, `state` and RFC 9207 `iss`.
pub fn to_client(state: &AppState, req: &AuthorizeRequest, params: &[(&str, &str)], cookies: &[String]) -> Response {
    let mut u = match url::Url::parse(&req.redirect_uri) {
        Ok(u) => u,
        Err(_) => {
            return page::error(
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                "The application's address is invalid.",
                "Contact the application's administrator.",
                None,
            )
        }
    };
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(s) = &req.state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", state.settings.public_base());
    }
    let mut res = redirect_with_cookies(u.as_str(), cookies);
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    res
}

fn oauth_error(state: &AppState, req: &AuthorizeRequest, error: &str, description: &str) -> Response {
    to_client(state, req, &[("error", error), ("error_description", description)], &[])
}

/// The params as pairs (first value of each name wins; a repeated parameter is refused).
fn pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if out.iter().any(|(x, _)| *x == k) {
            return Err(format!("parameter {k} is repeated"));
        }
        if k.len() > 64 || v.len() > 2048 {
            return Err(format!("parameter {k} is too long"));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

/// A live SSO session presented by the browser: (id, user id, auth time, organization, connection).
async fn browser_session(state: &AppState, headers: &HeaderMap) -> Result<Option<sessions::SessionView>, ApiError> {
    let Some(t) = cookie(headers, SESSION_COOKIE).filter(|t| t.len() <= 256) else {
        return Ok(None);
    };
    let s = sessions::live_by_digest(&state.db, &token::digest(&t)).await?;
    Ok(s.filter(|s| s.user_status == "active" && s.session.method != "password" && s.session.connection_id.is_some()))
}

enum Route {
    To(Box<Connection>),
    Unknown(String),
    None,
}

/// Routing, first that applies: `connection`, `organization`, `login_hint`/`domain_hint`.
async fn route(state: &AppState, q: &HashMap<&str, &str>) -> Result<Route, ApiError> {
    if let Some(id) = q.get("connection") {
        let c = match id.starts_with("sso_") && id.len() <= 40 {
            true => connections::by_id(&state.db, id, None).await?,
            false => None,
        };
        return Ok(c.filter(|c| c.status.is_active()).map_or_else(
            || Route::Unknown("That sign-in connection does not exist.".into()),
            |c| Route::To(Box::new(c)),
        ));
    }
    if let Some(o) = q.get("organization") {
        let org = match orgs::by_id(&state.db, o).await? {
            Some(org) => Some(org),
            None if portico_core::slug::is_valid(o) => orgs::by_slug(&state.db, o).await?,
            None => None,
        };
        let Some(org) = org else {
            return Ok(Route::Unknown("That organization does not exist.".into()));
        };
        return match signin::pick_connection(state, &org, None, true).await {
            Ok(c) => Ok(Route::To(Box::new(c))),
            Err(ApiError::NotFound(_)) => Ok(Route::Unknown("That organization has no single sign-on set up.".into())),
            Err(e) => Err(e),
        };
    }
    let domain = match (q.get("login_hint"), q.get("domain_hint")) {
        (Some(h), _) if h.contains('@') => portico_core::domain::of_email(h),
        (_, Some(d)) => portico_core::domain::normalize(d).ok(),
        _ => None,
    };
    let Some(domain) = domain else { return Ok(Route::None) };
    if let Some((_org, conn)) = crate::services::domains::sso_route(state, &domain).await? {
        return Ok(Route::To(Box::new(conn)));
    }
    // No organization verified the domain: a connection's own domain list routes it only when
    // exactly one organization claims it (verified domains stay authoritative at admission).
    let claiming = connections::active_claiming(&state.db, &domain).await?;
    let mut orgs_of = claiming.iter().map(|c| c.organization_id.as_str()).collect::<Vec<_>>();
    orgs_of.dedup();
    if orgs_of.len() == 1 {
        if let Some(c) = claiming.into_iter().next() {
            return Ok(Route::To(Box::new(c)));
        }
    }
    Ok(Route::Unknown(format!(
        "No organization signs in with {domain} addresses here. Check the address, or ask your administrator."
    )))
}

/// Validates everything after the redirect URI; Err is the error redirect.
fn validate(
    client: &Client,
    req: &mut AuthorizeRequest,
    q: &HashMap<&str, &str>,
) -> Result<(), (&'static str, String)> {
    if q.get("response_type") != Some(&"code") {
        return Err((
            "unsupported_response_type",
            "only response_type=code is supported".into(),
        ));
    }
    if q.contains_key("request") || q.contains_key("request_uri") {
        return Err(("request_not_supported", "request objects are not supported".into()));
    }
    let scopes = q.get("scope").copied().unwrap_or_default();
    if !scopes.split(' ').any(|s| s == "openid") {
        return Err(("invalid_scope", "scope must include openid".into()));
    }
    let mut granted: Vec<&str> = Vec::new();
    for s in scopes.split(' ').filter(|s| SCOPES.contains(s)) {
        if !granted.contains(&s) {
            granted.push(s);
        }
    }
    req.scope = granted.join(" ");
    match (q.get("code_challenge"), q.get("code_challenge_method")) {
        (Some(_), Some(m)) if *m != "S256" => {
            return Err((
                "invalid_request",
                "code_challenge_method must be S256 (plain is refused)".into(),
            ))
        }
        (Some(_), None) => {
            return Err((
                "invalid_request",
                "code_challenge_method=S256 is required (plain is refused)".into(),
            ))
        }
        (Some(c), Some(_)) => {
            if c.len() != 43 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(("invalid_request", "code_challenge must be a base64url SHA-256".into()));
            }
            req.code_challenge = Some((*c).to_owned());
        }
        (None, Some(_)) => return Err(("invalid_request", "code_challenge_method without code_challenge".into())),
        (None, None) if client.public => {
            return Err((
                "invalid_request",
                "PKCE (code_challenge with S256) is required for this client".into(),
            ))
        }
        (None, None) => {}
    }
    if q.get("max_age").is_some_and(|m| m.parse::<u32>().is_err()) {
        return Err((
            "invalid_request",
            "max_age must be a non-negative number of seconds".into(),
        ));
    }
    if let Some(p) = q.get("prompt") {
        let ps: Vec<&str> = p.split(' ').collect();
        if ps
            .iter()
            .any(|x| !matches!(*x, "none" | "login" | "consent" | "select_account"))
        {
            return Err(("invalid_request", "unsupported prompt value".into()));
        }
        if ps.contains(&"none") && ps.len() > 1 {
            return Err(("invalid_request", "prompt=none cannot be combined".into()));
        }
    }
    Ok(())
}

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
        // LDAP: the directory password step on Portico's page is not built yet.
        return Ok(page::error(
            StatusCode::CONFLICT,
            "Directory sign-in",
            "Your organization signs in with a directory password, which this page cannot take yet.",
            "Ask your administrator for another way to sign in.",
            rid,
        ));
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

fn resume_cookie_name(handle: &str) -> String {
    let d = token::digest(handle);
    format!("portico_authz_{:02x}{:02x}{:02x}{:02x}", d[0], d[1], d[2], d[3])
}

async fn code_for(
    state: &AppState,
    req: &AuthorizeRequest,
    s: &sessions::SessionView,
    cookies: &[String],
) -> Result<Response, ApiError> {
    let code = grants::mint_code(
        state,
        req,
        &SignedInSession {
            id: &s.session.id,
            user_id: &s.session.user_id,
            auth_time: s.session.created_at,
        },
    )
    .await?;
    Ok(to_client(state, req, &[("code", &code)], cookies))
}

fn internal_page(e: ApiError, rid: Option<&str>) -> Response {
    tracing::error!(error = %e, "authorize failed");
    page::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The sign-in service could not handle this request.",
        "Try again in a moment; if it keeps happening, give the request id below to your administrator.",
        rid,
    )
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
