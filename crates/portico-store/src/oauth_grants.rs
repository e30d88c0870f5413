//! Authorization requests waiting for a sign-in, grants, authorization codes and tokens of the
//! OpenID Provider (SPEC §6). Single use is enforced by the database (row locks), so any number of
//! replicas share it.

use chrono::{DateTime, Utc};
use portico_core::account::SessionMethod;
use sqlx::PgExecutor;

use crate::StoreError;

/// A pending authorization request, as taken back.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Pending {
    /// SHA-256 of the browser-binding cookie.
    pub binding_hash: Vec<u8>,
    /// The client.
    pub client_id: String,
    /// The connection the sign-in went through.
    pub connection_id: Option<String>,
    /// The validated authorization request.
    pub request: serde_json::Value,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// Stores a pending request under the digest of its handle.
pub async fn insert_pending(db: impl PgExecutor<'_>, handle_digest: &[u8], p: &Pending) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO oauth_pending (handle_hash, binding_hash, client_id, connection_id, request, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(handle_digest)
    .bind(&p.binding_hash)
    .bind(&p.client_id)
    .bind(&p.connection_id)
    .bind(&p.request)
    .bind(p.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Reads a pending request without taking it (the directory-password step shows its form again
/// after a wrong password; only a completed sign-in takes the request).
pub async fn peek_pending(db: impl PgExecutor<'_>, handle_digest: &[u8]) -> Result<Option<Pending>, StoreError> {
    Ok(sqlx::query_as::<_, Pending>(
        "SELECT binding_hash, client_id, connection_id, request, expires_at FROM oauth_pending WHERE handle_hash = $1",
    )
    .bind(handle_digest)
    .fetch_optional(db)
    .await?)
}

/// Takes (deletes and returns) a pending request: it can be resumed once.
pub async fn take_pending(db: impl PgExecutor<'_>, handle_digest: &[u8]) -> Result<Option<Pending>, StoreError> {
    Ok(sqlx::query_as::<_, Pending>(
        "DELETE FROM oauth_pending WHERE handle_hash = $1
         RETURNING binding_hash, client_id, connection_id, request, expires_at",
    )
    .bind(handle_digest)
    .fetch_optional(db)
    .await?)
}

/// A new grant and its code.
#[derive(Debug)]
pub struct NewGrant<'a> {
    /// `grt_<ULID>`.
    pub id: &'a str,
    /// Client.
    pub client_id: &'a str,
    /// The SSO session the grant stands for.
    pub session_id: &'a str,
    /// The user.
    pub user_id: &'a str,
    /// Granted scope (space separated).
    pub scope: &'a str,
    /// The client's nonce.
    pub nonce: Option<&'a str>,
    /// When the person authenticated.
    pub auth_time: DateTime<Utc>,
    /// SHA-256 of the code.
    pub code_digest: &'a [u8],
    /// The redirect URI the code is bound to.
    pub redirect_uri: &'a str,
    /// PKCE S256 challenge.
    pub code_challenge: Option<&'a str>,
    /// Code expiry (60 s).
    pub code_expires_at: DateTime<Utc>,
}

/// Writes a grant and its authorization code in one statement.
pub async fn insert_grant_with_code(db: impl PgExecutor<'_>, g: &NewGrant<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "WITH g AS (INSERT INTO oauth_grants (id, client_id, session_id, user_id, scope, nonce, auth_time)
                    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id)
         INSERT INTO oauth_codes (code_hash, grant_id, redirect_uri, code_challenge, expires_at)
         SELECT $8, g.id, $9, $10, $11 FROM g",
    )
    .bind(g.id)
    .bind(g.client_id)
    .bind(g.session_id)
    .bind(g.user_id)
    .bind(g.scope)
    .bind(g.nonce)
    .bind(g.auth_time)
    .bind(g.code_digest)
    .bind(g.redirect_uri)
    .bind(g.code_challenge)
    .bind(g.code_expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// A code as redeemed: `first_use` is false when it had been presented before.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Redeemed {
    /// The grant.
    pub grant_id: String,
    /// The grant's client.
    pub client_id: String,
    /// The bound redirect URI.
    pub redirect_uri: String,
    /// The bound PKCE challenge.
    pub code_challenge: Option<String>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// True the first time.
    pub first_use: bool,
    /// True when the grant was revoked.
    pub grant_revoked: bool,
}

/// Marks a code used and returns what it is bound to (None: unknown code). Row-locked, so two
/// concurrent redemptions see exactly one `first_use`.
pub async fn redeem_code(db: &mut sqlx::PgConnection, code_digest: &[u8]) -> Result<Option<Redeemed>, StoreError> {
    let row = sqlx::query_as::<_, Redeemed>(
        "SELECT c.grant_id, g.client_id, c.redirect_uri, c.code_challenge, c.expires_at,
                (c.used_at IS NULL) AS first_use, (g.revoked_at IS NOT NULL) AS grant_revoked
         FROM oauth_codes c JOIN oauth_grants g ON g.id = c.grant_id WHERE c.code_hash = $1 FOR UPDATE OF c",
    )
    .bind(code_digest)
    .fetch_optional(&mut *db)
    .await?;
    if row.is_some() {
        sqlx::query("UPDATE oauth_codes SET used_at = coalesce(used_at, now()) WHERE code_hash = $1")
            .bind(code_digest)
            .execute(&mut *db)
            .await?;
    }
    Ok(row)
}

/// Revokes a grant and everything it issued: its derived sessions (access tokens) and refresh
/// tokens. Returns the number of tokens revoked.
pub async fn revoke_grant(db: impl PgExecutor<'_>, grant_id: &str) -> Result<u64, StoreError> {
    let r = sqlx::query(
        "WITH g AS (UPDATE oauth_grants SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id),
              t AS (UPDATE oauth_tokens SET revoked_at = coalesce(revoked_at, now())
                    WHERE grant_id IN (SELECT id FROM g) RETURNING session_id)
         UPDATE sessions SET revoked_at = coalesce(revoked_at, now()) WHERE id IN (SELECT session_id FROM t)",
    )
    .bind(grant_id)
    .execute(db)
    .await?;
    Ok(r.rows_affected())
}

/// Revokes every grant standing for the SSO session `session_id` (logout).
pub async fn revoke_grants_of_session(db: impl PgExecutor<'_>, session_id: &str) -> Result<(), StoreError> {
    sqlx::query(
        "WITH g AS (UPDATE oauth_grants SET revoked_at = coalesce(revoked_at, now()) WHERE session_id = $1 RETURNING id),
              t AS (UPDATE oauth_tokens SET revoked_at = coalesce(revoked_at, now())
                    WHERE grant_id IN (SELECT id FROM g) RETURNING session_id)
         UPDATE sessions SET revoked_at = coalesce(revoked_at, now())
         WHERE id = $1 OR id IN (SELECT session_id FROM t)",
    )
    .bind(session_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Everything the claims of a grant are made of.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct GrantClaims {
    /// Grant id.
    pub grant_id: String,
    /// Client.
    pub client_id: String,
    /// Granted scope.
    pub scope: String,
    /// Nonce.
    pub nonce: Option<String>,
    /// Authentication time.
    pub auth_time: DateTime<Utc>,
    /// The SSO session (`sid`).
    pub session_id: String,
    /// Its expiry.
    pub session_expires_at: DateTime<Utc>,
    /// The user.
    pub user_id: String,
    /// Email.
    pub email: String,
    /// Name.
    pub name: Option<String>,
    /// Organization of the session.
    pub organization_id: Option<String>,
    /// Its slug.
    pub org_slug: Option<String>,
    /// The user's role there.
    pub org_role: Option<String>,
    /// Groups the IdP asserted.
    pub groups: Vec<String>,
    /// MFA asserted.
    pub mfa: bool,
    /// How the session signed in (`oidc`, `saml`, `ldap`).
    #[sqlx(try_from = "String")]
    pub method: SessionMethod,
    /// Connection.
    pub connection_id: Option<String>,
}

const CLAIMS: &str = "SELECT g.id AS grant_id, g.client_id, g.scope, g.nonce, g.auth_time, g.session_id,
        s.expires_at AS session_expires_at, u.id AS user_id, u.email, u.name, s.organization_id,
        o.slug AS org_slug, m.role AS org_role, s.groups, s.mfa, s.method, s.connection_id
 FROM oauth_grants g JOIN sessions s ON s.id = g.session_id JOIN users u ON u.id = g.user_id
 LEFT JOIN organizations o ON o.id = s.organization_id
 LEFT JOIN memberships m ON m.organization_id = s.organization_id AND m.user_id = u.id";

/// The claims of a live grant (not revoked, its SSO session live, its user active).
pub async fn grant_claims(db: impl PgExecutor<'_>, grant_id: &str) -> Result<Option<GrantClaims>, StoreError> {
    Ok(sqlx::query_as::<_, GrantClaims>(&format!(
        "{CLAIMS} WHERE g.id = $1 AND g.revoked_at IS NULL AND s.revoked_at IS NULL AND s.expires_at > now()
           AND u.status = 'active'"
    ))
    .bind(grant_id)
    .fetch_optional(db)
    .await?)
}

/// The claims behind a live access token (the token, its derived session, its grant and the
/// sign-in session behind it live).
pub async fn access_claims(db: impl PgExecutor<'_>, token_digest: &[u8]) -> Result<Option<GrantClaims>, StoreError> {
    Ok(sqlx::query_as::<_, GrantClaims>(&format!(
        "{CLAIMS} JOIN oauth_tokens t ON t.grant_id = g.id JOIN sessions d ON d.id = t.session_id
         WHERE t.token_hash = $1 AND t.kind = 'access' AND t.revoked_at IS NULL AND t.expires_at > now()
           AND d.revoked_at IS NULL AND d.expires_at > now() AND g.revoked_at IS NULL
           AND s.revoked_at IS NULL AND s.expires_at > now() AND u.status = 'active'"
    ))
    .bind(token_digest)
    .fetch_optional(db)
    .await?)
}

/// Issues an access token: a session derived from the grant's SSO session (same organization,
/// method, MFA, connection, groups, scopes; `parent_id` names it), expiring at `expires_at` or
/// with its parent, revoked with it, never listed as a sign-in.
pub async fn issue_access(
    db: &mut sqlx::PgConnection,
    grant_id: &str,
    digest: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "WITH d AS (
           INSERT INTO sessions (id, user_id, organization_id, method, mfa, token_hash, ip, user_agent, expires_at,
                                 connection_id, idp_subject, groups, mapped_scopes, parent_id)
           SELECT $2, p.user_id, p.organization_id, p.method, p.mfa, $3, p.ip, 'oauth2 access token',
                  least(p.expires_at, $4), p.connection_id, p.idp_subject, p.groups, p.mapped_scopes, p.id
           FROM oauth_grants g JOIN sessions p ON p.id = g.session_id
           WHERE g.id = $1 AND g.revoked_at IS NULL AND p.revoked_at IS NULL AND p.expires_at > now()
           RETURNING id, expires_at)
         INSERT INTO oauth_tokens (token_hash, grant_id, kind, session_id, expires_at)
         SELECT $3, $1, 'access', d.id, d.expires_at FROM d",
    )
    .bind(grant_id)
    .bind(portico_core::ids::prefixed(portico_core::ids::SSO_SESSION))
    .bind(digest)
    .bind(expires_at)
    .execute(&mut *db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Issues a refresh token of a grant.
pub async fn issue_refresh(
    db: impl PgExecutor<'_>,
    grant_id: &str,
    digest: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO oauth_tokens (token_hash, grant_id, kind, expires_at) VALUES ($1, $2, 'refresh', $3)")
        .bind(digest)
        .bind(grant_id)
        .bind(expires_at)
        .execute(db)
        .await?;
    Ok(())
}

/// A token row as looked up for refresh or revocation.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TokenRow {
    /// The grant.
    pub grant_id: String,
    /// The grant's client.
    pub client_id: String,
    /// `access` or `refresh`.
    pub kind: String,
    /// Derived session (access tokens).
    pub session_id: Option<String>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Rotated (refresh tokens).
    pub used_at: Option<DateTime<Utc>>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Locks and returns a token row.
pub async fn lock_token(db: &mut sqlx::PgConnection, digest: &[u8]) -> Result<Option<TokenRow>, StoreError> {
    Ok(sqlx::query_as::<_, TokenRow>(
        "SELECT t.grant_id, g.client_id, t.kind, t.session_id, t.expires_at, t.used_at, t.revoked_at
         FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id WHERE t.token_hash = $1 FOR UPDATE OF t",
    )
    .bind(digest)
    .fetch_optional(&mut *db)
    .await?)
}

/// Marks a refresh token rotated.
pub async fn mark_used(db: impl PgExecutor<'_>, digest: &[u8]) -> Result<(), StoreError> {
    sqlx::query("UPDATE oauth_tokens SET used_at = now() WHERE token_hash = $1")
        .bind(digest)
        .execute(db)
        .await?;
    Ok(())
}

/// Revokes one token (an access token's derived session too).
pub async fn revoke_token(db: impl PgExecutor<'_>, digest: &[u8]) -> Result<(), StoreError> {
    sqlx::query(
        "WITH t AS (UPDATE oauth_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE token_hash = $1 RETURNING session_id)
         UPDATE sessions SET revoked_at = coalesce(revoked_at, now()) WHERE id IN (SELECT session_id FROM t)",
    )
    .bind(digest)
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes expired pending requests, codes and tokens; returns how many rows went.
pub async fn purge(db: impl PgExecutor<'_>) -> Result<u64, StoreError> {
    let r = sqlx::query(
        "WITH p AS (DELETE FROM oauth_pending WHERE expires_at < now() RETURNING 1),
              c AS (DELETE FROM oauth_codes WHERE expires_at < now() - interval '1 hour' RETURNING 1)
         DELETE FROM oauth_tokens WHERE expires_at < now() - interval '1 day'",
    )
    .execute(db)
    .await?;
    Ok(r.rows_affected())
}
