//! Organization domains: claimed (`pending`) with a DNS TXT token, then `verified`. A domain
//! verified by one organization can never be verified by another (the partial unique index
//! `organization_domains_verified_once`); a verified domain stays verified until removed.

use chrono::{DateTime, Utc};
use portico_core::org::DomainStatus;
use sqlx::PgExecutor;

use crate::{Page, Paged, StoreError};

/// The unique index that keeps a domain verified by at most one organization.
pub const VERIFIED_ONCE: &str = "organization_domains_verified_once";

/// A domain row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Domain {
    /// Bare ULID.
    pub id: String,
    /// The claiming organization.
    pub organization_id: String,
    /// Normalised domain (lower case, ASCII, no trailing dot).
    pub domain: String,
    /// Whether the claim is proven.
    #[sqlx(try_from = "String")]
    pub status: DomainStatus,
    /// The token expected in the TXT record.
    pub verification_token: String,
    /// When it was verified.
    pub verified_at: Option<DateTime<Utc>>,
    /// The last verification attempt.
    pub last_checked_at: Option<DateTime<Utc>>,
    /// The reason code of the last failed attempt.
    pub last_error: Option<String>,
    /// Auto-join on.
    pub auto_join_enabled: bool,
    /// Auto-join needs an admin's approval.
    pub auto_join_require_approval: bool,
    /// The role auto-join grants (never `owner`).
    pub auto_join_role: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Domain {
    /// True once verified.
    pub fn is_verified(&self) -> bool {
        self.status == DomainStatus::Verified
    }
}

const COLS: &str =
    "id, organization_id, domain, status, verification_token, verified_at, last_checked_at, last_error, \
                    auto_join_enabled, auto_join_require_approval, auto_join_role, created_at, updated_at";

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

/// Claims `domain` for `org_id` (pending).
pub async fn insert(
    db: impl PgExecutor<'_>,
    id: &str,
    org_id: &str,
    domain: &str,
    token: &str,
) -> Result<Domain, StoreError> {
    Ok(sqlx::query_as::<_, Domain>(&format!(
        "INSERT INTO organization_domains (id, organization_id, domain, verification_token) VALUES ($1, $2, $3, $4) RETURNING {COLS}"
    ))
    .bind(id)
    .bind(org_id)
    .bind(domain)
    .bind(token)
    .fetch_one(db)
    .await?)
}

/// One domain of `org_id`.
pub async fn by_id(db: impl PgExecutor<'_>, org_id: &str, id: &str) -> Result<Option<Domain>, StoreError> {
    Ok(sqlx::query_as::<_, Domain>(&format!(
        "SELECT {COLS} FROM organization_domains WHERE organization_id = $1 AND id = $2"
    ))
    .bind(org_id)
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// The domains of `org_id`, by id.
pub async fn list(db: impl PgExecutor<'_>, org_id: &str, page: &Page) -> Result<Paged<Domain>, StoreError> {
    let rows = sqlx::query_as::<_, Domain>(&format!(
        "SELECT {COLS} FROM organization_domains WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(org_id)
    .bind(page.after())
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    Ok(Paged::from_overfetch(rows, page.limit, |d| d.id.clone()))
}

/// The verified claim on `domain`, whichever organization holds it.
pub async fn verified(db: impl PgExecutor<'_>, domain: &str) -> Result<Option<Domain>, StoreError> {
    Ok(sqlx::query_as::<_, Domain>(&format!(
        "SELECT {COLS} FROM organization_domains WHERE domain = lower($1) AND status = 'verified'"
    ))
    .bind(domain)
    .fetch_optional(db)
    .await?)
}

/// Marks a pending domain verified. A domain verified elsewhere meanwhile answers
/// `StoreError::Conflict(VERIFIED_ONCE)`.
pub async fn mark_verified(db: impl PgExecutor<'_>, org_id: &str, id: &str) -> Result<Domain, StoreError> {
    Ok(sqlx::query_as::<_, Domain>(&format!(
        "UPDATE organization_domains SET status = 'verified', verified_at = now(), last_checked_at = now(), last_error = NULL, updated_at = now()
         WHERE organization_id = $1 AND id = $2 RETURNING {COLS}"
    ))
    .bind(org_id)
    .bind(id)
    .fetch_one(db)
    .await?)
}

/// Records a failed verification attempt (the domain stays as it was).
pub async fn record_failure(
    db: impl PgExecutor<'_>,
    org_id: &str,
    id: &str,
    reason: &str,
) -> Result<Domain, StoreError> {
    Ok(sqlx::query_as::<_, Domain>(&format!(
        "UPDATE organization_domains SET last_checked_at = now(), last_error = $3, updated_at = now()
         WHERE organization_id = $1 AND id = $2 RETURNING {COLS}"
    ))
    .bind(org_id)
    .bind(id)
    .bind(reason)
    .fetch_one(db)
    .await?)
}

/// Sets the auto-join policy of a domain.
pub async fn set_auto_join(
    db: impl PgExecutor<'_>,
    org_id: &str,
    id: &str,
    enabled: bool,
    require_approval: bool,
    role: &str,
) -> Result<Domain, StoreError> {
    Ok(sqlx::query_as::<_, Domain>(&format!(
        "UPDATE organization_domains SET auto_join_enabled = $3, auto_join_require_approval = $4, auto_join_role = $5, updated_at = now()
         WHERE organization_id = $1 AND id = $2 RETURNING {COLS}"
    ))
    .bind(org_id)
    .bind(id)
    .bind(enabled)
    .bind(require_approval)
    .bind(role)
    .fetch_one(db)
    .await?)
}

/// Removes a domain (a verified one becomes free to claim).
pub async fn delete(db: impl PgExecutor<'_>, org_id: &str, id: &str) -> Result<(), StoreError> {
    let r = sqlx::query("DELETE FROM organization_domains WHERE organization_id = $1 AND id = $2")
        .bind(org_id)
        .bind(id)
        .execute(db)
        .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
