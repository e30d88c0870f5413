//! Audit events: every sign-in attempt and every settings change. Never a password or token.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::{Page, Paged, StoreError};

/// An audit event row.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// `evt_<ULID>`.
    pub id: String,
    /// The organization concerned.
    pub organization_id: Option<String>,
    /// The acting user.
    pub actor_user_id: Option<String>,
    /// `user`, `api_key`, `session`, `system`, `anonymous`.
    pub actor_kind: String,
    /// What happened (`sign_in.password`, `organization.rename`, …).
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// Machine reason code for failures.
    pub reason: Option<String>,
    /// The object acted on.
    pub target_id: Option<String>,
    /// The SSO connection involved.
    pub connection_id: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Extra, non-secret details.
    pub details: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A new event.
#[derive(Clone, Debug, Default)]
pub struct NewEvent {
    /// Organization.
    pub organization_id: Option<String>,
    /// Actor.
    pub actor_user_id: Option<String>,
    /// Actor kind.
    pub actor_kind: &'static str,
    /// Action.
    pub action: &'static str,
    /// True for success.
    pub success: bool,
    /// Reason code.
    pub reason: Option<String>,
    /// Target.
    pub target_id: Option<String>,
    /// Connection.
    pub connection_id: Option<String>,
    /// IP.
    pub ip: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Details.
    pub details: Option<serde_json::Value>,
}

impl NewEvent {
    /// The stored actor kind (`system` when unset).
    pub(crate) fn actor_kind_or_system(&self) -> &'static str {
        if self.actor_kind.is_empty() {
            "system"
        } else {
            self.actor_kind
        }
    }

    /// The stored outcome.
    pub(crate) fn outcome(&self) -> &'static str {
        if self.success {
            "success"
        } else {
            "failure"
        }
    }
}

/// Appends an event.
pub async fn record(db: impl PgExecutor<'_>, e: NewEvent) -> Result<(), StoreError> {
    let (kind, outcome) = (e.actor_kind_or_system(), e.outcome());
    sqlx::query(
        "INSERT INTO audit_events (id, organization_id, actor_user_id, actor_kind, action, outcome, reason, target_id,
                                   connection_id, ip, request_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(portico_core::ids::prefixed(portico_core::ids::AUDIT_EVENT))
    .bind(e.organization_id)
    .bind(e.actor_user_id)
    .bind(kind)
    .bind(e.action)
    .bind(outcome)
    .bind(e.reason)
    .bind(e.target_id)
    .bind(e.connection_id)
    .bind(e.ip)
    .bind(e.request_id)
    .bind(e.details.unwrap_or_else(|| serde_json::json!({})))
    .execute(db)
    .await?;
    Ok(())
}

/// An organization's events, newest first.
pub async fn for_org(db: impl PgExecutor<'_>, org_id: &str, page: &Page) -> Result<Paged<AuditEvent>, StoreError> {
    let rows = sqlx::query_as::<_, AuditEvent>(
        "SELECT id, organization_id, actor_user_id, actor_kind, action, outcome, reason, target_id, connection_id, ip,
                request_id, details, created_at
         FROM audit_events WHERE organization_id = $1 AND ($2::text IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(org_id)
    .bind(page.cursor.as_deref())
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    Ok(Paged::from_overfetch(rows, page.limit, |r| r.id.clone()))
}
