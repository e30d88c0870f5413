//! Who is calling: API keys and personal access tokens (`X-Api-Key`, `Authorization: Bearer`),
//! session tokens (bearer or the `portico_session` cookie). Every request re-checks revocation
//! and expiry in the database; no password hash runs per request (tokens are SHA-256 digests).

pub mod csrf;
pub mod org;
pub mod policy;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use chrono::{DateTime, Duration, Utc};
use portico_core::account::{AuthMethod, SessionMethod, UserStatus};
use portico_core::token;
use portico_store::{sessions, tokens};

use crate::error::ApiError;
use crate::state::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "portico_session";

/// How the caller authenticated.
#[derive(Clone, Debug)]
pub enum Credential {
    /// An API key / personal access token.
    ApiKey {
        /// Token row id.
        token_id: String,
        /// The organization the key is pinned to.
        pinned_org: Option<String>,
        /// How the session that minted it signed in.
        minted: tokens::MintedBy,
    },
    /// A session.
    Session {
        /// Session id.
        session_id: String,
        /// How it signed in.
        method: SessionMethod,
        /// MFA completed or asserted.
        mfa: bool,
        /// The organization an SSO session belongs to.
        organization_id: Option<String>,
        /// The SSO connection.
        connection_id: Option<String>,
        /// Expiry.
        expires_at: DateTime<Utc>,
    },
}

impl Credential {
    /// How the credential signed in: the session's method, or the minting session's for a
    /// token (`None` for a token older than that record).
    pub fn method(&self) -> Option<AuthMethod> {
        match self {
            Self::Session { method, .. } => Some(AuthMethod::from(*method)),
            Self::ApiKey { minted, .. } => minted.method,
        }
    }

    /// The organization whose identity provider vouched for this credential (SSO sessions, and
    /// tokens minted from one). One organization's IdP never vouches for a person elsewhere.
    pub fn sso_org(&self) -> Option<&str> {
        let org = match self {
            Self::Session { organization_id, .. } => organization_id.as_deref(),
            Self::ApiKey { minted, .. } => minted.org_id.as_deref(),
        };
        self.method().filter(|m| m.is_sso()).and(org)
    }

    /// True for SSO sessions of `org_id`, and tokens minted from one.
    pub fn is_sso_for(&self, org_id: &str) -> bool {
        self.sso_org() == Some(org_id)
    }

    /// True when the credential carries MFA that counts on `org_id`'s routes: the user's own
    /// TOTP counts everywhere, an IdP-asserted MFA only for the IdP's organization.
    pub fn mfa_for(&self, org_id: &str) -> bool {
        let mfa = match self {
            Self::Session { mfa, .. } => *mfa,
            Self::ApiKey { minted, .. } => minted.mfa,
        };
        match self.method() {
            Some(m) if m.is_sso() => mfa && self.sso_org() == Some(org_id),
            Some(_) => mfa,
            None => false,
        }
    }

    /// True for the operator's key made by `portico bootstrap`: outside the per-organization
    /// policy (it is how the owner reaches the settings that policy is made of).
    pub fn is_operator_key(&self) -> bool {
        matches!(self, Self::ApiKey { minted, .. } if minted.method == Some(AuthMethod::Bootstrap))
    }
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// User id.
    pub user_id: String,
    /// How they authenticated.
    pub credential: Credential,
    /// The user's profile as read with the credential (one query serves both).
    pub profile: CallerProfile,
}

/// The authenticated user's own fields.
#[derive(Clone, Debug)]
pub struct CallerProfile {
    /// Email.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl Caller {
    /// The actor kind for audit events.
    pub fn actor_kind(&self) -> &'static str {
        match self.credential {
            Credential::ApiKey { .. } => "api_key",
            Credential::Session { .. } => "session",
        }
    }
}

/// The bearer secret presented by a request: `X-Api-Key`, `Authorization: Bearer`, or the cookie.
pub fn presented_secret(headers: &HeaderMap) -> Option<String> {
    presented(headers).map(|(secret, _)| secret)
}

/// The presented secret and whether it came from the session cookie (which a browser attaches
/// on its own, so cookie-authenticated writes get the CSRF checks).
fn presented(headers: &HeaderMap) -> Option<(String, bool)> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some((v.trim().to_owned(), false));
    }
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, rest) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| (rest.trim().to_owned(), false));
    }
    cookie(headers, SESSION_COOKIE).map(|c| (c, true))
}

/// The value of cookie `name`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// Resolves a presented secret to a caller.
pub async fn authenticate(state: &AppState, secret: &str) -> Result<Caller, ApiError> {
    if secret.is_empty() || secret.len() > 256 {
        return Err(ApiError::Unauthorized("invalid credentials"));
    }
    let digest = token::digest(secret);
    if secret.starts_with(token::API_KEY_PREFIX) {
        let t = tokens::by_digest(&state.db, &digest)
            .await?
            .ok_or(ApiError::Unauthorized("invalid credentials"))?;
        let now = Utc::now();
        if t.revoked_at.is_some() || t.expires_at.is_some_and(|e| e <= now) || t.user_status != UserStatus::Active {
            return Err(ApiError::Unauthorized("invalid credentials"));
        }
        if t.last_used_at.is_none_or(|u| now - u > Duration::seconds(60)) {
            let db = state.db.clone();
            let id = t.id.clone();
            tokio::spawn(async move {
                let _ = tokens::touch(&db, &id).await;
            });
        }
        let minted = t.minted_by();
        return Ok(Caller {
            user_id: t.user_id,
            credential: Credential::ApiKey {
                minted,
                token_id: t.id,
                pinned_org: t.organization_id,
            },
            profile: CallerProfile {
                email: t.user_email,
                name: t.user_name,
                created_at: t.user_created_at,
            },
        });
    }
    if secret.starts_with(token::SESSION_PREFIX) {
        let s = sessions::live_by_digest(&state.db, &digest)
            .await?
            .ok_or(ApiError::Unauthorized("session expired or revoked"))?;
        if s.user_status != UserStatus::Active {
            return Err(ApiError::Unauthorized("invalid credentials"));
        }
        let profile = CallerProfile {
            email: s.email,
            name: s.name,
            created_at: s.user_created_at,
        };
        let s = s.session;
        return Ok(Caller {
            user_id: s.user_id,
            credential: Credential::Session {
                session_id: s.id,
                method: s.method,
                mfa: s.mfa,
                organization_id: s.organization_id,
                connection_id: s.connection_id,
                expires_at: s.expires_at,
            },
            profile,
        });
    }
    Err(ApiError::Unauthorized("invalid credentials"))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        let (secret, from_cookie) =
            presented(&parts.headers).ok_or(ApiError::Unauthorized("authentication required"))?;
        if from_cookie {
            csrf::check_cookie_write(parts, &state.settings)?;
        }
        let caller = authenticate(state, &secret).await?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}
