//! The SAML assertion-ID replay cache: unique (connection, assertion ID), kept until expiry.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::StoreError;

/// Records `assertion_id` for `connection_id` until `expires_at`. Returns false when it was
/// already recorded (a replay). A stale row of an expired assertion is replaced, so the purge
/// job is housekeeping, not a correctness requirement.
pub async fn record(
    db: impl PgExecutor<'_>,
    connection_id: &str,
    assertion_id: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "INSERT INTO saml_replay_cache (connection_id, assertion_id, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (connection_id, assertion_id) DO UPDATE SET expires_at = EXCLUDED.expires_at, created_at = now()
         WHERE saml_replay_cache.expires_at < now()",
    )
    .bind(connection_id)
    .bind(assertion_id)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Deletes expired entries; returns how many.
pub async fn purge(db: impl PgExecutor<'_>) -> Result<u64, StoreError> {
    let r = sqlx::query("DELETE FROM saml_replay_cache WHERE expires_at < now()")
        .execute(db)
        .await?;
    Ok(r.rows_affected())
}
