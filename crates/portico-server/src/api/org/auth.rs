//! `/api/auth/sign-in/password` and `/api/auth/sign-out`.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use portico_store::{audit, sessions};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use crate::api::Api;
use crate::auth::{Caller, Credential};
use crate::error::ApiError;
use crate::extract::{ClientInfo, ValidJson};
use crate::respond::Envelope;
use crate::services::{self, audit::event};
use crate::state::AppState;

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("authentication", false)
        .post("/api/auth/sign-in/password", "Sign in with email and password", sign_in)
        .body::<SignInBody>()
        .data_shape(200, crate::openapi::shapes::signed_in())
        .section("authentication", true)
        .post("/api/auth/sign-out", "End the current session", sign_out)
        .no_body()
        .data_shape(200, crate::openapi::shapes::signed_out())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SignInBody {
    email: String,
    #[schema(value_type = String)]
    password: SecretString,
    #[serde(default)]
    totp_code: Option<String>,
}

async fn sign_in(
    State(state): State<AppState>,
    ctx: ClientInfo,
    ValidJson(b): ValidJson<SignInBody>,
) -> Result<Response, ApiError> {
    if b.email.len() > 320 || !b.email.contains('@') {
        return Err(ApiError::field("email", "must be an email address"));
    }
    if b.password.expose_secret().is_empty() || b.password.expose_secret().len() > portico_core::password::MAX_LEN {
        return Err(ApiError::field("password", "must be 1-1024 bytes"));
    }
    state
        .limits
        .sign_in(&state.settings.rate_limit, ctx.ip.as_deref(), None)?;
    if b.totp_code.as_deref().is_some_and(|c| c.len() > 64) {
        return Err(ApiError::field("totpCode", "must be at most 64 characters"));
    }
    let (created, user_id) =
        services::password::sign_in(&state, &ctx, &b.email, &b.password, b.totp_code.as_deref()).await?;
    let cookie = crate::api::cookies::session_cookie(&state.settings, &created.token, created.session.expires_at);
    let body = Envelope::ok(json!({
        "userId": user_id,
        "session": { "id": created.session.id, "method": created.session.method, "mfa": created.session.mfa, "expiresAt": created.session.expires_at },
        "token": created.token.expose_secret(),
    }))
    .message("Signed in");
    Ok(([(SET_COOKIE, cookie)], body).into_response())
}

async fn sign_out(State(state): State<AppState>, ctx: ClientInfo, caller: Caller) -> Result<Response, ApiError> {
    let Credential::Session {
        session_id,
        organization_id,
        ..
    } = &caller.credential
    else {
        return Err(ApiError::field(
            "credential",
            "sign-out ends a session; revoke API keys with DELETE /api/user/tokens/{id}",
        ));
    };
    let mut tx = state.db.begin().await?;
    sessions::revoke(&mut *tx, session_id, None).await?;
    let mut e = event(&ctx, Some(&caller), organization_id.as_deref(), "sign_out");
    e.target_id = Some(session_id.clone());
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    let body = Envelope::ok(json!({ "signedOut": true })).message("Signed out");
    Ok((
        [(SET_COOKIE, crate::api::cookies::clear_session_cookie(&state.settings))],
        body,
    )
        .into_response())
}
