//! SCIM groups of a directory and their members (users of the same directory). Membership
//! changes run under the group's row lock (`get(.., lock: true)`), so concurrent PATCHes of one
//! group serialise and none loses another's members.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::SqlFilter;
use crate::{Page, Paged, StoreError};

/// A SCIM group row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ScimGroup {
    /// `scg_<ULID>`.
    pub id: String,
    /// Directory.
    pub directory_id: String,
    /// `displayName`.
    pub display_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// The stored resource (without `id`, `meta`, `members`).
    pub resource: serde_json::Value,
    /// Incremented by every change, membership included.
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One membership with the member's display fields.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Member {
    /// Group.
    pub group_id: String,
    /// SCIM user.
    pub user_id: String,
    /// The user's `displayName`, else `userName`.
    pub display: String,
    /// The group's `displayName`.
    pub group_display: String,
}

const COLS: &str =
    "r.id, r.directory_id, r.display_name, r.external_id, r.resource, r.version, r.created_at, r.updated_at";

/// Inserts a group.
pub async fn insert(
    db: impl PgExecutor<'_>,
    id: &str,
    dir: &str,
    display_name: &str,
    external_id: Option<&str>,
    resource: &serde_json::Value,
) -> Result<ScimGroup, StoreError> {
    Ok(sqlx::query_as::<_, ScimGroup>(&format!(
        "INSERT INTO scim_groups AS r (id, directory_id, display_name, external_id, resource) VALUES ($1, $2, $3, $4, $5)
         RETURNING {COLS}"
    ))
    .bind(id)
    .bind(dir)
    .bind(display_name)
    .bind(external_id)
    .bind(resource)
    .fetch_one(db)
    .await?)
}

/// One group; `lock` takes its row lock for the transaction.
pub async fn get(db: impl PgExecutor<'_>, dir: &str, id: &str, lock: bool) -> Result<Option<ScimGroup>, StoreError> {
    let tail = if lock { " FOR NO KEY UPDATE" } else { "" };
    Ok(sqlx::query_as::<_, ScimGroup>(&format!(
        "SELECT {COLS} FROM scim_groups r WHERE r.directory_id = $1 AND r.id = $2{tail}"
    ))
    .bind(dir)
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// Writes a group's fields and bumps its version.
pub async fn update(
    db: impl PgExecutor<'_>,
    dir: &str,
    id: &str,
    display_name: &str,
    external_id: Option<&str>,
    resource: &serde_json::Value,
) -> Result<ScimGroup, StoreError> {
    Ok(sqlx::query_as::<_, ScimGroup>(&format!(
        "UPDATE scim_groups r SET display_name = $3, external_id = $4, resource = $5, version = version + 1, updated_at = now()
         WHERE r.directory_id = $1 AND r.id = $2 RETURNING {COLS}"
    ))
    .bind(dir)
    .bind(id)
    .bind(display_name)
    .bind(external_id)
    .bind(resource)
    .fetch_one(db)
    .await?)
}

/// Deletes a group, returning it.
pub async fn delete(db: impl PgExecutor<'_>, dir: &str, id: &str) -> Result<Option<ScimGroup>, StoreError> {
    Ok(sqlx::query_as::<_, ScimGroup>(&format!(
        "DELETE FROM scim_groups r WHERE r.directory_id = $1 AND r.id = $2 RETURNING {COLS}"
    ))
    .bind(dir)
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// Groups matching `filter` (placeholders from `$4`), by id, and the total number of matches.
pub async fn search(
    db: &sqlx::PgPool,
    dir: &str,
    filter: Option<&SqlFilter>,
    offset: i64,
    limit: i64,
) -> Result<(i64, Vec<ScimGroup>), StoreError> {
    super::search(db, "scim_groups", COLS, dir, filter, offset, limit).await
}

/// A page of the directory's groups for the Organization API.
pub async fn page(db: impl PgExecutor<'_>, dir: &str, page: &Page) -> Result<Paged<ScimGroup>, StoreError> {
    super::page(db, "scim_groups", COLS, dir, page, |g: &ScimGroup| g.id.clone()).await
}

const MEMBER_COLS: &str =
    "m.group_id, m.user_id, coalesce(u.display_name, u.user_name) AS display, g.display_name AS group_display";

/// Members of the groups `ids` (at most 10,000 rows per call).
pub async fn members_of(db: impl PgExecutor<'_>, ids: &[String]) -> Result<Vec<Member>, StoreError> {
    Ok(sqlx::query_as::<_, Member>(&format!(
        "SELECT {MEMBER_COLS} FROM scim_group_members m JOIN scim_users u ON u.id = m.user_id JOIN scim_groups g ON g.id = m.group_id
         WHERE m.group_id = ANY($1) ORDER BY m.group_id, m.user_id LIMIT 10000"
    ))
    .bind(ids)
    .fetch_all(db)
    .await?)
}

/// Groups of the users `ids`.
pub async fn groups_of(db: impl PgExecutor<'_>, ids: &[String]) -> Result<Vec<Member>, StoreError> {
    Ok(sqlx::query_as::<_, Member>(&format!(
        "SELECT {MEMBER_COLS} FROM scim_group_members m JOIN scim_users u ON u.id = m.user_id JOIN scim_groups g ON g.id = m.group_id
         WHERE m.user_id = ANY($1) ORDER BY m.user_id, m.group_id LIMIT 10000"
    ))
    .bind(ids)
    .fetch_all(db)
    .await?)
}

/// Which of `ids` are users of directory `dir`.
pub async fn existing_users(db: impl PgExecutor<'_>, dir: &str, ids: &[String]) -> Result<Vec<String>, StoreError> {
    Ok(
        sqlx::query_scalar::<_, String>("SELECT id FROM scim_users WHERE directory_id = $1 AND id = ANY($2)")
            .bind(dir)
            .bind(ids)
            .fetch_all(db)
            .await?,
    )
}

/// Adds members; returns the ids that were not members before.
pub async fn add_members(db: impl PgExecutor<'_>, group: &str, ids: &[String]) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar::<_, String>(
        "INSERT INTO scim_group_members (group_id, user_id) SELECT $1, unnest($2::text[])
         ON CONFLICT DO NOTHING RETURNING user_id",
    )
    .bind(group)
    .bind(ids)
    .fetch_all(db)
    .await?)
}

/// Removes members; returns the ids that were members.
pub async fn remove_members(db: impl PgExecutor<'_>, group: &str, ids: &[String]) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar::<_, String>(
        "DELETE FROM scim_group_members WHERE group_id = $1 AND user_id = ANY($2) RETURNING user_id",
    )
    .bind(group)
    .bind(ids)
    .fetch_all(db)
    .await?)
}

/// Removes every member except `keep`; returns the removed ids.
pub async fn remove_all_but(db: impl PgExecutor<'_>, group: &str, keep: &[String]) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar::<_, String>(
        "DELETE FROM scim_group_members WHERE group_id = $1 AND NOT (user_id = ANY($2)) RETURNING user_id",
    )
    .bind(group)
    .bind(keep)
    .fetch_all(db)
    .await?)
}

/// Member ids of one group.
pub async fn member_ids(db: impl PgExecutor<'_>, group: &str) -> Result<Vec<String>, StoreError> {
    Ok(
        sqlx::query_scalar::<_, String>("SELECT user_id FROM scim_group_members WHERE group_id = $1 ORDER BY user_id")
            .bind(group)
            .fetch_all(db)
            .await?,
    )
}

/// Bumps a group's version after a membership change.
pub async fn touch(db: impl PgExecutor<'_>, id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE scim_groups SET version = version + 1, updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Display names of the groups SCIM user `user_id` is in.
pub async fn names_of_user(db: impl PgExecutor<'_>, user_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT g.display_name FROM scim_group_members m JOIN scim_groups g ON g.id = m.group_id WHERE m.user_id = $1",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?)
}
