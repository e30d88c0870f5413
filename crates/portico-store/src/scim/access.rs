//! What a directory does to people's access: organization memberships made, re-roled, suspended
//! and restored, and the revocation of a suspended person's sessions and tokens for the
//! organization. Owners' memberships are never changed by a directory.

use portico_core::account::MembershipStatus;
use sqlx::PgExecutor;

use crate::StoreError;

/// A membership's role and status.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Membership {
    /// Role.
    pub role: String,
    /// Its standing.
    #[sqlx(try_from = "String")]
    pub status: MembershipStatus,
}

/// The membership of `user_id` in `org_id`, whatever its status, locked for the transaction.
pub async fn lock(db: impl PgExecutor<'_>, org_id: &str, user_id: &str) -> Result<Option<Membership>, StoreError> {
    Ok(sqlx::query_as::<_, Membership>(
        "SELECT role, status FROM memberships WHERE organization_id = $1 AND user_id = $2 FOR UPDATE",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(db)
    .await?)
}

/// Creates an active membership.
pub async fn create(db: impl PgExecutor<'_>, org_id: &str, user_id: &str, role: &str) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(org_id)
        .bind(user_id)
        .bind(role)
        .execute(db)
        .await?;
    Ok(())
}

/// Sets role and status of a non-owner membership.
pub async fn set(
    db: impl PgExecutor<'_>,
    org_id: &str,
    user_id: &str,
    role: &str,
    status: MembershipStatus,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE memberships SET role = $3, status = $4, updated_at = now()
         WHERE organization_id = $1 AND user_id = $2 AND role <> 'owner'",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role)
    .bind(status.as_str())
    .execute(db)
    .await?;
    Ok(())
}

/// Revokes the person's sessions of the organization and tokens pinned to it; returns how many.
pub async fn revoke(db: &mut sqlx::PgConnection, org_id: &str, user_id: &str) -> Result<(u64, u64), StoreError> {
    let s = sqlx::query(
        "UPDATE sessions SET revoked_at = now() WHERE user_id = $2 AND organization_id = $1 AND revoked_at IS NULL",
    )
    .bind(org_id)
    .bind(user_id)
    .execute(&mut *db)
    .await?;
    let t = sqlx::query(
        "UPDATE api_tokens SET revoked_at = now() WHERE user_id = $2 AND organization_id = $1 AND revoked_at IS NULL",
    )
    .bind(org_id)
    .bind(user_id)
    .execute(&mut *db)
    .await?;
    Ok((s.rows_affected(), t.rows_affected()))
}
