//! Cross-site request forgery: a browser attaches the session cookie to requests other sites
//! make, so a write authenticated by that cookie must prove it came from an allowed page.
//! Two checks, both cheap and before any database work:
//! - `Content-Type: application/json` (415 otherwise): a cross-site form or a `text/plain` /
//!   `Blob` fetch cannot send it without a CORS preflight, which only allowed origins pass;
//! - an `Origin` header, when present, must be `server.public_url`, `app.url` or one of
//!   `server.cors_allowed_origins` (403 otherwise) — a sibling subdomain is same-site, so
//!   `SameSite=Lax` alone does not stop it. Without `Origin`, a `Sec-Fetch-Site: cross-site`
//!   header is refused the same way.
//!
//! Requests authenticated by `X-Api-Key` or `Authorization` are not subject: browsers never add
//! those by themselves.

use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};

use crate::config::Settings;
use crate::error::ApiError;

/// Refuses a cookie-authenticated write that a foreign page could have sent.
pub fn check_cookie_write(parts: &Parts, settings: &Settings) -> Result<(), ApiError> {
    if !matches!(
        parts.method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        return Ok(());
    }
    let headers = &parts.headers;
    match headers.get(header::ORIGIN).map(|v| v.to_str().unwrap_or("")) {
        Some(origin) if !settings.origin_allowed(origin) => {
            return Err(ApiError::Forbidden(
                "cross-origin request refused: this Origin may not make cookie-authenticated writes".into(),
            ));
        }
        None if headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site")) =>
        {
            return Err(ApiError::Forbidden(
                "cross-site request refused: cookie-authenticated writes must come from the application".into(),
            ));
        }
        _ => {}
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::Coded {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "UNSUPPORTED_MEDIA_TYPE",
            message: "cookie-authenticated writes must be sent as Content-Type: application/json".into(),
        });
    }
    Ok(())
}
