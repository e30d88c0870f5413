//! Sessions: opaque tokens stored as SHA-256 digests, checked on every request, revocable at once.

use chrono::{DateTime, Utc};
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
    /// `password`, `oidc`, `saml` or `ldap`.
    pub method: String,
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
    pub user_status: String,
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
    pub method: &'a str,
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
const VIEW: &str =
    "u.email, u.name, u.status AS user_status, u.created_at AS user_created_at, c.name AS connection_name
     FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN sso_connections c ON c.id = s.connection_id";

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
    .bind(s.method)
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
        "SELECT {COLS}, {VIEW} WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()"
    ))
    .bind(digest)
    .fetch_optional(db)
    .await?)
}

/// Revokes a live session by id; `org_id` scopes the revocation to one organization's sessions.
/// NotFound when there is no such live session (already revoked or expired included).
pub async fn revoke(db: impl PgExecutor<'_>, id: &str, org_id: Option<&str>) -> Result<(), StoreError> {
    let r = sqlx::query(
        "UPDATE sessions SET revoked_at = now()
         WHERE id = $1 AND revoked_at IS NULL AND expires_at > now() AND ($2::text IS NULL OR organization_id = $2 OR
               user_id IN (SELECT user_id FROM memberships WHERE organization_id = $2) AND organization_id IS NULL)",
    )
    .bind(id)
    .bind(org_id)
    .execute(db)
    .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Live sessions of an organization: its SSO sessions and its members' unscoped sessions.
pub async fn for_org(
    db: impl PgExecutor<'_>,
    org_id: &str,
    sso_only: bool,
    page: &Page,
) -> Result<Paged<SessionView>, StoreError> {
    let rows = sqlx::query_as::<_, SessionView>(&format!(
        "SELECT {COLS}, {VIEW}
         WHERE (s.organization_id = $1 OR (NOT $4 AND s.organization_id IS NULL
                AND s.user_id IN (SELECT user_id FROM memberships WHERE organization_id = $1)))
           AND ($4 = false OR s.connection_id IS NOT NULL)
           AND s.revoked_at IS NULL AND s.expires_at > now()
           AND ($2::text IS NULL OR s.id > $2)
         ORDER BY s.id LIMIT $3"
    ))
    .bind(org_id)
    .bind(page.cursor.as_deref())
    .bind(page.limit + 1)
    .bind(sso_only)
    .fetch_all(db)
    .await?;
    Ok(Paged::from_overfetch(rows, page.limit, |r| r.session.id.clone()))
}

/// Deletes expired or long-revoked sessions; returns how many.
pub async fn purge(db: impl PgExecutor<'_>) -> Result<u64, StoreError> {
    let r = sqlx::query("DELETE FROM sessions WHERE expires_at < now() OR revoked_at < now() - interval '1 day'")
        .execute(db)
        .await?;
    Ok(r.rows_affected())
}
