//! Codes and tokens: minting a code at the end of a sign-in, redeeming it (single use; a second
//! presentation revokes what the first issued), refresh rotation with reuse detection,
//! revocation, and the ID token and userinfo claims.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use portico_core::token;
use portico_store::oauth_clients::Client;
use portico_store::oauth_grants::{self, GrantClaims, NewGrant};
use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{amr_acr, identity_claims, keys, AuthorizeRequest};
use crate::error::ApiError;
use crate::state::AppState;

/// Prefix of authorization codes and refresh tokens (access tokens are session tokens, `pss_`).
const CODE_PREFIX: &str = "pac_";
const REFRESH_PREFIX: &str = "prt_";

/// An RFC 6749 §5.2 error.
#[derive(Debug)]
pub struct OAuthError {
    /// `invalid_grant`, `invalid_request`, …
    pub error: &'static str,
    /// Human-readable description.
    pub description: String,
}

impl OAuthError {
    /// An error.
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }
}

impl From<ApiError> for OAuthError {
    /// A database outage is `temporarily_unavailable` (RFC 6749 §4.1.2.1's code: the client may
    /// retry); anything else is `server_error`.
    fn from(e: ApiError) -> Self {
        if let ApiError::Unavailable(_) = e {
            tracing::warn!(error = %e, "provider endpoint: database unavailable");
            return Self::new(
                "temporarily_unavailable",
                "the service is temporarily unavailable; retry shortly",
            );
        }
        tracing::error!(error = %e, "provider endpoint failed");
        Self::new("server_error", "the request could not be completed")
    }
}

impl From<sqlx::Error> for OAuthError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::from(portico_store::StoreError::from(e)).into()
    }
}

impl From<portico_store::StoreError> for OAuthError {
    fn from(e: portico_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

/// The SSO session a code is minted from.
#[derive(Debug)]
pub struct SignedInSession<'a> {
    /// Session id (`sid`).
    pub id: &'a str,
    /// The user.
    pub user_id: &'a str,
    /// When the person authenticated.
    pub auth_time: DateTime<Utc>,
}

/// Mints the authorization code of `req` for `session` (grant + code in one statement).
pub async fn mint_code(
    state: &AppState,
    req: &AuthorizeRequest,
    session: &SignedInSession<'_>,
) -> Result<String, ApiError> {
    let code = token::mint(CODE_PREFIX);
    let grant_id = portico_core::ids::prefixed("grt_");
    oauth_grants::insert_grant_with_code(
        &state.db,
        &NewGrant {
            id: &grant_id,
            client_id: &req.client_id,
            session_id: session.id,
            user_id: session.user_id,
            scope: &req.scope,
            nonce: req.nonce.as_deref(),
            auth_time: session.auth_time,
            code_digest: &code.digest,
            redirect_uri: &req.redirect_uri,
            code_challenge: req.code_challenge.as_deref(),
            code_expires_at: Utc::now() + Duration::seconds(super::CODE_TTL_SECS),
        },
    )
    .await?;
    Ok(code.token.expose_secret().to_owned())
}

/// What the token endpoint answers.
#[derive(Debug)]
pub struct TokenSet {
    /// JSON body.
    pub body: Value,
}

fn pkce_ok(challenge: &str, verifier: &str) -> bool {
    // RFC 7636 §4.1: 43-128 characters of the unreserved set.
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    valid && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// `grant_type=authorization_code`.
pub async fn exchange_code(
    state: &AppState,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Result<TokenSet, OAuthError> {
    let invalid = |d: &str| OAuthError::new("invalid_grant", d);
    if code.is_empty() || code.len() > 256 {
        return Err(invalid("unknown authorization code"));
    }
    let mut tx = state.db.begin().await?;
    let Some(r) = oauth_grants::redeem_code(&mut tx, &token::digest(code)).await? else {
        return Err(invalid("unknown authorization code"));
    };
    if !r.first_use || r.grant_revoked {
        // RFC 6749 §4.1.2: a code used twice revokes what it issued.
        let n = oauth_grants::revoke_grant(&mut *tx, &r.grant_id).await?;
        tx.commit().await?;
        tracing::warn!(grant = %r.grant_id, revoked = n, "authorization code reused: grant revoked");
        return Err(invalid("authorization code already used"));
    }
    tx.commit().await?;
    if r.client_id != client.id {
        return Err(invalid("authorization code issued to another client"));
    }
    if r.expires_at <= Utc::now() {
        return Err(invalid("authorization code expired"));
    }
    if redirect_uri != Some(r.redirect_uri.as_str()) {
        return Err(invalid("redirect_uri differs from the authorization request's"));
    }
    match (&r.code_challenge, verifier) {
        (Some(ch), Some(v)) if pkce_ok(ch, v) => {}
        (Some(_), _) => return Err(invalid("PKCE code_verifier does not match")),
        (None, Some(_)) => return Err(invalid("code_verifier sent but the authorization used no PKCE")),
        (None, None) if client.public => return Err(invalid("public clients must use PKCE")),
        (None, None) => {}
    }
    let claims = oauth_grants::grant_claims(&state.db, &r.grant_id)
        .await?
        .ok_or_else(|| invalid("the sign-in behind this code has ended"))?;
    issue(state, client, &claims, true).await
}

/// `grant_type=refresh_token`: rotates the refresh token; a rotated one presented again revokes
/// the grant (reuse detection).
pub async fn refresh(state: &AppState, client: &Client, refresh_token: &str) -> Result<TokenSet, OAuthError> {
    let invalid = |d: &str| OAuthError::new("invalid_grant", d);
    let digest = token::digest(refresh_token);
    let mut tx = state.db.begin().await?;
    let row = oauth_grants::lock_token(&mut tx, &digest)
        .await?
        .filter(|t| t.kind == "refresh")
        .ok_or_else(|| invalid("unknown refresh token"))?;
    if row.client_id != client.id {
        return Err(invalid("refresh token issued to another client"));
    }
    if row.used_at.is_some() {
        oauth_grants::revoke_grant(&mut *tx, &row.grant_id).await?;
        tx.commit().await?;
        tracing::warn!(grant = %row.grant_id, "rotated refresh token reused: grant revoked");
        return Err(invalid("refresh token already used"));
    }
    if row.revoked_at.is_some() || row.expires_at <= Utc::now() {
        return Err(invalid("refresh token expired or revoked"));
    }
    oauth_grants::mark_used(&mut *tx, &digest).await?;
    tx.commit().await?;
    let claims = oauth_grants::grant_claims(&state.db, &row.grant_id)
        .await?
        .ok_or_else(|| invalid("the sign-in behind this token has ended"))?;
    issue(state, client, &claims, false).await
}

/// Issues an access token (and a refresh token for `offline_access`, an ID token after a code).
async fn issue(
    state: &AppState,
    client: &Client,
    c: &GrantClaims,
    with_id_token: bool,
) -> Result<TokenSet, OAuthError> {
    let access = token::mint(token::SESSION_PREFIX);
    let expires_at = Utc::now() + Duration::seconds(super::ACCESS_TTL_SECS);
    let mut tx = state.db.begin().await?;
    if !oauth_grants::issue_access(&mut tx, &c.grant_id, &access.digest, expires_at).await? {
        return Err(OAuthError::new(
            "invalid_grant",
            "the sign-in behind this grant has ended",
        ));
    }
    let mut body = json!({
        "access_token": access.token.expose_secret(),
        "token_type": "Bearer",
        "expires_in": (expires_at.min(c.session_expires_at) - Utc::now()).num_seconds().max(1),
        "scope": c.scope,
    });
    if super::has_scope(&c.scope, "offline_access") {
        let rt = token::mint(REFRESH_PREFIX);
        let rt_exp = Utc::now() + Duration::seconds(super::REFRESH_TTL_SECS);
        oauth_grants::issue_refresh(&mut *tx, &c.grant_id, &rt.digest, rt_exp).await?;
        body["refresh_token"] = json!(rt.token.expose_secret());
    }
    tx.commit().await?;
    if with_id_token {
        body["id_token"] = json!(id_token(state, client, c).await?);
    }
    Ok(TokenSet { body })
}

/// Signs the ID token of a grant with the client's algorithm.
pub async fn id_token(state: &AppState, client: &Client, c: &GrantClaims) -> Result<String, ApiError> {
    let (kid, alg, key) = keys::signer(&state.db, &state.secrets, &client.id_token_alg).await?;
    let now = Utc::now().timestamp();
    let mut claims = identity_claims(c);
    let (amr, acr) = amr_acr(c);
    claims.insert("iss".into(), json!(state.settings.public_base()));
    claims.insert("aud".into(), json!(client.id));
    claims.insert("azp".into(), json!(client.id));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + super::ID_TOKEN_TTL_SECS));
    claims.insert("auth_time".into(), json!(c.auth_time.timestamp()));
    claims.insert("sid".into(), json!(c.session_id));
    claims.insert("amr".into(), amr);
    claims.insert("acr".into(), json!(acr));
    if let Some(n) = &c.nonce {
        claims.insert("nonce".into(), json!(n));
    }
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some(kid);
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| ApiError::Internal(format!("signing: {e}")))
}

/// The userinfo claims of a live access token.
pub async fn userinfo(state: &AppState, access_token: &str) -> Result<Option<Map<String, Value>>, ApiError> {
    if access_token.is_empty() || access_token.len() > 256 {
        return Ok(None);
    }
    let c = oauth_grants::access_claims(&state.db, &token::digest(access_token)).await?;
    Ok(c.map(|c| identity_claims(&c)))
}

/// RFC 7009: revokes `token` when it belongs to `client` (a refresh token takes its grant with it).
pub async fn revoke(state: &AppState, client: &Client, token_value: &str) -> Result<(), ApiError> {
    if token_value.is_empty() || token_value.len() > 256 {
        return Ok(());
    }
    let digest = token::digest(token_value);
    let mut tx = state.db.begin().await?;
    let Some(row) = oauth_grants::lock_token(&mut tx, &digest).await? else {
        return Ok(());
    };
    if row.client_id != client.id {
        return Ok(());
    }
    if row.kind == "refresh" {
        oauth_grants::revoke_grant(&mut *tx, &row.grant_id).await?;
    } else {
        oauth_grants::revoke_token(&mut *tx, &digest).await?;
    }
    tx.commit().await?;
    Ok(())
}
