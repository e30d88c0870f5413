//! Login transactions: server-side state between "start login" and the callback. Single use
//! (consumed by `DELETE … RETURNING`), 10-minute TTL, shared by every replica.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, Row};

use crate::connections::{self, Connection};
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

/// A consumed transaction's columns, aliased apart from the connection's in [`consume_with_connection`].
#[derive(sqlx::FromRow)]
struct ConsumedCols {
    lt_id: String,
    lt_binding_hash: Option<Vec<u8>>,
    lt_mode: String,
    lt_organization_id: String,
    lt_connection_id: String,
    lt_pending: serde_json::Value,
    lt_return_to: Option<String>,
    lt_expires_at: DateTime<Utc>,
}

impl From<ConsumedCols> for LoginTransaction {
    fn from(c: ConsumedCols) -> Self {
        Self {
            id: c.lt_id,
            binding_hash: c.lt_binding_hash,
            mode: c.lt_mode,
            organization_id: c.lt_organization_id,
            connection_id: c.lt_connection_id,
            pending: c.lt_pending,
            return_to: c.lt_return_to,
            expires_at: c.lt_expires_at,
        }
    }
}

/// Consumes the transaction for a state digest, and reads its connection (scoped to its
/// organization; None when it is gone) in the same statement. The transaction is deleted whether
/// or not it is still valid, so a state can never be used twice: the caller checks expiry, mode
/// and binding.
pub async fn consume_with_connection(
    db: impl PgExecutor<'_>,
    state_digest: &[u8],
) -> Result<Option<(LoginTransaction, Option<Connection>)>, StoreError> {
    let row = sqlx::query(&format!(
        "WITH tx AS (DELETE FROM login_transactions WHERE state_hash = $1
                     RETURNING id, binding_hash, mode, organization_id, connection_id, pending, return_to, expires_at)
         SELECT tx.id AS lt_id, tx.binding_hash AS lt_binding_hash, tx.mode AS lt_mode,
                tx.organization_id AS lt_organization_id, tx.connection_id AS lt_connection_id,
                tx.pending AS lt_pending, tx.return_to AS lt_return_to, tx.expires_at AS lt_expires_at, {}
         FROM tx LEFT JOIN sso_connections c ON c.id = tx.connection_id AND c.organization_id = tx.organization_id",
        connections::COLS_OF_C
    ))
    .bind(state_digest)
    .fetch_optional(db)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let tx = LoginTransaction::from(ConsumedCols::from_row(&row)?);
    let conn = match row.try_get::<Option<String>, _>("id")? {
        Some(_) => Some(Connection::from_row(&row)?),
        None => None,
    };
    Ok(Some((tx, conn)))
}

/// Deletes expired transactions; returns how many.
pub async fn purge(db: impl PgExecutor<'_>) -> Result<u64, StoreError> {
    let r = sqlx::query("DELETE FROM login_transactions WHERE expires_at < now()")
        .execute(db)
        .await?;
    Ok(r.rows_affected())
}
