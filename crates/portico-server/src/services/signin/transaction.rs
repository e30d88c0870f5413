//! The login transaction: server-side state between [`super::start`] and the callback, in
//! PostgreSQL (single use, short TTL, shared by replicas). Its modes, its consumption (with every
//! check a callback needs before the IdP's answer is read), and the policy of the cookie that
//! binds a browser login to the browser that started it (login CSRF). The edge renders that
//! policy as a `Set-Cookie` header; the attributes are decided here.

use chrono::Utc;
use portico_core::idp::{PendingLogin, Protocol};
use portico_core::token;
use portico_store::connections::Connection;
use portico_store::logins::{self, LoginTransaction};

use super::failure::{Failure, Kind};
use crate::config::Settings;
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
    /// Database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::Sdk => "sdk",
        }
    }
}

/// The path every binding cookie is scoped to (the shared callback / ACS).
pub const BINDING_COOKIE_PATH: &str = "/api/auth/sso/callback";

/// The browser-binding cookie to set or clear. The edge renders it as `Set-Cookie`.
#[derive(Debug)]
pub struct BindingCookie {
    /// Cookie name ([`binding_cookie_name`]).
    pub name: String,
    /// The value (empty when clearing).
    pub value: String,
    /// `SameSite` attribute.
    pub same_site: &'static str,
    /// `Max-Age` in seconds (0 clears).
    pub max_age_secs: i64,
    /// Whether the cookie carries `Secure`.
    pub secure: bool,
}

/// The cookie name binding the transaction of `state_param` to the browser.
pub fn binding_cookie_name(state_param: &str) -> String {
    let d = token::digest(state_param);
    format!("portico_login_{:02x}{:02x}{:02x}{:02x}", d[0], d[1], d[2], d[3])
}

/// `SameSite` of the browser-binding cookie: SAML's POST binding is a cross-site POST, which a
/// `Lax` cookie does not accompany, so SAML connections use `None` (with `Secure`) on https.
pub fn binding_same_site(settings: &Settings, conn: &Connection) -> &'static str {
    if conn.protocol == Protocol::Saml && settings.secure_cookies() {
        "None"
    } else {
        "Lax"
    }
}

/// The binding cookie set at the start of a browser login on `conn`.
pub fn binding_cookie(settings: &Settings, conn: &Connection, state_param: &str, value: String) -> BindingCookie {
    BindingCookie {
        name: binding_cookie_name(state_param),
        value,
        same_site: binding_same_site(settings, conn),
        max_age_secs: settings.security.login_ttl_secs,
        secure: settings.secure_cookies(),
    }
}

/// The cookie clearing the binding cookie `name` at the callback, whatever its connection was
/// (`SameSite=None; Secure` on https so it reaches a SAML POST too).
pub fn clear_binding_cookie(settings: &Settings, name: String) -> BindingCookie {
    let secure = settings.secure_cookies();
    BindingCookie {
        name,
        value: String::new(),
        same_site: if secure { "None" } else { "Lax" },
        max_age_secs: 0,
        secure,
    }
}

/// Consumes the transaction of `state_param` (it is gone afterwards, whatever happens) and checks
/// its expiry, its mode and, for browser logins, the binding cookie; then that its connection is
/// still active.
pub async fn consume(
    state: &AppState,
    state_param: &str,
    mode: Mode,
    binding: Option<&str>,
) -> Result<(LoginTransaction, Connection), Failure> {
    if state_param.is_empty() || state_param.len() > 128 {
        return Err(Failure::invalid_state("state missing or oversized"));
    }
    let (tx, conn) = logins::consume_with_connection(&state.db, &token::digest(state_param))
        .await?
        .ok_or_else(|| Failure::invalid_state("unknown or already used state"))?;
    let conn = conn.ok_or_else(|| Failure::invalid_state("connection of the transaction is gone"))?;
    if tx.expires_at <= Utc::now() {
        return Err(Failure::on(
            &conn,
            Kind::Invalid,
            "EXPIRED_STATE",
            format!("transaction {} expired", tx.id),
        ));
    }
    if tx.mode != mode.as_str() {
        return Err(Failure::on(
            &conn,
            Kind::Invalid,
            "LOGIN_MODE_MISMATCH",
            format!("{} transaction presented at the {} callback", tx.mode, mode.as_str()),
        ));
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
            return Err(Failure::on(
                &conn,
                Kind::Invalid,
                "LOGIN_BINDING_MISMATCH",
                "callback completed in a browser that did not start the login",
            ));
        }
    }
    ensure_active(&conn)?;
    Ok((tx, conn))
}

/// What the transaction kept for completion. A stored value that cannot be read is refused as
/// `INVALID_STATE` on every entry point (it used to be dropped silently on some).
pub fn pending(tx: &LoginTransaction, conn: &Connection) -> Result<PendingLogin, Failure> {
    serde_json::from_value(tx.pending.clone())
        .map_err(|e| Failure::invalid_state(format!("transaction {} has unreadable pending data: {e}", tx.id)).at(conn))
}

/// Refuses a connection that is not active (`CONNECTION_INACTIVE`).
pub fn ensure_active(conn: &Connection) -> Result<(), Failure> {
    if !conn.status.is_active() {
        return Err(Failure::on(
            conn,
            Kind::Refused,
            "CONNECTION_INACTIVE",
            format!("connection status {}", conn.status),
        ));
    }
    Ok(())
}
