//! SCIM users of a directory: the resource as JSONB beside the columns filters and uniqueness
//! use (`userName` unique per directory case-insensitively, `externalId`, the primary email,
//! `active`), a version for ETags, and the Portico user it is linked to.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::SqlFilter;
use crate::{Page, Paged, StoreError};

/// The unique index on `(directory_id, lower(userName))`.
pub const USER_NAME_UNIQUE: &str = "scim_users_user_name";

/// A SCIM user row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ScimUser {
    /// `scu_<ULID>`.
    pub id: String,
    /// Directory.
    pub directory_id: String,
    /// `userName` as given.
    pub user_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// The address used for linking (primary, else first work, else `userName` if an email).
    pub primary_email: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `active`.
    pub active: bool,
    /// The stored resource (without `id`, `meta`, `groups`).
    pub resource: serde_json::Value,
    /// Incremented by every change.
    pub version: i64,
    /// The linked Portico user.
    pub user_id: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

const COLS: &str = "r.id, r.directory_id, r.user_name, r.external_id, r.primary_email, r.display_name, r.active, \
                    r.resource, r.version, r.user_id, r.created_at, r.updated_at";

/// The normalised fields of a user write.
#[derive(Debug)]
pub struct UserFields<'a> {
    /// `userName`.
    pub user_name: &'a str,
    /// `externalId`.
    pub external_id: Option<&'a str>,
    /// Linking address.
    pub primary_email: Option<&'a str>,
    /// `displayName`.
    pub display_name: Option<&'a str>,
    /// `active`.
    pub active: bool,
    /// The resource.
    pub resource: &'a serde_json::Value,
}

/// Inserts a user; a taken `userName` is `Conflict(USER_NAME_UNIQUE)`.
pub async fn insert(db: impl PgExecutor<'_>, id: &str, dir: &str, f: &UserFields<'_>) -> Result<ScimUser, StoreError> {
    Ok(sqlx::query_as::<_, ScimUser>(&format!(
        "INSERT INTO scim_users AS r (id, directory_id, user_name, external_id, primary_email, display_name, active, resource)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLS}"
    ))
    .bind(id)
    .bind(dir)
    .bind(f.user_name)
    .bind(f.external_id)
    .bind(f.primary_email)
    .bind(f.display_name)
    .bind(f.active)
    .bind(f.resource)
    .fetch_one(db)
    .await?)
}

/// One user; `lock` takes its row lock for the transaction.
pub async fn get(db: impl PgExecutor<'_>, dir: &str, id: &str, lock: bool) -> Result<Option<ScimUser>, StoreError> {
    let tail = if lock { " FOR NO KEY UPDATE" } else { "" };
    Ok(sqlx::query_as::<_, ScimUser>(&format!(
        "SELECT {COLS} FROM scim_users r WHERE r.directory_id = $1 AND r.id = $2{tail}"
    ))
    .bind(dir)
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// Replaces a user's fields and bumps its version.
pub async fn update(db: impl PgExecutor<'_>, dir: &str, id: &str, f: &UserFields<'_>) -> Result<ScimUser, StoreError> {
    Ok(sqlx::query_as::<_, ScimUser>(&format!(
        "UPDATE scim_users r SET user_name = $3, external_id = $4, primary_email = $5, display_name = $6, active = $7,
                resource = $8, version = version + 1, updated_at = now()
         WHERE r.directory_id = $1 AND r.id = $2 RETURNING {COLS}"
    ))
    .bind(dir)
    .bind(id)
    .bind(f.user_name)
    .bind(f.external_id)
    .bind(f.primary_email)
    .bind(f.display_name)
    .bind(f.active)
    .bind(f.resource)
    .fetch_one(db)
    .await?)
}

/// Deletes a user, returning it.
pub async fn delete(db: impl PgExecutor<'_>, dir: &str, id: &str) -> Result<Option<ScimUser>, StoreError> {
    Ok(sqlx::query_as::<_, ScimUser>(&format!(
        "DELETE FROM scim_users r WHERE r.directory_id = $1 AND r.id = $2 RETURNING {COLS}"
    ))
    .bind(dir)
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// The users matching `filter` (its placeholders start at `$4`), `offset`/`limit` by id, and
/// the total number of matches.
pub async fn search(
    db: &sqlx::PgPool,
    dir: &str,
    filter: Option<&SqlFilter>,
    offset: i64,
    limit: i64,
) -> Result<(i64, Vec<ScimUser>), StoreError> {
    super::search(db, "scim_users", COLS, dir, filter, offset, limit).await
}

/// A page of the directory's users for the Organization API.
pub async fn page(db: impl PgExecutor<'_>, dir: &str, page: &Page) -> Result<Paged<ScimUser>, StoreError> {
    super::page(db, "scim_users", COLS, dir, page, |u: &ScimUser| u.id.clone()).await
}

/// Every user of a directory (directory deletion deprovisions them).
pub async fn all_linked(db: impl PgExecutor<'_>, dir: &str) -> Result<Vec<ScimUser>, StoreError> {
    Ok(sqlx::query_as::<_, ScimUser>(&format!(
        "SELECT {COLS} FROM scim_users r WHERE r.directory_id = $1 AND r.user_id IS NOT NULL ORDER BY r.id"
    ))
    .bind(dir)
    .fetch_all(db)
    .await?)
}

/// Links (or unlinks) a SCIM user to a Portico user.
pub async fn set_link(db: impl PgExecutor<'_>, id: &str, user_id: Option<&str>) -> Result<(), StoreError> {
    sqlx::query("UPDATE scim_users SET user_id = $2 WHERE id = $1")
        .bind(id)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// True when another user of the directory (not `except`) has `email` as its linking address.
pub async fn email_claimed_by_other(
    db: impl PgExecutor<'_>,
    dir: &str,
    email: &str,
    except: &str,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM scim_users WHERE directory_id = $1 AND lower(primary_email) = lower($2) AND id <> $3)",
    )
    .bind(dir)
    .bind(email)
    .bind(except)
    .fetch_one(db)
    .await?)
}

/// True when another user of the directory (not `except`) is linked to Portico user `user_id`.
pub async fn user_linked_by_other(
    db: impl PgExecutor<'_>,
    dir: &str,
    user_id: &str,
    except: &str,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM scim_users WHERE directory_id = $1 AND user_id = $2 AND id <> $3)",
    )
    .bind(dir)
    .bind(user_id)
    .bind(except)
    .fetch_one(db)
    .await?)
}

/// Unlinked users of the active directories of `org_id` whose `externalId` is `external_id`.
pub async fn unlinked_by_external_id(
    db: impl PgExecutor<'_>,
    org_id: &str,
    external_id: &str,
) -> Result<Vec<ScimUser>, StoreError> {
    Ok(sqlx::query_as::<_, ScimUser>(&format!(
        "SELECT {COLS} FROM scim_users r JOIN scim_directories d ON d.id = r.directory_id
         WHERE d.organization_id = $1 AND d.status = 'active' AND r.external_id = $2 AND r.user_id IS NULL
         ORDER BY r.id LIMIT 10"
    ))
    .bind(org_id)
    .bind(external_id)
    .fetch_all(db)
    .await?)
}

/// The SCIM users of `org_id`'s directories linked to Portico user `user_id`.
pub async fn linked_in_org(db: impl PgExecutor<'_>, org_id: &str, user_id: &str) -> Result<Vec<ScimUser>, StoreError> {
    Ok(sqlx::query_as::<_, ScimUser>(&format!(
        "SELECT {COLS} FROM scim_users r JOIN scim_directories d ON d.id = r.directory_id
         WHERE d.organization_id = $1 AND r.user_id = $2 ORDER BY r.id LIMIT 100"
    ))
    .bind(org_id)
    .bind(user_id)
    .fetch_all(db)
    .await?)
}
