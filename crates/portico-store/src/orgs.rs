//! Organizations and memberships.

use chrono::{DateTime, Utc};
use portico_core::account::MemberStatus;
use portico_core::org::AuthRequired;
use sqlx::PgExecutor;

use crate::{Page, Paged, StoreError};

/// An organization row, with its security policy.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Organization {
    /// Bare ULID.
    pub id: String,
    /// Unique slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// How members must sign in.
    #[sqlx(try_from = "String")]
    pub auth_required: AuthRequired,
    /// MFA required independently of `auth_required`.
    pub require_mfa: bool,
    /// Roles exempt from the SSO requirement.
    pub exempt_roles: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// An organization as seen by one member.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MemberOrganization {
    /// The organization.
    #[sqlx(flatten)]
    pub org: Organization,
    /// The member's role.
    pub role: String,
}

/// A membership with the member's user fields.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Member {
    /// User id.
    pub user_id: String,
    /// User email.
    pub email: String,
    /// User name.
    pub name: Option<String>,
    /// User status, or `suspended` when a directory suspended the membership.
    #[sqlx(try_from = "String")]
    pub status: MemberStatus,
    /// Role in the organization.
    pub role: String,
    /// When the membership began.
    pub created_at: DateTime<Utc>,
}

const COLS: &str = "o.id, o.slug, o.name, o.auth_required, o.require_mfa, o.exempt_roles, o.created_at, o.updated_at";

/// Inserts an organization.
pub async fn insert(db: impl PgExecutor<'_>, id: &str, slug: &str, name: &str) -> Result<Organization, StoreError> {
    Ok(sqlx::query_as::<_, Organization>(&format!(
        "INSERT INTO organizations AS o (id, slug, name) VALUES ($1, $2, $3) RETURNING {COLS}"
    ))
    .bind(id)
    .bind(slug)
    .bind(name)
    .fetch_one(db)
    .await?)
}

/// Finds an organization by id.
pub async fn by_id(db: impl PgExecutor<'_>, id: &str) -> Result<Option<Organization>, StoreError> {
    Ok(
        sqlx::query_as::<_, Organization>(&format!("SELECT {COLS} FROM organizations o WHERE o.id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// Finds an organization by slug.
pub async fn by_slug(db: impl PgExecutor<'_>, slug: &str) -> Result<Option<Organization>, StoreError> {
    Ok(
        sqlx::query_as::<_, Organization>(&format!("SELECT {COLS} FROM organizations o WHERE o.slug = $1"))
            .bind(slug)
            .fetch_optional(db)
            .await?,
    )
}

/// Renames an organization.
pub async fn rename(db: impl PgExecutor<'_>, id: &str, name: &str) -> Result<Organization, StoreError> {
    Ok(sqlx::query_as::<_, Organization>(&format!(
        "UPDATE organizations o SET name = $2, updated_at = now() WHERE o.id = $1 RETURNING {COLS}"
    ))
    .bind(id)
    .bind(name)
    .fetch_one(db)
    .await?)
}

/// Writes the security policy.
pub async fn set_policy(
    db: impl PgExecutor<'_>,
    id: &str,
    auth_required: AuthRequired,
    require_mfa: bool,
    exempt_roles: &[String],
) -> Result<Organization, StoreError> {
    Ok(sqlx::query_as::<_, Organization>(&format!(
        "UPDATE organizations o SET auth_required = $2, require_mfa = $3, exempt_roles = $4, updated_at = now()
         WHERE o.id = $1 RETURNING {COLS}"
    ))
    .bind(id)
    .bind(auth_required.as_str())
    .bind(require_mfa)
    .bind(exempt_roles)
    .fetch_one(db)
    .await?)
}

/// Deletes an organization (cascades to memberships, tokens pinned to it, sessions, connections).
pub async fn delete(db: impl PgExecutor<'_>, id: &str) -> Result<(), StoreError> {
    let r = sqlx::query("DELETE FROM organizations WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Organizations `user_id` belongs to, with the role, by id.
pub async fn for_user(
    db: impl PgExecutor<'_>,
    user_id: &str,
    page: &Page,
) -> Result<Paged<MemberOrganization>, StoreError> {
    let rows = sqlx::query_as::<_, MemberOrganization>(&format!(
        "SELECT {COLS}, m.role FROM organizations o JOIN memberships m ON m.organization_id = o.id
         WHERE m.user_id = $1 AND m.status = 'active' AND m.organization_id > $2 ORDER BY m.organization_id LIMIT $3"
    ))
    .bind(user_id)
    .bind(page.after())
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    Ok(Paged::from_overfetch(rows, page.limit, |r| r.org.id.clone()))
}

/// Every membership of a user (for `/api/user/me`).
pub async fn memberships_of(db: impl PgExecutor<'_>, user_id: &str) -> Result<Vec<MemberOrganization>, StoreError> {
    Ok(sqlx::query_as::<_, MemberOrganization>(&format!(
        "SELECT {COLS}, m.role FROM organizations o JOIN memberships m ON m.organization_id = o.id
         WHERE m.user_id = $1 AND m.status = 'active' ORDER BY m.organization_id LIMIT 1000"
    ))
    .bind(user_id)
    .fetch_all(db)
    .await?)
}

/// A user's role in an organization, if an active (not suspended) member.
pub async fn role_of(db: impl PgExecutor<'_>, org_id: &str, user_id: &str) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2 AND status = 'active'",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(db)
    .await?)
}

/// Adds a membership; a no-op returning false if it already exists.
pub async fn add_member(db: impl PgExecutor<'_>, org_id: &str, user_id: &str, role: &str) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Members of an organization, by user id.
pub async fn members(db: impl PgExecutor<'_>, org_id: &str, page: &Page) -> Result<Paged<Member>, StoreError> {
    let rows = sqlx::query_as::<_, Member>(
        "SELECT u.id AS user_id, u.email, u.name,
                CASE WHEN m.status = 'suspended' THEN 'suspended' ELSE u.status END AS status, m.role, m.created_at
         FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.organization_id = $1 AND m.user_id > $2 ORDER BY m.user_id LIMIT $3",
    )
    .bind(org_id)
    .bind(page.after())
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    Ok(Paged::from_overfetch(rows, page.limit, |r| r.user_id.clone()))
}

/// Locks the organization's owner memberships (`FOR UPDATE`) and counts them, so that
/// concurrent demotions cannot remove the last owner.
pub async fn lock_owner_count(db: impl PgExecutor<'_>, org_id: &str) -> Result<i64, StoreError> {
    let owners: Vec<String> = sqlx::query_scalar(
        "SELECT user_id FROM memberships WHERE organization_id = $1 AND role = 'owner' ORDER BY user_id FOR UPDATE",
    )
    .bind(org_id)
    .fetch_all(db)
    .await?;
    Ok(i64::try_from(owners.len()).unwrap_or(i64::MAX))
}

/// Changes a member's role.
pub async fn set_role(db: impl PgExecutor<'_>, org_id: &str, user_id: &str, role: &str) -> Result<(), StoreError> {
    let r =
        sqlx::query("UPDATE memberships SET role = $3, updated_at = now() WHERE organization_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .bind(role)
            .execute(db)
            .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Removes a member.
pub async fn remove_member(db: impl PgExecutor<'_>, org_id: &str, user_id: &str) -> Result<(), StoreError> {
    let r = sqlx::query("DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2")
        .bind(org_id)
        .bind(user_id)
        .execute(db)
        .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
