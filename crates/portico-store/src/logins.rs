//! Login transactions: server-side state between "start login" and the callback. Single use
//! (consumed by `DELETE … RETURNING`), 10-minute TTL, shared by every replica.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::StoreError;

/// A login transaction.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LoginTransaction {
    /// `lgn_<ULID>`.
    pub id: String,
    /// SHA-256 of the browser-binding cookie (browser logins).
    pub binding_hash: Option<Vec<u8>>,
    /// `browser` or `sdk`.
    pub mode: String,
    /// Organization.
    pub organization_id: String,
    /// Connection.
    pub connection_id: String,
    /// Provider-specific pending data (nonce, PKCE verifier, request id, redirect URI).
    pub pending: serde_json::Value,
    /// Where to send the browser afterwards.
    pub return_to: Option<String>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// A new transaction.
#[derive(Debug)]
pub struct NewLogin<'a> {
    /// SHA-256 of the state.
    pub state_digest: &'a [u8],
    /// SHA-256 of the binding cookie.
    pub binding_digest: Option<&'a [u8]>,
    /// `browser` or `sdk`.
    pub mode: &'a str,
    /// Organization.
    pub organization_id: &'a str,
    /// Connection.
    pub connection_id: &'a str,
    /// Pending data.
    pub pending: serde_json::Value,
    /// Return target.
    pub return_to: Option<&'a str>,
    /// Expiry (at most 10 minutes ahead).
    pub expires_at: DateTime<Utc>,
}

/// Stores a transaction.
pub async fn insert(db: impl PgExecutor<'_>, n: NewLogin<'_>) -> Result<String, StoreError> {
    let id = portico_core::ids::prefixed(portico_core::ids::LOGIN);
    sqlx::query(
        "INSERT INTO login_transactions (id, state_hash, binding_hash, mode, organization_id, connection_id, pending, return_to, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(n.state_digest)
    .bind(n.binding_digest)
    .bind(n.mode)
    .bind(n.organization_id)
    .bind(n.connection_id)
    .bind(n.pending)
    .bind(n.return_to)
    .bind(n.expires_at)
    .execute(db)
    .await?;
    Ok(id)
}

/// Consumes the transaction for a state digest: it is deleted whether or not it is still
/// valid, so a state can never be used twice. The caller checks expiry, mode and binding.
pub async fn consume(db: impl PgExecutor<'_>, state_digest: &[u8]) -> Result<Option<LoginTransaction>, StoreError> {
    Ok(sqlx::query_as::<_, LoginTransaction>(
        "DELETE FROM login_transactions WHERE state_hash = $1
         RETURNING id, binding_hash, mode, organization_id, connection_id, pending, return_to, expires_at",
    )
    .bind(state_digest)
    .fetch_optional(db)
    .await?)
}

/// Deletes expired transactions; returns how many.
pub async fn purge(db: impl PgExecutor<'_>) -> Result<u64, StoreError> {
    let r = sqlx::query("DELETE FROM login_transactions WHERE expires_at < now()")
        .execute(db)
        .await?;
    Ok(r.rows_affected())
}
