//! Sessions: opaque tokens stored as SHA-256 digests, checked on every request, revocable at once.

use chrono::{DateTime, Utc};
use portico_core::account::{SessionMethod, UserStatus};
use sqlx::PgExecutor;

use crate::{Page, Paged, StoreError};

/// A session row (never the token).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Session {
    /// `ses_<ULID>` (password) or `ssosess_<ULID>` (SSO).
    pub id: String,
    /// The user.
    pub user_id: String,
    /// The organization an SSO session belongs to.
    pub organization_id: Option<String>,
    /// How it signed in.
    #[sqlx(try_from = "String")]
    pub method: SessionMethod,
    /// True when MFA was completed or asserted.
    pub mfa: bool,
    /// The SSO connection.
    pub connection_id: Option<String>,
    /// The IdP subject.
    pub idp_subject: Option<String>,
    /// Groups the IdP asserted.
    pub groups: Vec<String>,
    /// Scopes mapped from the groups.
    pub mapped_scopes: Vec<String>,
    /// Client IP at creation.
    pub ip: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A session with its user's and connection's display fields.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SessionView {
    /// The session.
    #[sqlx(flatten)]
    pub session: Session,
    /// User email.
    pub email: String,
    /// User name.
    pub name: Option<String>,
    /// Connection name.
    pub connection_name: Option<String>,
    /// User status.
    #[sqlx(try_from = "String")]
    pub user_status: UserStatus,
    /// User creation time.
    pub user_created_at: DateTime<Utc>,
}

/// A new session's fields (its user is given apart: see [`insert`] and [`crate::signin`]).
#[derive(Debug, Clone, Copy)]
pub struct NewSession<'a> {
    /// Row id.
    pub id: &'a str,
    /// The organization (SSO sessions).
    pub organization_id: Option<&'a str>,
    /// Sign-in method.
    pub method: SessionMethod,
    /// MFA flag.
    pub mfa: bool,
    /// SHA-256 of the token.
    pub digest: &'a [u8],
    /// Client IP.
    pub ip: Option<&'a str>,
    /// Client user agent.
    pub user_agent: Option<&'a str>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// SSO connection.
    pub connection_id: Option<&'a str>,
    /// IdP subject.
    pub idp_subject: Option<&'a str>,
    /// Groups.
    pub groups: &'a [String],
    /// Mapped scopes.
    pub mapped_scopes: &'a [String],
}

impl NewSession<'_> {
    /// The user agent, cut to the 512 characters the column holds.
    pub(crate) fn user_agent_capped(&self) -> Option<String> {
        self.user_agent.map(|u| u.chars().take(512).collect())
    }
}

/// The session columns, as [`Session`] reads them, of the alias `s`.
pub(crate) const COLS: &str = "s.id, s.user_id, s.organization_id, s.method, s.mfa, s.connection_id, s.idp_subject, s.groups, s.mapped_scopes, s.ip, s.created_at, s.expires_at, s.revoked_at";
const VIEW_COLS: &str =
    "u.email, u.name, u.status AS user_status, u.created_at AS user_created_at, c.name AS connection_name";
const VIEW_JOIN: &str = "JOIN users u ON u.id = s.user_id LEFT JOIN sso_connections c ON c.id = s.connection_id";

/// Inserts a session of `user_id`.
pub async fn insert(db: impl PgExecutor<'_>, user_id: &str, s: NewSession<'_>) -> Result<Session, StoreError> {
    let ua = s.user_agent_capped();
    Ok(sqlx::query_as::<_, Session>(&format!(
        "INSERT INTO sessions AS s (id, user_id, organization_id, method, mfa, token_hash, ip, user_agent, expires_at,
                               connection_id, idp_subject, groups, mapped_scopes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {COLS}"
    ))
    .bind(s.id)
    .bind(user_id)
    .bind(s.organization_id)
    .bind(s.method.as_str())
    .bind(s.mfa)
    .bind(s.digest)
    .bind(s.ip)
    .bind(ua)
    .bind(s.expires_at)
    .bind(s.connection_id)
    .bind(s.idp_subject)
    .bind(s.groups)
    .bind(s.mapped_scopes)
    .fetch_one(db)
    .await?)
}

/// A live session by token digest (not revoked, not expired), with its user's status.
pub async fn live_by_digest(db: impl PgExecutor<'_>, digest: &[u8]) -> Result<Option<SessionView>, StoreError> {
    Ok(sqlx::query_as::<_, SessionView>(&format!(
        "SELECT {COLS}, {VIEW_COLS} FROM sessions s {VIEW_JOIN} WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()"
    ))
    .bind(digest)
    .fetch_optional(db)
    .await?)
}

/// Revokes a live session by id, and with it every session derived from it (the provider's
/// access tokens); `org_id` scopes the revocation to one organization's sessions (its SSO sessions
/// and its members' unscoped ones). NotFound when there is no such live session (already revoked
/// or expired included).
pub async fn revoke(db: impl PgExecutor<'_>, id: &str, org_id: Option<&str>) -> Result<(), StoreError> {
    const LIVE: &str = "id = $1 AND revoked_at IS NULL AND expires_at > now()";
    // The organization-scoped revocation (a primary-key lookup; the scope is a filter on that row).
    const IN_ORG: &str = "id = $1 AND revoked_at IS NULL AND expires_at > now()
       AND (organization_id = $2 OR organization_id IS NULL
            AND EXISTS (SELECT 1 FROM memberships m WHERE m.organization_id = $2 AND m.user_id = sessions.user_id))";
    let sql = |filter: &str| {
        format!(
            "WITH r AS (UPDATE sessions SET revoked_at = now() WHERE {filter} RETURNING id),
                  d AS (UPDATE sessions SET revoked_at = now()
                        WHERE parent_id IN (SELECT id FROM r) AND revoked_at IS NULL RETURNING id)
             SELECT count(*) FROM r"
        )
    };
    let (live, in_org) = (sql(LIVE), sql(IN_ORG));
    let q = match org_id {
        None => sqlx::query_scalar::<_, i64>(&live).bind(id),
        Some(org) => sqlx::query_scalar::<_, i64>(&in_org).bind(id).bind(org),
    };
    if q.fetch_one(db).await? == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Live sign-in sessions of an organization in id order: its SSO sessions (`sso_only`: only those)
/// and its members' unscoped sessions; the provider's access tokens (sessions derived from a
/// sign-in, `parent_id` set) are not sign-ins and are not listed. Index-driven at any size: one
/// branch walks `sessions (organization_id, id)` from the cursor, the other `member_sessions
/// (organization_id, session_id)` (kept by triggers, migration 0018) from the cursor; each branch
/// stops at the page size, so a page costs the same whatever the number of members, and the merged
/// page is exact because both are cut at the same cursor.
pub async fn for_org(
    db: impl PgExecutor<'_>,
    org_id: &str,
    sso_only: bool,
    page: &Page,
) -> Result<Paged<SessionView>, StoreError> {
    const LIVE: &str = "s.revoked_at IS NULL AND s.expires_at > now() AND s.parent_id IS NULL AND s.id > $2";
    let sso = format!(
        "SELECT s.* FROM sessions s WHERE s.organization_id = $1 AND {LIVE} {} ORDER BY s.id LIMIT $3",
        if sso_only {
            "AND s.connection_id IS NOT NULL"
        } else {
            ""
        }
    );
    let branches = if sso_only {
        format!("({sso})")
    } else {
        format!(
            "({sso}) UNION ALL
             (SELECT s.* FROM member_sessions ms JOIN sessions s ON s.id = ms.session_id
              WHERE ms.organization_id = $1 AND ms.session_id > $2 AND {LIVE} ORDER BY ms.session_id LIMIT $3)"
        )
    };
    let rows = sqlx::query_as::<_, SessionView>(&format!(
        // The page is cut before the joins, so they are a page's worth of primary-key lookups.
        "SELECT {COLS}, {VIEW_COLS} FROM (SELECT * FROM ({branches}) b ORDER BY b.id LIMIT $3) s {VIEW_JOIN} ORDER BY s.id"
    ))
    .bind(org_id)
    .bind(page.after())
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    Ok(Paged::from_overfetch(rows, page.limit, |r| r.session.id.clone()))
}

/// Sessions deleted per purge statement: each statement finds its rows through an index and
/// holds a few milliseconds of work whatever the table's size (measured by `scripts/scale
/// --purge-only`: at 2 M sessions a 1,000-row batch cost ~3.5 times a 250-row one, so the smaller
/// batch keeps each statement's locks and WAL burst short at the same throughput).
pub const PURGE_BATCH: i64 = 250;

/// One purge batch: deletes at most `limit` sessions that expired, or were revoked more than a day
/// ago, with the expiry (or revocation) time at or after `from` — the caller passes back the
/// returned watermark so that a long backlog is walked forward, never rescanned. Returns how many
/// rows went and the watermark; the kind of row is chosen by `revoked`.
pub async fn purge_batch(
    db: impl PgExecutor<'_>,
    revoked: bool,
    from: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
    let (col, cutoff) = if revoked {
        ("revoked_at", "now() - interval '1 day'")
    } else {
        ("expires_at", "now()")
    };
    // Deleted by ctid: the rows the index range found, without a second lookup by primary key.
    let (n, mark): (i64, Option<DateTime<Utc>>) = sqlx::query_as(&format!(
        "WITH d AS (DELETE FROM sessions WHERE ctid = ANY(ARRAY(
                        SELECT ctid FROM sessions WHERE {col} < {cutoff} AND {col} >= $1 ORDER BY {col} LIMIT $2))
                    RETURNING {col})
         SELECT count(*), max({col}) FROM d"
    ))
    .bind(from.unwrap_or(DateTime::<Utc>::UNIX_EPOCH))
    .bind(limit)
    .fetch_one(db)
    .await?;
    Ok((u64::try_from(n).unwrap_or(0), mark.or(from)))
}

/// Deletes every expired or long-revoked session, in batches of [`PURGE_BATCH`] (each its own
/// statement, so no lock is held across batches); returns how many.
pub async fn purge(db: &sqlx::PgPool) -> Result<u64, StoreError> {
    let mut total = 0;
    for revoked in [false, true] {
        let mut from = None;
        loop {
            let (n, mark) = purge_batch(db, revoked, from, PURGE_BATCH).await?;
            total += n;
            if n < PURGE_BATCH.unsigned_abs() {
                break;
            }
            from = mark;
            tokio::task::yield_now().await;
        }
    }
    Ok(total)
}

/// Revokes what another organization's identity provider signed `user_id` in with: its SSO
/// sessions through connections outside `org_id`, and the tokens minted from SSO sessions of
/// another organization. Returns (sessions, tokens) revoked. Used when an organization that
/// verified the user's domain links the account (SPEC §3: that IdP was never authoritative).
pub async fn revoke_foreign_sso(
    db: &mut sqlx::PgConnection,
    user_id: &str,
    org_id: &str,
) -> Result<(u64, u64), crate::StoreError> {
    let sessions = sqlx::query(
        "UPDATE sessions SET revoked_at = now()
         WHERE user_id = $1 AND revoked_at IS NULL AND connection_id IN
               (SELECT id FROM sso_connections WHERE organization_id <> $2)",
    )
    .bind(user_id)
    .bind(org_id)
    .execute(&mut *db)
    .await?
    .rows_affected();
    let tokens = sqlx::query(
        "UPDATE api_tokens SET revoked_at = now()
         WHERE user_id = $1 AND revoked_at IS NULL AND auth_method IN ('oidc', 'saml', 'ldap')
               AND auth_org_id IS DISTINCT FROM $2",
    )
    .bind(user_id)
    .bind(org_id)
    .execute(&mut *db)
    .await?
    .rows_affected();
    Ok((sessions, tokens))
}
