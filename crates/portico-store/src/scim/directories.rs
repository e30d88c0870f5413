//! SCIM directories: one per identity-provider push into an organization, reached by a bearer
//! token stored as a SHA-256 digest (rotation replaces the digest, so the old token dies at once).

use chrono::{DateTime, Utc};
use portico_core::org::DirectoryStatus;
use sqlx::PgExecutor;

use crate::{Page, Paged, StoreError};

/// A directory row (the token digest is never read back).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Directory {
    /// `dir_<ULID>`.
    pub id: String,
    /// The organization it provisions into.
    pub organization_id: String,
    /// Display name.
    pub name: String,
    /// `okta`, `entra`, `google`, `onelogin`, `jumpcloud` or `generic`.
    pub provider: String,
    /// Whether its token is accepted.
    #[sqlx(try_from = "String")]
    pub status: DirectoryStatus,
    /// `{"Group display name": "role"}`.
    pub group_role_mappings: serde_json::Value,
    /// When true, a person in none of the mapped groups is suspended (needs a mapping).
    pub require_mapped_group: bool,
    /// Non-secret display prefix of the current token.
    pub token_prefix: String,
    /// When the token was last issued.
    pub token_rotated_at: DateTime<Utc>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Directory {
    /// True unless disabled.
    pub fn is_active(&self) -> bool {
        self.status == DirectoryStatus::Active
    }
}

const COLS: &str =
    "id, organization_id, name, provider, status, group_role_mappings, require_mapped_group, token_prefix, token_rotated_at, created_at, updated_at";

/// A new directory.
#[derive(Debug)]
pub struct NewDirectory<'a> {
    /// `dir_<ULID>`.
    pub id: &'a str,
    /// Organization.
    pub organization_id: &'a str,
    /// Name.
    pub name: &'a str,
    /// Provider.
    pub provider: &'a str,
    /// Token display prefix.
    pub token_prefix: &'a str,
    /// SHA-256 of the token.
    pub token_digest: &'a [u8],
}

/// Inserts a directory.
pub async fn insert(db: impl PgExecutor<'_>, d: NewDirectory<'_>) -> Result<Directory, StoreError> {
    Ok(sqlx::query_as::<_, Directory>(&format!(
        "INSERT INTO scim_directories (id, organization_id, name, provider, token_prefix, token_hash)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLS}"
    ))
    .bind(d.id)
    .bind(d.organization_id)
    .bind(d.name)
    .bind(d.provider)
    .bind(d.token_prefix)
    .bind(d.token_digest)
    .fetch_one(db)
    .await?)
}

/// One directory of `org_id`.
pub async fn by_id(db: impl PgExecutor<'_>, org_id: &str, id: &str) -> Result<Option<Directory>, StoreError> {
    Ok(sqlx::query_as::<_, Directory>(&format!(
        "SELECT {COLS} FROM scim_directories WHERE organization_id = $1 AND id = $2"
    ))
    .bind(org_id)
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// The directory `id` whose current token has digest `digest` (both must match).
pub async fn by_token(db: impl PgExecutor<'_>, id: &str, digest: &[u8]) -> Result<Option<Directory>, StoreError> {
    Ok(sqlx::query_as::<_, Directory>(&format!(
        "SELECT {COLS} FROM scim_directories WHERE id = $1 AND token_hash = $2"
    ))
    .bind(id)
    .bind(digest)
    .fetch_optional(db)
    .await?)
}

/// The directories of `org_id`, by id.
pub async fn list(db: impl PgExecutor<'_>, org_id: &str, page: &Page) -> Result<Paged<Directory>, StoreError> {
    let rows = sqlx::query_as::<_, Directory>(&format!(
        "SELECT {COLS} FROM scim_directories WHERE organization_id = $1 AND ($2::text IS NULL OR id > $2)
         ORDER BY id LIMIT $3"
    ))
    .bind(org_id)
    .bind(page.cursor.as_deref())
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    Ok(Paged::from_overfetch(rows, page.limit, |d| d.id.clone()))
}

/// Every directory of `org_id` (for sign-in linking; an organization has a handful).
pub async fn all_of(db: impl PgExecutor<'_>, org_id: &str) -> Result<Vec<Directory>, StoreError> {
    Ok(sqlx::query_as::<_, Directory>(&format!(
        "SELECT {COLS} FROM scim_directories WHERE organization_id = $1 ORDER BY id LIMIT 100"
    ))
    .bind(org_id)
    .fetch_all(db)
    .await?)
}

/// Locks and returns a directory (`FOR UPDATE`), serialising changes of its settings.
pub async fn lock(db: impl PgExecutor<'_>, org_id: &str, id: &str) -> Result<Option<Directory>, StoreError> {
    Ok(sqlx::query_as::<_, Directory>(&format!(
        "SELECT {COLS} FROM scim_directories WHERE organization_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(org_id)
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// The settings PATCH may write.
#[derive(Debug)]
pub struct Settings<'a> {
    /// Display name.
    pub name: &'a str,
    /// `{"Group display name": "role"}`.
    pub mappings: &'a serde_json::Value,
    /// Whether its token is accepted.
    pub status: DirectoryStatus,
    /// Suspend people in no mapped group.
    pub require_mapped_group: bool,
}

/// Writes name, mappings, status and the mapped-group requirement.
pub async fn update(db: impl PgExecutor<'_>, id: &str, s: Settings<'_>) -> Result<Directory, StoreError> {
    Ok(sqlx::query_as::<_, Directory>(&format!(
        "UPDATE scim_directories SET name = $2, group_role_mappings = $3, status = $4, require_mapped_group = $5,
         updated_at = now() WHERE id = $1 RETURNING {COLS}"
    ))
    .bind(id)
    .bind(s.name)
    .bind(s.mappings)
    .bind(s.status.as_str())
    .bind(s.require_mapped_group)
    .fetch_one(db)
    .await?)
}

/// Replaces the token (the old one stops working with this statement's commit).
pub async fn set_token(
    db: impl PgExecutor<'_>,
    org_id: &str,
    id: &str,
    prefix: &str,
    digest: &[u8],
) -> Result<Directory, StoreError> {
    Ok(sqlx::query_as::<_, Directory>(&format!(
        "UPDATE scim_directories SET token_prefix = $3, token_hash = $4, token_rotated_at = now(), updated_at = now()
         WHERE organization_id = $1 AND id = $2 RETURNING {COLS}"
    ))
    .bind(org_id)
    .bind(id)
    .bind(prefix)
    .bind(digest)
    .fetch_one(db)
    .await?)
}

/// Deletes a directory (its users, groups and memberships cascade).
pub async fn delete(db: impl PgExecutor<'_>, org_id: &str, id: &str) -> Result<(), StoreError> {
    let r = sqlx::query("DELETE FROM scim_directories WHERE organization_id = $1 AND id = $2")
        .bind(org_id)
        .bind(id)
        .execute(db)
        .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
