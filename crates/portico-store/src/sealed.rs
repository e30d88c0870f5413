//! The registry of sealed columns, so `portico keys rotate` re-encrypts every stored secret.

use sqlx::PgExecutor;

use crate::StoreError;

/// Every `(table, column)` holding a secret-box envelope; rows are keyed by `id`.
pub const SEALED_COLUMNS: &[(&str, &str)] = &[
    ("sso_connections", "client_secret"),
    ("sso_connections", "ldap_bind_password"),
    ("sso_connections", "sp_private_key"),
    ("users", "totp_secret"),
    ("oauth_signing_keys", "private_key"),
];

/// `(id, sealed)` pairs of one registered column, locked for update.
pub async fn lock_all(db: impl PgExecutor<'_>, table: &str, column: &str) -> Result<Vec<(String, String)>, StoreError> {
    let (t, c) = registered(table, column)?;
    Ok(sqlx::query_as::<_, (String, String)>(&format!(
        "SELECT id, {c} FROM {t} WHERE {c} IS NOT NULL ORDER BY id FOR UPDATE"
    ))
    .fetch_all(db)
    .await?)
}

/// Replaces one sealed value.
pub async fn replace(
    db: impl PgExecutor<'_>,
    table: &str,
    column: &str,
    id: &str,
    sealed: &str,
) -> Result<(), StoreError> {
    let (t, c) = registered(table, column)?;
    sqlx::query(&format!("UPDATE {t} SET {c} = $2 WHERE id = $1"))
        .bind(id)
        .bind(sealed)
        .execute(db)
        .await?;
    Ok(())
}

fn registered(table: &str, column: &str) -> Result<(&'static str, &'static str), StoreError> {
    SEALED_COLUMNS
        .iter()
        .find(|(t, c)| *t == table && *c == column)
        .copied()
        .ok_or(StoreError::NotFound)
}
