//! The operator's OAuth/OIDC clients (SPEC §6) and the ID-token signing keys.

use chrono::{DateTime, Utc};
use portico_core::provider::SigningKeyStatus;
use sqlx::PgExecutor;

use crate::StoreError;

/// A registered client (never its secret; only the digest is stored).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Client {
    /// `cli_<ULID>`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Public clients have no secret and must use PKCE.
    pub public: bool,
    /// SHA-256 of the secret (confidential clients).
    pub secret_hash: Option<Vec<u8>>,
    /// Registered redirect URIs (compared exactly).
    pub redirect_uris: Vec<String>,
    /// Registered post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// `ES256` or `RS256`.
    pub id_token_alg: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

const COLS: &str = "id, name, public, secret_hash, redirect_uris, post_logout_redirect_uris, id_token_alg, created_at";

/// Inserts a client.
pub async fn insert(db: impl PgExecutor<'_>, c: &Client) -> Result<Client, StoreError> {
    Ok(sqlx::query_as::<_, Client>(&format!(
        "INSERT INTO oauth_clients (id, name, public, secret_hash, redirect_uris, post_logout_redirect_uris, id_token_alg)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLS}"
    ))
    .bind(&c.id)
    .bind(&c.name)
    .bind(c.public)
    .bind(&c.secret_hash)
    .bind(&c.redirect_uris)
    .bind(&c.post_logout_redirect_uris)
    .bind(&c.id_token_alg)
    .fetch_one(db)
    .await?)
}

/// One client.
pub async fn by_id(db: impl PgExecutor<'_>, id: &str) -> Result<Option<Client>, StoreError> {
    Ok(
        sqlx::query_as::<_, Client>(&format!("SELECT {COLS} FROM oauth_clients WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// Every client, oldest first.
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<Client>, StoreError> {
    Ok(
        sqlx::query_as::<_, Client>(&format!("SELECT {COLS} FROM oauth_clients ORDER BY created_at, id"))
            .fetch_all(db)
            .await?,
    )
}

/// Removes a client (its grants, codes and tokens go with it); false when unknown.
pub async fn delete(db: impl PgExecutor<'_>, id: &str) -> Result<bool, StoreError> {
    let r = sqlx::query("DELETE FROM oauth_clients WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Replaces a confidential client's secret digest; false when unknown or public.
pub async fn set_secret(db: impl PgExecutor<'_>, id: &str, digest: &[u8]) -> Result<bool, StoreError> {
    let r = sqlx::query("UPDATE oauth_clients SET secret_hash = $2, updated_at = now() WHERE id = $1 AND NOT public")
        .bind(id)
        .bind(digest)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The origins (`scheme://host[:port]`) of every registered redirect URI, for CORS.
pub async fn redirect_uris(db: impl PgExecutor<'_>) -> Result<Vec<String>, StoreError> {
    Ok(
        sqlx::query_scalar::<_, String>("SELECT DISTINCT unnest(redirect_uris) FROM oauth_clients")
            .fetch_all(db)
            .await?,
    )
}

/// A signing key row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SigningKey {
    /// The `kid` (`sig_<ULID>`).
    pub id: String,
    /// `ES256` or `RS256`.
    pub alg: String,
    /// Where it stands in the roll.
    #[sqlx(try_from = "String")]
    pub status: SigningKeyStatus,
    /// Sealed PKCS#8 DER (base64).
    pub private_key: String,
    /// The public JWK.
    pub public_jwk: serde_json::Value,
}

/// Inserts a key.
pub async fn insert_key(db: impl PgExecutor<'_>, k: &SigningKey) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO oauth_signing_keys (id, alg, status, private_key, public_jwk, activated_at)
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $3 = 'active' THEN now() END)",
    )
    .bind(&k.id)
    .bind(&k.alg)
    .bind(k.status.as_str())
    .bind(&k.private_key)
    .bind(&k.public_jwk)
    .execute(db)
    .await?;
    Ok(())
}

/// The active signer of `alg`.
pub async fn active_key(db: impl PgExecutor<'_>, alg: &str) -> Result<Option<SigningKey>, StoreError> {
    Ok(sqlx::query_as::<_, SigningKey>(
        "SELECT id, alg, status, private_key, public_jwk FROM oauth_signing_keys WHERE alg = $1 AND status = 'active'",
    )
    .bind(alg)
    .fetch_optional(db)
    .await?)
}

/// Every key published in the JWKS: staged, active, and retired less than `overlap_secs` ago.
pub async fn published_keys(db: impl PgExecutor<'_>, overlap_secs: i64) -> Result<Vec<SigningKey>, StoreError> {
    Ok(sqlx::query_as::<_, SigningKey>(
        "SELECT id, alg, status, private_key, public_jwk FROM oauth_signing_keys
         WHERE status <> 'retired' OR retired_at > now() - make_interval(secs => $1)
         ORDER BY created_at DESC, id DESC",
    )
    .bind(overlap_secs as f64)
    .fetch_all(db)
    .await?)
}

/// Makes the newest staged key of `alg` the signer and retires the previous one; false when no
/// key is staged. Run inside a transaction.
pub async fn promote_staged(db: &mut sqlx::PgConnection, alg: &str) -> Result<Option<String>, StoreError> {
    let staged: Option<String> = sqlx::query_scalar(
        "SELECT id FROM oauth_signing_keys WHERE alg = $1 AND status = 'staged' ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE",
    )
    .bind(alg)
    .fetch_optional(&mut *db)
    .await?;
    let Some(id) = staged else { return Ok(None) };
    retire_active(&mut *db, alg).await?;
    sqlx::query("UPDATE oauth_signing_keys SET status = 'active', activated_at = now() WHERE id = $1")
        .bind(&id)
        .execute(&mut *db)
        .await?;
    Ok(Some(id))
}

/// Retires the active key of `alg` (it stays published for the overlap).
pub async fn retire_active(db: impl PgExecutor<'_>, alg: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE oauth_signing_keys SET status = 'retired', retired_at = now() WHERE alg = $1 AND status = 'active'",
    )
    .bind(alg)
    .execute(db)
    .await?;
    Ok(())
}
