//! TOTP multi-factor authentication for password accounts: the stored secrets, steps, attempts
//! and recovery codes around the algorithm of [`portico_core::totp`] (RFC 6238).
//!
//! - Enrolment stores a sealed pending secret and shows it once (base32 and an `otpauth://` URI);
//!   a first valid code confirms it and mints 10 single-use recovery codes, shown once and stored
//!   as SHA-256 digests (each carries 80 random bits).
//! - A code is accepted only for a time step later than the last accepted one, so a code cannot
//!   be replayed within its window (RFC 6238 §5.2); the step is claimed by one conditional UPDATE.
//! - Second-factor attempts are counted per user in PostgreSQL by one statement *before* the
//!   code is compared (a right code gives its attempt back), so concurrent guesses cannot all
//!   pass a "fewer than 10 failures" check: past [`MAX_FAILURES`] in a window of
//!   [`FAILURE_WINDOW_SECS`] the user's second factor answers 429.
//! - Managing TOTP needs a session (never an API key) and, to disable it, a current code.

use chrono::{Duration, Utc};
use portico_core::secretbox::Slot;
use portico_core::token;
use portico_core::totp::{self, current_step, match_code, new_recovery_codes, normalize_recovery_code, CodeMatch};
use portico_store::users::User;
use portico_store::{audit, mfa, users};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::{Caller, Credential};
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::services::audit::{event, failed};
use crate::state::AppState;

/// Failed second factors tolerated per window before 429.
pub const MAX_FAILURES: i64 = 10;
/// The failure-counting window, seconds.
pub const FAILURE_WINDOW_SECS: i64 = 300;
fn slot(user_id: &str) -> Slot<'_> {
    Slot {
        table: "users",
        row: user_id,
        column: "totp_secret",
    }
}

fn open_secret(state: &AppState, user_id: &str, sealed: &str) -> Result<Vec<u8>, ApiError> {
    let b32 = state.secrets.open(sealed, slot(user_id))?;
    totp::decode_secret(b32.expose_secret())
        .ok_or_else(|| ApiError::Internal("stored TOTP secret is not base32".into()))
}

/// A new enrolment (the secret is shown once).
pub struct Enrolment {
    /// Base32 secret.
    pub secret: SecretString,
    /// `otpauth://` URI.
    pub uri: String,
}

/// Whether the user has TOTP on, pending, and how many recovery codes are left.
pub async fn status(state: &AppState, user_id: &str) -> Result<serde_json::Value, ApiError> {
    let st = mfa::state(&state.db, user_id)
        .await?
        .ok_or(ApiError::Unauthorized("invalid credentials"))?;
    let left = if st.enabled() {
        mfa::recovery_codes_left(&state.db, user_id).await?
    } else {
        0
    };
    Ok(serde_json::json!({
        "enabled": st.enabled(),
        "pending": !st.enabled() && st.totp_secret.is_some(),
        "enabledAt": st.totp_enabled_at,
        "recoveryCodesLeft": left,
    }))
}

async fn session_user(state: &AppState, caller: &Caller) -> Result<User, ApiError> {
    if !matches!(caller.credential, Credential::Session { .. }) {
        return Err(ApiError::Forbidden(
            "multi-factor authentication is managed from a signed-in session, not with an API key".into(),
        ));
    }
    users::by_id(&state.db, &caller.user_id)
        .await?
        .ok_or(ApiError::Unauthorized("invalid credentials"))
}

/// Starts (or restarts) an enrolment: a new pending secret, not yet required at sign-in.
pub async fn enrol(state: &AppState, ctx: &ClientInfo, caller: &Caller) -> Result<Enrolment, ApiError> {
    let user = session_user(state, caller).await?;
    if user.password_hash.is_none() {
        return Err(ApiError::Conflict(
            "TOTP protects password sign-in, and this account has no password".into(),
        ));
    }
    let b32 = totp::new_secret();
    let sealed = state.secrets.seal(&b32, slot(&user.id))?;
    let mut tx = state.db.begin().await?;
    if !mfa::set_pending(&mut *tx, &user.id, &sealed).await? {
        return Err(ApiError::Conflict("TOTP is already enabled; disable it first".into()));
    }
    audit::record(&mut *tx, event(ctx, Some(caller), None, "mfa.totp.enrol")).await?;
    tx.commit().await?;
    let uri = totp::otpauth_uri(&user.email, &b32);
    Ok(Enrolment {
        secret: SecretString::from(b32),
        uri,
    })
}

/// Confirms the pending secret with a first code; returns the recovery codes (shown once).
pub async fn confirm(state: &AppState, ctx: &ClientInfo, caller: &Caller, code: &str) -> Result<Vec<String>, ApiError> {
    let user = session_user(state, caller).await?;
    let st = mfa::state(&state.db, &user.id)
        .await?
        .ok_or(ApiError::Unauthorized("invalid credentials"))?;
    let sealed = match (&st.totp_secret, st.enabled()) {
        (_, true) => return Err(ApiError::Conflict("TOTP is already enabled".into())),
        (None, false) => {
            return Err(ApiError::Conflict(
                "no TOTP enrolment is pending; POST /api/user/mfa/totp first".into(),
            ))
        }
        (Some(s), false) => s.clone(),
    };
    throttle(state, &user.id).await?;
    let secret = open_secret(state, &user.id, &sealed)?;
    let code = code.trim();
    let step = match totp::is_code(code).then(|| match_code(&secret, code, current_step(), st.totp_last_step)) {
        Some(CodeMatch::Fresh(step)) => step,
        other => {
            let reason = if other == Some(CodeMatch::Replayed) {
                "mfa_replayed"
            } else {
                "mfa_invalid"
            };
            audit::record(
                &state.db,
                failed(event(ctx, Some(caller), None, "mfa.totp.confirm"), reason),
            )
            .await?;
            return Err(ApiError::field("code", "is not a valid authenticator code"));
        }
    };
    release(state, &user.id).await?;
    let (shown, stored) = new_recovery_codes();
    let mut tx = state.db.begin().await?;
    if !mfa::claim_step(&mut *tx, &user.id, step).await? || !mfa::enable(&mut *tx, &user.id).await? {
        return Err(ApiError::Conflict("the enrolment changed meanwhile; try again".into()));
    }
    mfa::replace_recovery_codes(&mut tx, &user.id, &stored).await?;
    audit::record(&mut *tx, event(ctx, Some(caller), None, "mfa.totp.confirm")).await?;
    tx.commit().await?;
    Ok(shown)
}

/// Turns TOTP off; needs a current code or an unused recovery code.
pub async fn disable(state: &AppState, ctx: &ClientInfo, caller: &Caller, code: &str) -> Result<(), ApiError> {
    let user = session_user(state, caller).await?;
    require_enabled(state, &user.id).await?;
    if let Err(reason) = second_factor(state, &user.id, code).await? {
        audit::record(
            &state.db,
            failed(event(ctx, Some(caller), None, "mfa.totp.disable"), reason),
        )
        .await?;
        return Err(ApiError::field("code", "is not a valid authenticator or recovery code"));
    }
    let mut tx = state.db.begin().await?;
    mfa::disable(&mut *tx, &user.id).await?;
    mfa::delete_recovery_codes(&mut *tx, &user.id).await?;
    audit::record(&mut *tx, event(ctx, Some(caller), None, "mfa.totp.disable")).await?;
    tx.commit().await?;
    Ok(())
}

/// Replaces the recovery codes (needs a current code); returns the new ones (shown once).
pub async fn regenerate_recovery_codes(
    state: &AppState,
    ctx: &ClientInfo,
    caller: &Caller,
    code: &str,
) -> Result<Vec<String>, ApiError> {
    let user = session_user(state, caller).await?;
    require_enabled(state, &user.id).await?;
    if let Err(reason) = second_factor(state, &user.id, code).await? {
        audit::record(
            &state.db,
            failed(event(ctx, Some(caller), None, "mfa.recovery_codes.regenerate"), reason),
        )
        .await?;
        return Err(ApiError::field("code", "is not a valid authenticator or recovery code"));
    }
    let (shown, stored) = new_recovery_codes();
    let mut tx = state.db.begin().await?;
    mfa::replace_recovery_codes(&mut tx, &user.id, &stored).await?;
    audit::record(
        &mut *tx,
        event(ctx, Some(caller), None, "mfa.recovery_codes.regenerate"),
    )
    .await?;
    tx.commit().await?;
    Ok(shown)
}

async fn require_enabled(state: &AppState, user_id: &str) -> Result<(), ApiError> {
    match mfa::state(&state.db, user_id).await? {
        Some(st) if st.enabled() => Ok(()),
        _ => Err(ApiError::Conflict("TOTP is not enabled".into())),
    }
}

/// Counts one attempt before any comparison; refuses once the window holds more than
/// [`MAX_FAILURES`]. The caller gives the attempt back with [`release`] when the code was right.
async fn throttle(state: &AppState, user_id: &str) -> Result<(), ApiError> {
    let (attempts, start) = mfa::count_attempt(&state.db, user_id, FAILURE_WINDOW_SECS).await?;
    if i64::from(attempts) > MAX_FAILURES {
        let left = (start + Duration::seconds(FAILURE_WINDOW_SECS) - Utc::now()).num_seconds();
        return Err(ApiError::RateLimited {
            retry_after: left.clamp(1, FAILURE_WINDOW_SECS).unsigned_abs(),
        });
    }
    Ok(())
}

/// Gives back the attempt of a right code.
async fn release(state: &AppState, user_id: &str) -> Result<(), ApiError> {
    Ok(mfa::release_attempt(&state.db, user_id).await?)
}

/// Checks a second factor (TOTP code or recovery code) of a user with TOTP enabled and spends
/// it. `Ok(Err(reason))` is a refusal with its audit reason (`mfa_invalid`, `mfa_replayed`).
pub async fn second_factor(
    state: &AppState,
    user_id: &str,
    code: &str,
) -> Result<Result<&'static str, &'static str>, ApiError> {
    throttle(state, user_id).await?;
    let st = mfa::state(&state.db, user_id)
        .await?
        .ok_or(ApiError::Unauthorized("invalid credentials"))?;
    let Some(sealed) = st.totp_secret.as_deref().filter(|_| st.enabled()) else {
        return Ok(Err("mfa_invalid"));
    };
    let code = code.trim();
    let verdict = if totp::is_code(code) {
        let secret = open_secret(state, user_id, sealed)?;
        match match_code(&secret, code, current_step(), st.totp_last_step) {
            CodeMatch::Fresh(step) if mfa::claim_step(&state.db, user_id, step).await? => Ok("totp"),
            CodeMatch::Fresh(_) | CodeMatch::Replayed => Err("mfa_replayed"),
            CodeMatch::Invalid => Err("mfa_invalid"),
        }
    } else {
        match normalize_recovery_code(code) {
            Some(c) if mfa::use_recovery_code(&state.db, user_id, &token::digest(&c)).await? => Ok("recovery_code"),
            _ => Err("mfa_invalid"),
        }
    };
    if verdict.is_ok() {
        release(state, user_id).await?;
    }
    Ok(verdict)
}

/// The second factor of a password sign-in. Users without TOTP pass with `mfa: false` (an
/// organization that requires MFA then refuses the session on its routes until they enrol and
/// sign in with a code); users with TOTP need a valid, unused code or recovery code, else
/// `MFA_REQUIRED`. Failures are audited on `base`.
pub async fn password_second_factor(
    state: &AppState,
    user: &User,
    code: Option<&str>,
    base: &portico_store::audit::NewEvent,
) -> Result<Option<&'static str>, ApiError> {
    let enabled = mfa::state(&state.db, &user.id).await?.is_some_and(|s| s.enabled());
    if !enabled {
        return Ok(None);
    }
    let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
        audit::record(&state.db, failed(base.clone(), "mfa_required")).await?;
        return Err(mfa_required(
            "a second factor is required: send totpCode (an authenticator or recovery code)",
        ));
    };
    match second_factor(state, &user.id, code).await? {
        Ok(kind) => Ok(Some(kind)),
        Err(reason) => {
            audit::record(&state.db, failed(base.clone(), reason)).await?;
            Err(mfa_required(
                "the authenticator or recovery code is invalid or was already used",
            ))
        }
    }
}

fn mfa_required(message: &'static str) -> ApiError {
    ApiError::SecondFactorRequired(message)
}
