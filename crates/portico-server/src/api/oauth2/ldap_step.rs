//! The directory-password step of an authorization (SPEC §6): when routing lands on an LDAP
//! connection, `GET /oauth2/authorize` stores the pending request and answers with this form; the
//! person's `POST /oauth2/authorize/credentials` goes through the one sign-in path
//! (`signin::complete` with [`Callback::Ldap`]: the same throttle, the same single generic
//! refusal, the same admission as every LDAP login), then the ordinary code redirect with `iss`.
//!
//! The form is bound to its pending request twice: the hidden `h` field is the request's
//! handle (random, only ever in this page), and the browser must present the request's binding
//! cookie (HttpOnly, `SameSite=Lax`, its name derived from the handle). A POST without a handle,
//! with another request's handle, from another browser, for a request already taken, or for a
//! request that went to a connection of another protocol is refused before any directory
//! traffic. A wrong password (or an unknown user: one message for both) shows the form again;
//! the request is taken only by a completed sign-in or a final refusal.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::Utc;
use portico_core::connection::Protocol;
use portico_core::token;
use portico_store::connections::{self, Connection};
use portico_store::oauth_grants;
use secrecy::SecretString;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::page::{self, esc};
use super::reply::{internal_page, to_client};
use super::resume::resume_cookie_name;
use crate::api::cookies::session_cookie;
use crate::auth::cookie;
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::services::provider::grants::{self, SignedInSession};
use crate::services::provider::AuthorizeRequest;
use crate::services::signin::{self, Callback, Kind};
use crate::state::AppState;

/// The step's path (the form's `action`).
pub const PATH: &str = "/oauth2/authorize/credentials";
/// The binding cookie's path: this step and the resume step.
const COOKIE_PATH: &str = "/oauth2/authorize";
/// The one message for a wrong password and an unknown user (no user enumeration).
const WRONG: &str = "The username or password is incorrect.";

/// The form's fields.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = DirectoryCredentials)]
pub struct CredentialForm {
    /// The pending authorization's handle (the hidden field of the form).
    #[serde(default)]
    h: String,
    /// The directory username (or email, where the connection's search filter takes one).
    #[serde(default)]
    username: String,
    /// The directory password.
    #[schema(value_type = String)]
    #[serde(default = "empty_secret")]
    password: SecretString,
}

fn empty_secret() -> SecretString {
    SecretString::from(String::new())
}

/// The first answer to an authorization routed to the LDAP connection `conn`: the form, and the
/// cookie that binds the pending request `handle` to this browser (`binding`, for `ttl` s).
pub(super) fn first_form(
    state: &AppState,
    conn: &Connection,
    handle: &str,
    binding: &str,
    ttl: i64,
    rid: Option<&str>,
) -> Response {
    let secure = if state.settings.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let set = format!(
        "{}={binding}; Path={COOKIE_PATH}; HttpOnly; SameSite=Lax; Max-Age={ttl}{secure}",
        resume_cookie_name(handle)
    );
    let mut res = form(conn, handle, "", None, StatusCode::OK, rid);
    if let Ok(v) = HeaderValue::from_str(&set) {
        res.headers_mut().append(axum::http::header::SET_COOKIE, v);
    }
    res
}

/// The form: username and password, the handle hidden, `note` above it (an alert).
fn form(
    conn: &Connection,
    handle: &str,
    username: &str,
    note: Option<&str>,
    status: StatusCode,
    rid: Option<&str>,
) -> Response {
    let note = note
        .map(|n| format!("<p class=\"note\" role=\"alert\" id=\"note\">{}</p>", esc(n)))
        .unwrap_or_default();
    let described = if note.is_empty() {
        ""
    } else {
        " aria-describedby=\"note\""
    };
    let body = format!(
        "{note}<p>Your organization signs in with its directory ({name}): enter your directory username and password.</p>\
<form method=\"post\" action=\"{PATH}\"><input type=\"hidden\" name=\"h\" value=\"{h}\">\
<label for=\"username\">Username or email</label>\
<input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required maxlength=\"{max_user}\" value=\"{user}\"{described}>\
<label for=\"password\">Password</label>\
<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required maxlength=\"{max_pw}\">\
<button type=\"submit\">Sign in</button></form>",
        name = esc(&conn.name),
        h = esc(handle),
        user = esc(username),
        max_user = signin::ldap::MAX_USERNAME,
        max_pw = signin::ldap::MAX_PASSWORD,
    );
    page::render(status, "Sign in", &body, rid)
}

fn with_retry_after(mut res: Response, secs: u64) -> Response {
    res.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
    res
}

fn refused(status: StatusCode, title: &str, what: &str, rid: Option<&str>) -> Response {
    page::error(
        status,
        title,
        what,
        "Go back to the application and sign in again.",
        rid,
    )
}

/// `POST /oauth2/authorize/credentials`: checks the directory password of the pending request.
pub async fn submit(
    State(state): State<AppState>,
    ctx: ClientInfo,
    headers: HeaderMap,
    body: Result<Form<CredentialForm>, FormRejection>,
) -> Response {
    let rid = ctx.request_id.as_deref();
    let expired = || {
        refused(
            StatusCode::BAD_REQUEST,
            "Sign-in link expired",
            "This sign-in was already completed or has expired.",
            rid,
        )
    };
    let Ok(Form(f)) = body else {
        return refused(
            StatusCode::BAD_REQUEST,
            "Sign-in request not valid",
            "The sign-in form could not be read.",
            rid,
        );
    };
    if f.h.is_empty() || f.h.len() > 64 {
        return expired();
    }
    let pending = match oauth_grants::peek_pending(&state.db, &token::digest(&f.h)).await {
        Ok(Some(p)) => p,
        Ok(None) => return expired(),
        Err(e) => return internal_page(e.into(), rid),
    };
    let bound = cookie(&headers, &resume_cookie_name(&f.h))
        .is_some_and(|b| bool::from(token::digest(&b).ct_eq(&pending.binding_hash)));
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
    let clear = format!(
        "{}=; Path={COOKIE_PATH}; HttpOnly; SameSite=Lax; Max-Age=0",
        resume_cookie_name(&f.h)
    );
    let conn = match pending.connection_id.as_deref() {
        Some(id) => connections::by_id(&state.db, id, None).await,
        None => Ok(None),
    };
    let conn = match conn {
        Ok(Some(c)) if c.protocol == Protocol::Ldap => c,
        Ok(_) => {
            return refused(
                StatusCode::BAD_REQUEST,
                "Sign-in request not valid",
                "This sign-in does not take a directory password.",
                rid,
            )
        }
        Err(e) => return internal_page(e.into(), rid),
    };
    if pending.expires_at <= Utc::now() {
        return finish_refused(
            &state,
            &f.h,
            &req,
            "access_denied",
            "the sign-in took too long",
            &clear,
            rid,
        )
        .await;
    }
    if let Err(ApiError::RateLimited { retry_after }) = state.limits.sign_in(
        &state.settings.rate_limit,
        ctx.ip.as_deref(),
        Some((&conn.organization_id, &conn.id)),
    ) {
        let note = "Too many sign-in attempts. Wait a moment, then try again.";
        let res = form(&conn, &f.h, &f.username, Some(note), StatusCode::TOO_MANY_REQUESTS, rid);
        return with_retry_after(res, retry_after);
    }
    let callback = Callback::Ldap {
        connection: Box::new(conn.clone()),
        username: f.username.clone(),
        password: f.password,
    };
    let done = match signin::complete(&state, &ctx, callback).await {
        Ok(done) => done,
        Err(failure) => {
            return match failure.kind {
                Kind::Unauthenticated => form(&conn, &f.h, &f.username, Some(WRONG), StatusCode::UNAUTHORIZED, rid),
                Kind::Throttled { retry_after_secs } => {
                    let note = format!(
                        "Too many failed sign-ins for this account. Try again in {}.",
                        wait_text(retry_after_secs)
                    );
                    let res = form(
                        &conn,
                        &f.h,
                        &f.username,
                        Some(&note),
                        StatusCode::TOO_MANY_REQUESTS,
                        rid,
                    );
                    with_retry_after(res, retry_after_secs)
                }
                Kind::Upstream | Kind::Unavailable => {
                    let note = "Your organization's directory could not be reached. Try again in a moment.";
                    let res = form(
                        &conn,
                        &f.h,
                        &f.username,
                        Some(note),
                        StatusCode::SERVICE_UNAVAILABLE,
                        rid,
                    );
                    with_retry_after(res, crate::error::RETRY_AFTER_UNAVAILABLE_SECS)
                }
                Kind::Internal => {
                    finish_refused(
                        &state,
                        &f.h,
                        &req,
                        "server_error",
                        "the sign-in could not be completed",
                        &clear,
                        rid,
                    )
                    .await
                }
                _ => {
                    let description = format!("the organization's sign-in refused the request ({})", failure.code);
                    finish_refused(&state, &f.h, &req, "access_denied", &description, &clear, rid).await
                }
            };
        }
    };
    // Signed in: the request is taken now (once; a second POST finds nothing).
    match oauth_grants::take_pending(&state.db, &token::digest(&f.h)).await {
        Ok(Some(_)) => {}
        Ok(None) => return expired(),
        Err(e) => return internal_page(e.into(), rid),
    }
    let s = &done.completed.session;
    let code = grants::mint_code(
        &state,
        &req,
        &SignedInSession {
            id: &s.session.id,
            user_id: &s.session.user_id,
            auth_time: s.session.created_at,
        },
    )
    .await;
    match code {
        Ok(code) => {
            let cookies = [session_cookie(&state.settings, &s.token, s.session.expires_at), clear];
            to_client(&state, &req, &[("code", &code)], &cookies)
        }
        Err(e) => internal_page(e, rid),
    }
}

/// Takes the pending request and sends the refusal to the client's `redirect_uri`.
async fn finish_refused(
    state: &AppState,
    handle: &str,
    req: &AuthorizeRequest,
    error: &str,
    description: &str,
    clear: &str,
    rid: Option<&str>,
) -> Response {
    match oauth_grants::take_pending(&state.db, &token::digest(handle)).await {
        Ok(Some(_)) => to_client(
            state,
            req,
            &[("error", error), ("error_description", description)],
            &[clear.to_owned()],
        ),
        Ok(None) => refused(
            StatusCode::BAD_REQUEST,
            "Sign-in link expired",
            "This sign-in was already completed or has expired.",
            rid,
        ),
        Err(e) => internal_page(e.into(), rid),
    }
}

/// "N seconds" / "N minutes" for the throttle's wait.
fn wait_text(secs: u64) -> String {
    match secs {
        0..=1 => "a second".into(),
        2..=90 => format!("{secs} seconds"),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}
