//! API keys / personal access tokens: stored as SHA-256 digests, optionally pinned to one
//! organization, expiring, revocable.

use chrono::{DateTime, Utc};
use portico_core::account::{AuthMethod, UserStatus};
use sqlx::PgExecutor;

use crate::nullable::NullableText;
use crate::{Page, Paged, StoreError};

/// A token row (never the secret).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApiToken {
    /// `tok_<ULID>`.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// The organization it is pinned to, if any.
    pub organization_id: Option<String>,
    /// Label.
    pub name: String,
    /// Non-secret display prefix.
    pub prefix: String,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last use (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// How the minting session signed in (`None`: minted before this was recorded).
    #[sqlx(try_from = "NullableText")]
    pub auth_method: Option<AuthMethod>,
    /// The minting SSO session's organization.
    pub auth_org_id: Option<String>,
    /// Whether the minting session had MFA.
    pub auth_mfa: bool,
}

/// How the session that minted a token signed in (policy covers tokens with it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MintedBy {
    /// `None` for tokens older than the record.
    pub method: Option<AuthMethod>,
    /// The organization of the minting SSO session's connection.
    pub org_id: Option<String>,
    /// Whether the minting session had MFA.
    pub mfa: bool,
}

/// What authentication needs from a presented token.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TokenAuth {
    /// Token id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Pinned organization.
    pub organization_id: Option<String>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revocation.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Owner's status.
    #[sqlx(try_from = "String")]
    pub user_status: UserStatus,
    /// Owner's email.
    pub user_email: String,
    /// Owner's name.
    pub user_name: Option<String>,
    /// Owner's creation time.
    pub user_created_at: DateTime<Utc>,
    /// How the minting session signed in.
    #[sqlx(try_from = "NullableText")]
    pub auth_method: Option<AuthMethod>,
    /// The minting SSO session's organization.
    pub auth_org_id: Option<String>,
    /// Whether the minting session had MFA.
    pub auth_mfa: bool,
}

impl TokenAuth {
    /// The minting record.
    pub fn minted_by(&self) -> MintedBy {
        MintedBy {
            method: self.auth_method,
            org_id: self.auth_org_id.clone(),
            mfa: self.auth_mfa,
        }
    }
}

const COLS: &str = "id, user_id, organization_id, name, prefix, expires_at, last_used_at, revoked_at, created_at, \
                    auth_method, auth_org_id, auth_mfa";

/// A new token's fields.
pub struct NewToken<'a> {
    /// Row id.
    pub id: &'a str,
    /// Owner.
    pub user_id: &'a str,
    /// Pin.
    pub organization_id: Option<&'a str>,
    /// Label.
    pub name: &'a str,
    /// Display prefix.
    pub prefix: &'a str,
    /// SHA-256 of the token.
    pub digest: &'a [u8],
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// How the minting session signed in.
    pub minted_by: &'a MintedBy,
}

/// Inserts a token.
pub async fn insert(db: impl PgExecutor<'_>, t: NewToken<'_>) -> Result<ApiToken, StoreError> {
    Ok(sqlx::query_as::<_, ApiToken>(&format!(
        "INSERT INTO api_tokens (id, user_id, organization_id, name, prefix, token_hash, expires_at,
                                 auth_method, auth_org_id, auth_mfa)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLS}"
    ))
    .bind(t.id)
    .bind(t.user_id)
    .bind(t.organization_id)
    .bind(t.name)
    .bind(t.prefix)
    .bind(t.digest)
    .bind(t.expires_at)
    .bind(t.minted_by.method.map(AuthMethod::as_str))
    .bind(t.minted_by.org_id.as_deref())
    .bind(t.minted_by.mfa)
    .fetch_one(db)
    .await?)
}

/// Looks a presented token up by digest.
pub async fn by_digest(db: impl PgExecutor<'_>, digest: &[u8]) -> Result<Option<TokenAuth>, StoreError> {
    Ok(sqlx::query_as::<_, TokenAuth>(
        "SELECT t.id, t.user_id, t.organization_id, t.expires_at, t.revoked_at, t.last_used_at, u.status AS user_status,
                u.email AS user_email, u.name AS user_name, u.created_at AS user_created_at,
                t.auth_method, t.auth_org_id, t.auth_mfa
         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
    )
    .bind(digest)
    .fetch_optional(db)
    .await?)
}

/// Records a use.
pub async fn touch(db: impl PgExecutor<'_>, id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE api_tokens SET last_used_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// A user's tokens, newest last.
pub async fn for_user(db: impl PgExecutor<'_>, user_id: &str, page: &Page) -> Result<Paged<ApiToken>, StoreError> {
    let rows = sqlx::query_as::<_, ApiToken>(&format!(
        "SELECT {COLS} FROM api_tokens WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(user_id)
    .bind(page.after())
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    Ok(Paged::from_overfetch(rows, page.limit, |r| r.id.clone()))
}

/// One of a user's tokens; NotFound when it is not theirs.
pub async fn of_user(db: impl PgExecutor<'_>, user_id: &str, id: &str) -> Result<ApiToken, StoreError> {
    sqlx::query_as::<_, ApiToken>(&format!("SELECT {COLS} FROM api_tokens WHERE id = $1 AND user_id = $2"))
        .bind(id)
        .bind(user_id)
        .fetch_optional(db)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Revokes one of a user's tokens; NotFound when it is not theirs.
pub async fn revoke(db: impl PgExecutor<'_>, user_id: &str, id: &str) -> Result<ApiToken, StoreError> {
    Ok(sqlx::query_as::<_, ApiToken>(&format!(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND user_id = $2 RETURNING {COLS}"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_one(db)
    .await?)
}
