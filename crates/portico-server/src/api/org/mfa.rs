//! The caller's TOTP: `/api/user/mfa/totp` (status, enrol, disable), `/confirm`, and
//! `/api/user/mfa/recovery-codes` (regenerate). Secrets and recovery codes are shown once.

use axum::extract::State;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use crate::api::Api;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{ClientInfo, ValidJson};
use crate::openapi::shapes;
use crate::respond::{Envelope, OrgResult};
use crate::services::totp;
use crate::state::AppState;

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("mfa", true)
        .get(
            "/api/user/mfa/totp",
            "Whether TOTP is on, and recovery codes left",
            status,
        )
        .data_shape(200, shapes::totp_status())
        .post(
            "/api/user/mfa/totp",
            "Start TOTP enrolment: secret and otpauth:// URI (shown once)",
            enrol,
        )
        .no_body()
        .data_shape(201, shapes::totp_enrolment())
        .post(
            "/api/user/mfa/totp/confirm",
            "Confirm TOTP with a first code; returns recovery codes (shown once)",
            confirm,
        )
        .body::<CodeBody>()
        .data_shape(200, shapes::totp_change())
        .delete(
            "/api/user/mfa/totp",
            "Turn TOTP off (needs a current code or a recovery code)",
            disable,
        )
        .body::<CodeBody>()
        .data_shape(200, shapes::totp_change())
        .post(
            "/api/user/mfa/recovery-codes",
            "Replace the recovery codes (needs a current code)",
            regenerate,
        )
        .body::<CodeBody>()
        .data_shape(200, shapes::totp_change())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

fn code(b: &CodeBody) -> Result<&str, ApiError> {
    let c = b.code.trim();
    if c.is_empty() || c.len() > 64 {
        return Err(ApiError::field(
            "code",
            "must be an authenticator code or a recovery code",
        ));
    }
    Ok(c)
}

async fn status(State(state): State<AppState>, caller: Caller) -> OrgResult {
    Ok(Envelope::ok(totp::status(&state, &caller.user_id).await?))
}

async fn enrol(State(state): State<AppState>, ctx: ClientInfo, caller: Caller) -> OrgResult {
    let e = totp::enrol(&state, &ctx, &caller).await?;
    let data = json!({
        "secret": e.secret.expose_secret(),
        "otpauthUri": e.uri,
        "algorithm": "SHA1",
        "digits": portico_core::totp::DIGITS,
        "period": portico_core::totp::STEP_SECS,
    });
    Ok(Envelope::created(data).message("Scan the secret into an authenticator app, then confirm with a code"))
}

async fn confirm(
    State(state): State<AppState>,
    ctx: ClientInfo,
    caller: Caller,
    ValidJson(b): ValidJson<CodeBody>,
) -> OrgResult {
    let codes = totp::confirm(&state, &ctx, &caller, code(&b)?).await?;
    Ok(Envelope::ok(json!({ "enabled": true, "recoveryCodes": codes }))
        .message("TOTP enabled; store the recovery codes now, they are shown only once"))
}

async fn disable(
    State(state): State<AppState>,
    ctx: ClientInfo,
    caller: Caller,
    ValidJson(b): ValidJson<CodeBody>,
) -> OrgResult {
    totp::disable(&state, &ctx, &caller, code(&b)?).await?;
    Ok(Envelope::ok(json!({ "enabled": false })).message("TOTP disabled"))
}

async fn regenerate(
    State(state): State<AppState>,
    ctx: ClientInfo,
    caller: Caller,
    ValidJson(b): ValidJson<CodeBody>,
) -> OrgResult {
    let codes = totp::regenerate_recovery_codes(&state, &ctx, &caller, code(&b)?).await?;
    Ok(Envelope::ok(json!({ "recoveryCodes": codes })).message("Recovery codes replaced; they are shown only once"))
}
