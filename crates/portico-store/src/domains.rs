//! Organization domains (the API arrives with the domains issue; identity linking reads them now).

use sqlx::PgExecutor;

use crate::StoreError;

/// True when `domain` is verified by organization `org_id`.
pub async fn is_verified_by(db: impl PgExecutor<'_>, org_id: &str, domain: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM organization_domains WHERE organization_id = $1 AND domain = lower($2) AND status = 'verified')",
    )
    .bind(org_id)
    .bind(domain)
    .fetch_one(db)
    .await?)
}
