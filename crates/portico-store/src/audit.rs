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

/// Above every event id (`evt_` + 26 Crockford characters, none above `Z`): the first page's bound.
const ID_CEILING: &str = "evt_ZZZZZZZZZZZZZZZZZZZZZZZZZZ";

/// Events deleted per retention statement (a few milliseconds of work each; `scripts/scale`).
pub const PURGE_BATCH: i64 = 1000;

/// One retention batch: deletes at most `limit` events made before `before` (their ids are below
/// [`portico_core::ids::floor_at`] of it), walking the primary key upwards from `from` (an id
/// returned by the previous batch, so a backlog is never rescanned). Returns how many went and
/// the highest id deleted.
pub async fn purge_batch(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
    from: Option<&str>,
    limit: i64,
) -> Result<(u64, Option<String>), StoreError> {
    let ceiling = portico_core::ids::floor_at(
        portico_core::ids::AUDIT_EVENT,
        u64::try_from(before.timestamp_millis()).unwrap_or(0),
    );
    let (n, last): (i64, Option<String>) = sqlx::query_as(
        "WITH d AS (DELETE FROM audit_events WHERE ctid = ANY(ARRAY(
                        SELECT ctid FROM audit_events WHERE id < $1 AND id >= $2 ORDER BY id LIMIT $3))
                    RETURNING id)
         SELECT count(*), max(id) FROM d",
    )
    .bind(ceiling)
    .bind(from.unwrap_or(""))
    .bind(limit)
    .fetch_one(db)
    .await?;
    Ok((u64::try_from(n).unwrap_or(0), last.or_else(|| from.map(str::to_owned))))
}

/// Deletes every event older than `retention_days`, in batches of [`PURGE_BATCH`] (each its own
/// statement); returns how many.
pub async fn purge_older_than(db: &sqlx::PgPool, retention_days: u32) -> Result<u64, StoreError> {
    let before = Utc::now() - chrono::Duration::days(i64::from(retention_days));
    let (mut total, mut from) = (0, None);
    loop {
        let (n, last) = purge_batch(db, before, from.as_deref(), PURGE_BATCH).await?;
        total += n;
        if n < PURGE_BATCH.unsigned_abs() {
            return Ok(total);
        }
        from = last;
        tokio::task::yield_now().await;
    }
}

/// An organization's events, newest first.
pub async fn for_org(db: impl PgExecutor<'_>, org_id: &str, page: &Page) -> Result<Paged<AuditEvent>, StoreError> {
    let rows = sqlx::query_as::<_, AuditEvent>(
        "SELECT id, organization_id, actor_user_id, actor_kind, action, outcome, reason, target_id, connection_id, ip,
                request_id, details, created_at
         FROM audit_events WHERE organization_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(org_id)
    .bind(page.before(ID_CEILING))
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    Ok(Paged::from_overfetch(rows, page.limit, |r| r.id.clone()))
}
