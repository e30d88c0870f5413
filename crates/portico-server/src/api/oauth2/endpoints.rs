//! The back-channel endpoints (token, userinfo, revoke: RFC 6749 §5.2 JSON errors) and
//! RP-initiated logout (a browser route: redirect or page).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use portico_store::oauth_clients::{self, Client};
use portico_store::oauth_grants;
use serde_json::{json, Value};

use super::page;
use crate::extract::ClientInfo;
use crate::respond::redirect_with_cookies;
use crate::services::provider::clients::secret_matches;
use crate::services::provider::grants::{self, OAuthError};
use crate::state::AppState;

fn json_no_store(status: StatusCode, body: Value) -> Response {
    (status, [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")], Json(body)).into_response()
}

/// The RFC 6749 §5.2 answer of `e`; `temporarily_unavailable` is a 503 with `Retry-After`.
pub(super) fn error_response(e: &OAuthError, basic: bool) -> Response {
    let status = match e.error {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut res = json_no_store(status, json!({ "error": e.error, "error_description": e.description }));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(crate::error::RETRY_AFTER_UNAVAILABLE_SECS),
        );
    }
    if status == StatusCode::UNAUTHORIZED && basic {
        res.headers_mut().insert(
            WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Basic realm=\"portico\""),
        );
    }
    res
}

/// A form body as a map; a repeated parameter is refused (RFC 6749 §3.2).
fn form(headers: &HeaderMap, body: &Bytes) -> Result<HashMap<String, String>, OAuthError> {
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthError::new(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(OAuthError::new("invalid_request", format!("parameter {k} is repeated")));
        }
    }
    Ok(out)
}

fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), OAuthError>> {
    let v = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bad = || OAuthError::new("invalid_client", "malformed Basic credentials");
    let decoded = STANDARD
        .decode(rest.trim())
        .map_err(|_| bad())
        .and_then(|b| String::from_utf8(b).map_err(|_| bad()));
    Some(decoded.and_then(|s| {
        let (id, secret) = s.split_once(':').ok_or_else(bad)?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded.
        let dec = |x: &str| {
            url::form_urlencoded::parse(format!("x={x}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        Ok((dec(id).ok_or_else(bad)?, dec(secret).ok_or_else(bad)?))
    }))
}

/// Client authentication: `client_secret_basic`, `client_secret_post`, or `none` (public clients).
async fn client_of(
    state: &AppState,
    headers: &HeaderMap,
    f: &HashMap<String, String>,
) -> Result<(Client, bool), OAuthError> {
    let invalid = || OAuthError::new("invalid_client", "client authentication failed");
    let (id, secret, basic) = match basic_credentials(headers) {
        Some(r) => {
            let (id, secret) = r?;
            if f.contains_key("client_secret") || f.get("client_id").is_some_and(|c| *c != id) {
                return Err(OAuthError::new(
                    "invalid_request",
                    "use one client authentication method",
                ));
            }
            (id, Some(secret), true)
        }
        None => (
            f.get("client_id").cloned().ok_or_else(invalid)?,
            f.get("client_secret").cloned(),
            false,
        ),
    };
    if !id.starts_with("cli_") || id.len() > 40 {
        return Err(invalid());
    }
    let client = oauth_clients::by_id(&state.db, &id).await?.ok_or_else(invalid)?;
    let ok = match (&secret, client.public) {
        (None, true) => true,
        (Some(s), false) => secret_matches(&client, s),
        _ => false,
    };
    if !ok {
        return Err(invalid());
    }
    Ok((client, basic))
}

/// `POST /oauth2/token`.
pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let basic = headers.contains_key(AUTHORIZATION);
    let result = async {
        let f = form(&headers, &body)?;
        let (client, _) = client_of(&state, &headers, &f).await?;
        match f.get("grant_type").map(String::as_str) {
            Some("authorization_code") => {
                let code = f.get("code").map(String::as_str).unwrap_or_default();
                grants::exchange_code(
                    &state,
                    &client,
                    code,
                    f.get("redirect_uri").map(String::as_str),
                    f.get("code_verifier").map(String::as_str),
                )
                .await
            }
            Some("refresh_token") => {
                let rt = f.get("refresh_token").map(String::as_str).unwrap_or_default();
                grants::refresh(&state, &client, rt).await
            }
            Some(_) => Err(OAuthError::new(
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            )),
            None => Err(OAuthError::new("invalid_request", "grant_type is required")),
        }
    }
    .await;
    match result {
        Ok(set) => json_no_store(StatusCode::OK, set.body),
        Err(e) => error_response(&e, basic),
    }
}

/// `GET|POST /oauth2/userinfo`.
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    let claims = match bearer {
        Some(t) => grants::userinfo(&state, &t).await,
        None => Ok(None),
    };
    match claims {
        Ok(Some(c)) => json_no_store(StatusCode::OK, Value::Object(c)),
        Ok(None) => {
            let mut res = json_no_store(
                StatusCode::UNAUTHORIZED,
                json!({ "error": "invalid_token", "error_description": "the access token is missing, expired or revoked" }),
            );
            res.headers_mut().insert(
                WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            res
        }
        Err(e) => error_response(&OAuthError::from(e), false),
    }
}

/// `POST /oauth2/revoke` (RFC 7009: 200 whether or not the token was known).
pub async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let basic = headers.contains_key(AUTHORIZATION);
    let result = async {
        let f = form(&headers, &body)?;
        let (client, _) = client_of(&state, &headers, &f).await?;
        let t = f
            .get("token")
            .ok_or_else(|| OAuthError::new("invalid_request", "token is required"))?;
        grants::revoke(&state, &client, t).await?;
        Ok::<_, OAuthError>(())
    }
    .await;
    match result {
        Ok(()) => json_no_store(StatusCode::OK, json!({})),
        Err(e) => error_response(&e, basic),
    }
}

/// `GET /oauth2/logout?id_token_hint=…&post_logout_redirect_uri=…&state=…`.
pub async fn logout(
    State(state): State<AppState>,
    ctx: ClientInfo,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let rid = ctx.request_id.as_deref();
    let refused = |what: &str| {
        page::error(
            StatusCode::BAD_REQUEST,
            "Sign-out not completed",
            what,
            "Close this window, or go back to the application.",
            rid,
        )
    };
    let Some(hint) = q.get("id_token_hint") else {
        return refused("The application did not say which sign-in to end.");
    };
    let claims = match crate::services::provider::logout::verify_hint(&state, hint).await {
        Ok(Some(c)) => c,
        Ok(None) => return refused("The application's sign-out request was not valid."),
        Err(e) => return super::reply::internal_page(e, rid),
    };
    let client = match oauth_clients::by_id(&state.db, &claims.aud).await {
        Ok(Some(c)) => c,
        Ok(None) => return refused("The application that sent you here is not registered."),
        Err(e) => return super::reply::internal_page(e.into(), rid),
    };
    let target = match q.get("post_logout_redirect_uri") {
        Some(u) if client.post_logout_redirect_uris.iter().any(|r| r == u) => Some(u.clone()),
        Some(_) => return refused("The application asked to send you to an address it has not registered."),
        None => None,
    };
    if let Err(e) = oauth_grants::revoke_grants_of_session(&state.db, &claims.sid).await {
        return super::reply::internal_page(e.into(), rid);
    }
    let clear = crate::api::cookies::clear_session_cookie(&state.settings);
    match target.and_then(|t| url::Url::parse(&t).ok()) {
        Some(mut u) => {
            if let Some(s) = q.get("state") {
                u.query_pairs_mut().append_pair("state", s);
            }
            redirect_with_cookies(u.as_str(), &[clear])
        }
        None => {
            let mut res = page::render(StatusCode::OK, "Signed out", "<p>You are signed out.</p>", rid);
            if let Ok(v) = axum::http::HeaderValue::from_str(&clear) {
                res.headers_mut().append(axum::http::header::SET_COOKIE, v);
            }
            res
        }
    }
}
