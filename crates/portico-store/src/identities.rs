//! External identities keyed on (connection, subject).

use sqlx::PgExecutor;

use crate::StoreError;

/// The user linked to `(connection_id, subject)`, if any.
pub async fn user_for(
    db: impl PgExecutor<'_>,
    connection_id: &str,
    subject: &str,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar::<_, String>(
        "UPDATE external_identities SET last_login_at = now() WHERE connection_id = $1 AND subject = $2 RETURNING user_id",
    )
    .bind(connection_id)
    .bind(subject)
    .fetch_optional(db)
    .await?)
}

/// Links `(connection_id, subject)` to `user_id`. A concurrent link of the same pair is a
/// `Conflict("external_identities_connection_id_subject_key")`.
pub async fn link(
    db: impl PgExecutor<'_>,
    connection_id: &str,
    subject: &str,
    user_id: &str,
    email: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO external_identities (id, connection_id, subject, user_id, email) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(portico_core::ids::prefixed(portico_core::ids::IDENTITY))
    .bind(connection_id)
    .bind(subject)
    .bind(user_id)
    .bind(email)
    .execute(db)
    .await?;
    Ok(())
}

/// True when everything `user_id` has lies inside organization `org_id` (SPEC §3 linking rule
/// (b)): a membership there and in no other organization, and external identities only from
/// `org_id`'s connections.
pub async fn footprint_inside(db: impl PgExecutor<'_>, user_id: &str, org_id: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM memberships WHERE user_id = $1 AND organization_id = $2)
            AND NOT EXISTS (SELECT 1 FROM memberships WHERE user_id = $1 AND organization_id <> $2)
            AND NOT EXISTS (SELECT 1 FROM external_identities i JOIN sso_connections c ON c.id = i.connection_id
                            WHERE i.user_id = $1 AND c.organization_id <> $2)",
    )
    .bind(user_id)
    .bind(org_id)
    .fetch_one(db)
    .await?)
}
