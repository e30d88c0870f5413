//! Where sign-in meets HTTP: the status of each kind of refusal (one table), the browser's
//! redirects (`returnTo` on success, `app.url?error=CODE` on a refusal — a person never sees raw
//! JSON), with the session and browser-binding cookies of [`super::cookies`]. The
//! `services::signin` flow decides what happened; this module only says it in HTTP.

use axum::http::StatusCode;
use axum::response::Response;

use super::cookies::session_cookie;
use crate::config::Settings;
use crate::error::ApiError;
use crate::respond::redirect_with_cookies;
use crate::services::signin::{Failure, Kind, SignedIn};

/// The HTTP status of a kind of refusal. Deterministic refusals are never a status an SDK
/// retries (429/502/503/504 only for throttling and unreachable dependencies).
pub fn status(kind: Kind) -> StatusCode {
    match kind {
        Kind::Invalid => StatusCode::BAD_REQUEST,
        Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
        Kind::Refused => StatusCode::FORBIDDEN,
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::Unusable => StatusCode::CONFLICT,
        Kind::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        Kind::Upstream => StatusCode::BAD_GATEWAY,
        Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        match f.kind {
            Kind::Throttled { retry_after_secs } => ApiError::RateLimited {
                retry_after: retry_after_secs,
            },
            Kind::Internal => ApiError::Internal(f.reason),
            Kind::Unavailable => ApiError::Unavailable("the database is unavailable; retry shortly".into()),
            kind => ApiError::Coded {
                status: status(kind),
                code: f.code,
                message: f.message(),
            },
        }
    }
}

/// `app.url` with `?error=CODE`.
pub fn app_error_url(settings: &Settings, code: &str) -> String {
    match url::Url::parse(&settings.app.url) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair("error", code);
            u.to_string()
        }
        Err(_) => settings.app.url.clone(),
    }
}

/// The browser's answer to a completed login: a 302 to `target` (else `app.url`) with the
/// session cookie and `extra` cookies.
pub fn browser_signed_in(settings: &Settings, done: &SignedIn, target: Option<String>, extra: &[String]) -> Response {
    let target = target.unwrap_or_else(|| settings.app.url.clone());
    let s = &done.completed.session;
    let mut cookies = vec![session_cookie(settings, &s.token, s.session.expires_at)];
    cookies.extend_from_slice(extra);
    redirect_with_cookies(&target, &cookies)
}

/// The browser's answer to a refused login (already audited): a 302 to `app.url?error=CODE`,
/// or, for a login an OAuth client's authorize request started, back through its resume step,
/// which redirects to the client's `redirect_uri` with `error=` (RFC 6749 §4.1.2.1).
pub fn browser_refused(settings: &Settings, f: &Failure, cookies: &[String]) -> Response {
    let target = f
        .return_to
        .as_deref()
        .and_then(|r| crate::api::oauth2::resume_failure_url(settings, r, f.code, oauth_error(f.kind)))
        .unwrap_or_else(|| app_error_url(settings, f.code));
    redirect_with_cookies(&target, cookies)
}

/// The RFC 6749 §4.1.2.1 `error` for a kind of refusal.
fn oauth_error(kind: Kind) -> &'static str {
    match kind {
        Kind::Upstream | Kind::Unavailable | Kind::Throttled { .. } => "temporarily_unavailable",
        Kind::Internal => "server_error",
        _ => "access_denied",
    }
}
