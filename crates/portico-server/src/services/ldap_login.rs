//! Directory-password sign-in (LDAP), shared by `/sso/callback/ldap` and
//! `/api/auth/sso/{slug}/ldap`: one generic failure to the caller, the precise reason audited.

use axum::http::StatusCode;
use portico_core::idp::LoginInput;
use portico_store::connections::Connection;
use secrecy::{ExposeSecret, SecretString};

use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::services::login::{self, Completed, LoginFailure};
use crate::state::AppState;

/// Longest password accepted before any bind.
pub const MAX_PASSWORD: usize = 1024;

/// Signs a directory user in through `conn`.
pub async fn sign_in(state: &AppState, ctx: &ClientInfo, conn: &Connection, username: &str, password: SecretString) -> Result<Completed, ApiError> {
    let fail = |reason: &str| LoginFailure {
        status: StatusCode::UNAUTHORIZED,
        code: "SSO_AUTH_FAILED",
        reason: reason.to_owned(),
        organization_id: Some(conn.organization_id.clone()),
        connection_id: Some(conn.id.clone()),
    };
    let pw_len = password.expose_secret().len();
    let refusal = if username.trim().is_empty() || username.len() > 256 {
        Some(fail("username empty or over 256 bytes"))
    } else if pw_len == 0 || pw_len > MAX_PASSWORD {
        Some(fail("password empty or over the length limit (refused before any bind)"))
    } else if conn.status != "active" {
        Some(LoginFailure { status: StatusCode::FORBIDDEN, code: "CONNECTION_INACTIVE", ..fail("connection inactive") })
    } else {
        None
    };
    if let Some(f) = refusal {
        login::audit_failure(state, ctx, &f).await;
        return Err(f.into_api());
    }
    let input = LoginInput::Credentials { username: username.to_owned(), password };
    match login::complete(state, ctx, conn, None, input).await {
        Ok(done) => Ok(done),
        Err(f) => {
            login::audit_failure(state, ctx, &f).await;
            Err(f.into_api())
        }
    }
}
