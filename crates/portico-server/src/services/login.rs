//! Starting and completing SSO logins, shared by the browser flow (`/api/auth/sso/…`) and the
//! SDK flow (`/sso/…`). The login transaction lives in PostgreSQL (single use, short TTL); the
//! browser flow also binds it to the browser with a cookie the callback requires (login CSRF).

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use portico_core::idp::{CompleteContext, ExternalIdentity, LoginContext, LoginInput, LoginStart, PendingLogin};
use portico_core::token;
use portico_store::connections::{self, Connection};
use portico_store::logins::{self, LoginTransaction, NewLogin};
use portico_store::orgs::Organization;
use portico_store::{audit, StoreError};

use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::services::audit::{event, failed};
use crate::services::provision::Admitted;
use crate::services::sessions::CreatedSession;
use crate::state::AppState;

/// Which kind of login a transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Started at `/api/auth/sso/{slug}/login`, finished at the shared callback with a cookie.
    Browser,
    /// Started at `/sso/login`, finished server to server at `/sso/callback/*`.
    Sdk,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::Sdk => "sdk",
        }
    }
}

/// A failed login: a stable code for the caller, the precise reason for the audit log.
#[derive(Debug)]
pub struct LoginFailure {
    /// HTTP status for API callers.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Precise reason (audit only).
    pub reason: String,
    /// Organization, when known.
    pub organization_id: Option<String>,
    /// Connection, when known.
    pub connection_id: Option<String>,
}

impl LoginFailure {
    fn new(status: StatusCode, code: &'static str, reason: impl Into<String>) -> Self {
        Self {
            status,
            code,
            reason: reason.into(),
            organization_id: None,
            connection_id: None,
        }
    }

    /// A failure on `conn`.
    pub fn on(conn: &Connection, status: StatusCode, code: &'static str, reason: impl Into<String>) -> Self {
        Self::new(status, code, reason).at(conn)
    }

    fn at(mut self, conn: &Connection) -> Self {
        self.organization_id = Some(conn.organization_id.clone());
        self.connection_id = Some(conn.id.clone());
        self
    }

    /// As an API error for SDK callers (never 429/502/503/504 for deterministic failures).
    pub fn into_api(self) -> ApiError {
        let message = match self.code {
            "SSO_AUTH_FAILED" => "authentication failed".to_owned(),
            "IDP_UNAVAILABLE" => "the identity provider could not be reached".to_owned(),
            c => c.to_ascii_lowercase().replace('_', " "),
        };
        ApiError::Coded {
            status: self.status,
            code: self.code,
            message,
        }
    }
}

impl From<StoreError> for LoginFailure {
    fn from(e: StoreError) -> Self {
        let reason = format!("store: {e}");
        // The one store-error mapping decides the status and code (503 for an unreachable
        // database, 500 only for a bug).
        let api = ApiError::from(e);
        Self::new(api.status(), api.code(), reason)
    }
}

/// A started login.
#[derive(Debug)]
pub struct Started {
    /// Where to send the browser (None: collect credentials, LDAP).
    pub url: Option<String>,
    /// The browser-binding cookie (`Set-Cookie` value), browser mode only.
    pub set_cookie: Option<String>,
}

/// Picks the connection for a login: by the email's domain among active connections; else, for
/// a domain DNS-verified by the organization, its default connection (or its only active one);
/// else (when `fallback` is set) the organization's default connection. Never another org's.
pub async fn pick_connection(
    state: &AppState,
    org: &Organization,
    domain: Option<&str>,
    fallback: bool,
) -> Result<Connection, ApiError> {
    let all = connections::for_org(&state.db, &org.id).await?;
    if let Some(d) = domain.map(|d| {
        portico_core::domain::normalize(d).unwrap_or_else(|_| d.trim().trim_end_matches('.').to_ascii_lowercase())
    }) {
        if let Some(c) = all
            .iter()
            .find(|c| c.status == "active" && c.domains.iter().any(|x| x.eq_ignore_ascii_case(&d)))
        {
            return Ok(c.clone());
        }
        if portico_store::domains::is_verified_by(&state.db, &org.id, &d).await? {
            let mut active = all.iter().filter(|c| c.status == "active");
            let only = match (active.next(), active.next()) {
                (Some(c), None) => Some(c),
                _ => None,
            };
            if let Some(c) = all.iter().find(|c| c.is_default && c.status == "active").or(only) {
                return Ok(c.clone());
            }
        }
        if !fallback {
            return Err(ApiError::NotFound("SSO connection for this domain"));
        }
    }
    all.into_iter()
        .find(|c| c.is_default && c.status == "active")
        .ok_or(ApiError::NotFound("SSO connection"))
}

/// The cookie name binding the transaction of `state_param` to the browser.
pub fn binding_cookie_name(state_param: &str) -> String {
    let d = token::digest(state_param);
    format!("portico_login_{:02x}{:02x}{:02x}{:02x}", d[0], d[1], d[2], d[3])
}

/// Starts a login on `conn`.
pub async fn start(
    state: &AppState,
    conn: &Connection,
    mode: Mode,
    redirect_uri: String,
    return_to: Option<String>,
    login_hint: Option<String>,
) -> Result<Started, ApiError> {
    let provider = state.idp.provider(conn, &state.secrets).map_err(|e| {
        tracing::warn!(connection = %conn.id, error = %e, "connection unusable");
        ApiError::Coded {
            status: StatusCode::CONFLICT,
            code: e.code(),
            message: "the SSO connection is not usable".into(),
        }
    })?;
    let state_param = token::random_urlsafe(32);
    let now = Utc::now();
    let start = provider
        .begin_login(&LoginContext {
            state: state_param.clone(),
            redirect_uri: redirect_uri.clone(),
            login_hint,
            now,
        })
        .await
        .map_err(|e| {
            tracing::warn!(connection = %conn.id, error = %e, "login could not start");
            let status = if e.code() == "IDP_UNAVAILABLE" {
                StatusCode::BAD_GATEWAY
            } else {
                StatusCode::CONFLICT
            };
            ApiError::Coded {
                status,
                code: e.code(),
                message: "the identity provider could not be used".into(),
            }
        })?;
    let (url, pending) = match start {
        LoginStart::Redirect { url, pending } => (Some(url), pending),
        LoginStart::CollectCredentials => {
            return Ok(Started {
                url: None,
                set_cookie: None,
            })
        }
    };
    let binding = (mode == Mode::Browser).then(|| token::random_urlsafe(32));
    let binding_digest = binding.as_deref().map(token::digest);
    let pending = serde_json::to_value(&pending).map_err(|e| ApiError::Internal(e.to_string()))?;
    let ttl = state.settings.security.login_ttl_secs;
    logins::insert(
        &state.db,
        NewLogin {
            state_digest: &token::digest(&state_param),
            binding_digest: binding_digest.as_deref(),
            mode: mode.as_str(),
            organization_id: &conn.organization_id,
            connection_id: &conn.id,
            pending,
            return_to: return_to.as_deref(),
            expires_at: now + Duration::seconds(ttl),
        },
    )
    .await?;
    let set_cookie = binding.map(|b| {
        let secure = if state.settings.secure_cookies() {
            "; Secure"
        } else {
            ""
        };
        let same_site = crate::services::saml_login::binding_same_site(state, conn);
        format!(
            "{}={b}; Path=/api/auth/sso/callback; HttpOnly; SameSite={same_site}; Max-Age={ttl}{secure}",
            binding_cookie_name(&state_param)
        )
    });
    Ok(Started { url, set_cookie })
}

/// `Set-Cookie` clearing the binding cookie `name` (attributes as the SAML/OIDC start set them).
pub fn clear_binding_cookie(state: &AppState, name: &str) -> String {
    let attrs = if state.settings.secure_cookies() {
        "SameSite=None; Secure"
    } else {
        "SameSite=Lax"
    };
    format!("{name}=; Path=/api/auth/sso/callback; HttpOnly; {attrs}; Max-Age=0")
}

/// Consumes the transaction of `state_param` (it is gone afterwards, whatever happens) and checks
/// its expiry, its mode and, for browser logins, the binding cookie.
pub async fn consume(
    state: &AppState,
    state_param: &str,
    mode: Mode,
    binding: Option<&str>,
) -> Result<(LoginTransaction, Connection), LoginFailure> {
    if state_param.is_empty() || state_param.len() > 128 {
        return Err(LoginFailure::new(
            StatusCode::BAD_REQUEST,
            "INVALID_STATE",
            "state missing or oversized",
        ));
    }
    let (tx, conn) = logins::consume_with_connection(&state.db, &token::digest(state_param))
        .await?
        .ok_or_else(|| {
            LoginFailure::new(
                StatusCode::BAD_REQUEST,
                "INVALID_STATE",
                "unknown or already used state",
            )
        })?;
    let conn = conn.ok_or_else(|| {
        LoginFailure::new(
            StatusCode::BAD_REQUEST,
            "INVALID_STATE",
            "connection of the transaction is gone",
        )
    })?;
    if tx.expires_at <= Utc::now() {
        return Err(LoginFailure::new(
            StatusCode::BAD_REQUEST,
            "EXPIRED_STATE",
            format!("transaction {} expired", tx.id),
        )
        .at(&conn));
    }
    if tx.mode != mode.as_str() {
        return Err(LoginFailure::new(
            StatusCode::BAD_REQUEST,
            "LOGIN_MODE_MISMATCH",
            format!("{} transaction presented at the {} callback", tx.mode, mode.as_str()),
        )
        .at(&conn));
    }
    if mode == Mode::Browser {
        let ok = match (&tx.binding_hash, binding) {
            (Some(expected), Some(presented)) => {
                use subtle::ConstantTimeEq;
                bool::from(token::digest(presented).ct_eq(expected))
            }
            _ => false,
        };
        if !ok {
            return Err(LoginFailure::new(
                StatusCode::BAD_REQUEST,
                "LOGIN_BINDING_MISMATCH",
                "callback completed in a browser that did not start the login",
            )
            .at(&conn));
        }
    }
    if conn.status != "active" {
        return Err(LoginFailure::new(
            StatusCode::FORBIDDEN,
            "CONNECTION_INACTIVE",
            format!("connection status {}", conn.status),
        )
        .at(&conn));
    }
    Ok((tx, conn))
}

/// A completed login.
pub struct Completed {
    /// The session (token shown once).
    pub session: CreatedSession,
    /// The admitted user.
    pub admitted: Admitted,
    /// The identity as the IdP asserted it.
    pub identity: ExternalIdentity,
}

/// Completes a login on `conn` with what came back: the IdP's answer verified, then admission,
/// the session and its audit event (`services::signin`).
pub async fn complete(
    state: &AppState,
    ctx: &ClientInfo,
    conn: &Connection,
    pending: Option<PendingLogin>,
    input: LoginInput,
) -> Result<Completed, LoginFailure> {
    let provider = state
        .idp
        .provider(conn, &state.secrets)
        .map_err(|e| LoginFailure::new(StatusCode::CONFLICT, e.code(), e.to_string()).at(conn))?;
    let identity = provider
        .complete_login(
            &CompleteContext {
                pending,
                now: Utc::now(),
            },
            input,
        )
        .await
        .map_err(|e| {
            let status = match e.code() {
                // Deterministic failures: never a status the SDK retries.
                "IDP_UNAVAILABLE" => StatusCode::BAD_GATEWAY,
                "SSO_AUTH_FAILED" => StatusCode::UNAUTHORIZED,
                _ => StatusCode::BAD_REQUEST,
            };
            LoginFailure::new(status, e.code(), e.to_string()).at(conn)
        })?;
    crate::services::signin::finish(state, ctx, conn, identity).await
}

/// Writes the audit event of a failed login.
pub async fn audit_failure(state: &AppState, ctx: &ClientInfo, f: &LoginFailure) {
    let mut e = failed(event(ctx, None, f.organization_id.as_deref(), "sign_in.sso"), f.code);
    e.connection_id = f.connection_id.clone();
    e.details = Some(serde_json::json!({ "detail": f.reason }));
    if f.status.is_server_error() {
        tracing::warn!(code = f.code, reason = %f.reason, "sso login failed");
    } else {
        tracing::info!(code = f.code, reason = %f.reason, "sso login refused");
    }
    if let Err(err) = audit::record(&state.db, e).await {
        tracing::error!(error = %err, "audit write failed");
    }
}

/// The validated `returnTo`: an allowed target, or None (the caller falls back to `app.url`).
/// Allowed: an exact entry of `app.allowed_return_urls`, or anything under an entry (or under
/// `app.url`) that ends with `/`. No userinfo, no backslashes, http(s) only.
pub fn allowed_return(settings: &crate::config::Settings, candidate: &str) -> Option<String> {
    if candidate.len() > 2048 || candidate.contains('\\') || candidate.chars().any(char::is_control) {
        return None;
    }
    let url = url::Url::parse(candidate).ok()?;
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let normalized = url.to_string();
    let app = settings.app.url.as_str();
    let ok = std::iter::once(app)
        .chain(settings.app.allowed_return_urls.iter().map(String::as_str))
        .any(|allowed| {
            let allowed_norm = url::Url::parse(allowed).map(|u| u.to_string()).unwrap_or_default();
            normalized == allowed_norm || (allowed_norm.ends_with('/') && normalized.starts_with(&allowed_norm))
        });
    ok.then_some(normalized)
}

/// `app.url` with `?error=CODE`.
pub fn app_error_url(settings: &crate::config::Settings, code: &str) -> String {
    match url::Url::parse(&settings.app.url) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair("error", code);
            u.to_string()
        }
        Err(_) => settings.app.url.clone(),
    }
}
