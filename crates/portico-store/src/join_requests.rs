//! Auto-join requests awaiting an admin's decision (verified domains with `requireApproval`).

use chrono::{DateTime, Utc};
use portico_core::org::JoinRequestStatus;
use sqlx::PgExecutor;

use crate::{Page, Paged, StoreError};

/// A join request row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct JoinRequest {
    /// `jrq_<ULID>`.
    pub id: String,
    /// The organization to join.
    pub organization_id: String,
    /// The requesting user.
    pub user_id: String,
    /// The domain that matched (None once the domain was removed).
    pub domain_id: Option<String>,
    /// The matched domain's name.
    pub domain: String,
    /// The user's email when the request was made.
    pub email: String,
    /// The role approval grants (never `owner`).
    pub role: String,
    /// Where it stands.
    #[sqlx(try_from = "String")]
    pub status: JoinRequestStatus,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A new pending request.
#[derive(Debug)]
pub struct NewJoinRequest<'a> {
    /// `jrq_<ULID>`.
    pub id: &'a str,
    /// Organization.
    pub organization_id: &'a str,
    /// User.
    pub user_id: &'a str,
    /// Domain row.
    pub domain_id: &'a str,
    /// Domain name.
    pub domain: &'a str,
    /// User email.
    pub email: &'a str,
    /// Role to grant.
    pub role: &'a str,
}

const COLS: &str =
    "id, organization_id, user_id, domain_id, domain, email, role, status, decided_by, decided_at, created_at";

/// Creates a pending request unless one is already pending; returns it when created.
pub async fn insert_pending(db: impl PgExecutor<'_>, r: NewJoinRequest<'_>) -> Result<Option<JoinRequest>, StoreError> {
    Ok(sqlx::query_as::<_, JoinRequest>(&format!(
        "INSERT INTO join_requests (id, organization_id, user_id, domain_id, domain, email, role) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (organization_id, user_id) WHERE status = 'pending' DO NOTHING RETURNING {COLS}"
    ))
    .bind(r.id)
    .bind(r.organization_id)
    .bind(r.user_id)
    .bind(r.domain_id)
    .bind(r.domain)
    .bind(r.email)
    .bind(r.role)
    .fetch_optional(db)
    .await?)
}

/// True when the user has a pending or a rejected request for the organization (auto-join then
/// asks nothing again).
pub async fn is_open_or_rejected(db: impl PgExecutor<'_>, org_id: &str, user_id: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM join_requests WHERE organization_id = $1 AND user_id = $2 AND status IN ('pending', 'rejected'))",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_one(db)
    .await?)
}

/// The organization's requests, optionally of one status, by id.
pub async fn list(
    db: impl PgExecutor<'_>,
    org_id: &str,
    status: Option<JoinRequestStatus>,
    page: &Page,
) -> Result<Paged<JoinRequest>, StoreError> {
    // The status is a filter on the (organization_id, id) walk; without one, no condition at all.
    let of_status = if status.is_some() { "AND status = $4" } else { "" };
    let sql = format!(
        "SELECT {COLS} FROM join_requests WHERE organization_id = $1 AND id > $2 {of_status} ORDER BY id LIMIT $3"
    );
    let rows = sqlx::query_as::<_, JoinRequest>(&sql)
        .bind(org_id)
        .bind(page.after())
        .bind(page.limit + 1);
    let rows = match status {
        Some(s) => rows.bind(s.as_str()),
        None => rows,
    }
    .fetch_all(db)
    .await?;
    Ok(Paged::from_overfetch(rows, page.limit, |r| r.id.clone()))
}

/// One request of the organization, locked for the decision.
pub async fn lock(db: impl PgExecutor<'_>, org_id: &str, id: &str) -> Result<Option<JoinRequest>, StoreError> {
    Ok(sqlx::query_as::<_, JoinRequest>(&format!(
        "SELECT {COLS} FROM join_requests WHERE organization_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(org_id)
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// Records the decision on a pending request ([`JoinRequestStatus::Approved`] or `Rejected`).
pub async fn decide(
    db: impl PgExecutor<'_>,
    id: &str,
    status: JoinRequestStatus,
    decided_by: &str,
) -> Result<JoinRequest, StoreError> {
    Ok(sqlx::query_as::<_, JoinRequest>(&format!(
        "UPDATE join_requests SET status = $2, decided_by = $3, decided_at = now() WHERE id = $1 AND status = 'pending' RETURNING {COLS}"
    ))
    .bind(id)
    .bind(status.as_str())
    .bind(decided_by)
    .fetch_one(db)
    .await?)
}
