//! TOTP state on users (sealed secret, confirmation, last accepted time step) and hashed
//! single-use recovery codes. Every "use" is one conditional UPDATE, so concurrent sign-ins
//! cannot spend the same code twice.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::StoreError;

/// A user's TOTP state.
#[derive(Clone, sqlx::FromRow)]
pub struct TotpState {
    /// The sealed secret (pending or confirmed).
    pub totp_secret: Option<String>,
    /// When a first code confirmed it; None while pending or when off.
    pub totp_enabled_at: Option<DateTime<Utc>>,
    /// The last accepted time step.
    pub totp_last_step: Option<i64>,
}

impl std::fmt::Debug for TotpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpState")
            .field("has_secret", &self.totp_secret.is_some())
            .field("totp_enabled_at", &self.totp_enabled_at)
            .finish_non_exhaustive()
    }
}

impl TotpState {
    /// True once confirmed.
    pub fn enabled(&self) -> bool {
        self.totp_enabled_at.is_some()
    }
}

/// The TOTP state of `user_id` (None: no such user).
pub async fn state(db: impl PgExecutor<'_>, user_id: &str) -> Result<Option<TotpState>, StoreError> {
    Ok(
        sqlx::query_as::<_, TotpState>("SELECT totp_secret, totp_enabled_at, totp_last_step FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(db)
            .await?,
    )
}

/// Stores a new pending secret; false when TOTP is already confirmed.
pub async fn set_pending(db: impl PgExecutor<'_>, user_id: &str, sealed: &str) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE users SET totp_secret = $2, totp_last_step = NULL, updated_at = now() WHERE id = $1 AND totp_enabled_at IS NULL",
    )
    .bind(user_id)
    .bind(sealed)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Confirms the pending secret; false when there is none (or it is confirmed already).
pub async fn enable(db: impl PgExecutor<'_>, user_id: &str) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE users SET totp_enabled_at = now(), updated_at = now() WHERE id = $1 AND totp_enabled_at IS NULL AND totp_secret IS NOT NULL",
    )
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Turns TOTP off and deletes the recovery codes.
pub async fn disable(db: impl PgExecutor<'_>, user_id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL, updated_at = now() WHERE id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Accepts time step `step` for `user_id` only if it is later than every step accepted before
/// (RFC 6238 §5.2: a code is used at most once). False means a replay.
pub async fn claim_step(db: impl PgExecutor<'_>, user_id: &str, step: i64) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_secret IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < $2)",
    )
    .bind(user_id)
    .bind(step)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Replaces the user's recovery codes with `codes` (`(id, sha256)` pairs).
pub async fn replace_recovery_codes(
    conn: &mut sqlx::PgConnection,
    user_id: &str,
    codes: &[(String, Vec<u8>)],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for (id, hash) in codes {
        sqlx::query("INSERT INTO mfa_recovery_codes (id, user_id, code_hash) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(user_id)
            .bind(hash)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Deletes the user's recovery codes.
pub async fn delete_recovery_codes(db: impl PgExecutor<'_>, user_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Spends the unused recovery code with digest `hash`; false when there is none.
pub async fn use_recovery_code(db: impl PgExecutor<'_>, user_id: &str, hash: &[u8]) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE mfa_recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(hash)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// How many unused recovery codes the user has.
pub async fn recovery_codes_left(db: impl PgExecutor<'_>, user_id: &str) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .fetch_one(db)
            .await?,
    )
}

/// Failed second-factor attempts of `user_id` since `since` (from the audit log, so the count is
/// shared by every replica).
pub async fn recent_failures(db: impl PgExecutor<'_>, user_id: &str, since: DateTime<Utc>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM audit_events WHERE actor_user_id = $1 AND outcome = 'failure' AND reason IN ('mfa_invalid', 'mfa_replayed') AND created_at > $2",
    )
    .bind(user_id)
    .bind(since)
    .fetch_one(db)
    .await?)
}

/// Counts one second-factor attempt of `user_id` in one statement, before its code is compared
/// (so concurrent guesses are all counted), in fixed windows of `window_secs` from the first
/// attempt. Returns the attempts in the current window (this one included) and its start.
pub async fn count_attempt(
    db: impl PgExecutor<'_>,
    user_id: &str,
    window_secs: i64,
) -> Result<(i32, DateTime<Utc>), StoreError> {
    Ok(sqlx::query_as::<_, (i32, DateTime<Utc>)>(
        "INSERT INTO mfa_throttle AS t (user_id, attempts, window_start) VALUES ($1, 1, now())
         ON CONFLICT (user_id) DO UPDATE SET
           attempts = CASE WHEN t.window_start <= now() - make_interval(secs => $2) THEN 1 ELSE t.attempts + 1 END,
           window_start = CASE WHEN t.window_start <= now() - make_interval(secs => $2) THEN now() ELSE t.window_start END
         RETURNING attempts, window_start",
    )
    .bind(user_id)
    .bind(window_secs as f64)
    .fetch_one(db)
    .await?)
}

/// Gives back the attempt of a second factor that turned out right.
pub async fn release_attempt(db: impl PgExecutor<'_>, user_id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE mfa_throttle SET attempts = greatest(attempts - 1, 0) WHERE user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}
