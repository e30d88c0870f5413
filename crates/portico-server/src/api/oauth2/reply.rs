//! The provider's answers to the browser at the end of an authorization: the redirect to the
//! client (`code` or `error`, with `state` and RFC 9207 `iss`) and the page of a failure that has
//! no safe redirect (a database outage is a 503 "temporarily unavailable" page, never a 500).

use axum::http::StatusCode;
use axum::response::Response;
use portico_store::sessions;

use super::page;
use crate::error::ApiError;
use crate::respond::redirect_with_cookies;
use crate::services::provider::grants::{self, SignedInSession};
use crate::services::provider::AuthorizeRequest;
use crate::state::AppState;

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

/// An RFC 6749 §4.1.2.1 error on the client's redirect URI.
pub(super) fn oauth_error(state: &AppState, req: &AuthorizeRequest, error: &str, description: &str) -> Response {
    to_client(state, req, &[("error", error), ("error_description", description)], &[])
}

/// Mints the code of `req` from the live session `s` and redirects to the client with it.
pub(super) async fn code_for(
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

/// The page of a failure that has no safe redirect: 503 with `Retry-After` while the database is
/// unavailable (the person may simply retry), else 500.
pub(super) fn internal_page(e: ApiError, rid: Option<&str>) -> Response {
    if let ApiError::Unavailable(_) = e {
        tracing::warn!(error = %e, "provider browser route: database unavailable");
        let mut res = page::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in temporarily unavailable",
            "The sign-in service is temporarily unavailable.",
            "Try again in a few seconds.",
            rid,
        );
        res.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(crate::error::RETRY_AFTER_UNAVAILABLE_SECS),
        );
        return res;
    }
    tracing::error!(error = %e, "provider browser route failed");
    page::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The sign-in service could not handle this request.",
        "Try again in a moment; if it keeps happening, give the request id below to your administrator.",
        rid,
    )
}
