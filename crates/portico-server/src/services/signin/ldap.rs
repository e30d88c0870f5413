//! Directory-password sign-in (LDAP), the [`super::Callback::Ldap`] arm of `complete`, shared by
//! `/sso/callback/ldap` and `/api/auth/sso/{slug}/ldap`: one generic failure to the caller, the precise reason audited,
//! and throttling so the endpoint is no password oracle against the company's directory.
//!
//! Throttling (state in PostgreSQL, shared by replicas; see `portico_store::throttle`):
//! - per (connection, username) — usernames keyed case-insensitively through a keyed digest —
//!   [`USER_POLICY`]: from the 5th failure on, each failure locks the username for a doubling
//!   delay (5 s, 10 s, 20 s … 15 min), forgotten after an hour without failures or by a success;
//! - per connection, [`CONNECTION_POLICY`]: from 100 failures on (password spraying across
//!   usernames), locks of 1 s doubling to 60 s, forgotten after 5 quiet minutes.
//!
//! A locked attempt is refused as `RATE_LIMITED` ([`Kind::Throttled`], with the seconds to wait)
//! before any LDAP traffic.
//! Attempts are counted *before* the bind, so a parallel burst cannot slip past the threshold;
//! an attempt that ends without a verdict on the password (directory down, misconfiguration) is
//! uncounted, and a success clears its username.

use portico_core::idp::LoginInput;
use portico_store::connections::Connection;
use portico_store::throttle::{self, Admission, Policy, Ticket};
use secrecy::{ExposeSecret, SecretString};

use super::admission::{self, Completed};
use super::failure::{Failure, Kind};
use super::transaction::ensure_active;
use super::verify::verify;
use crate::extract::ClientInfo;
use crate::state::AppState;

/// Longest password accepted before any bind.
pub const MAX_PASSWORD: usize = portico_ldap::MAX_PASSWORD;
/// Longest username accepted before any search.
pub const MAX_USERNAME: usize = portico_ldap::MAX_USERNAME;

/// Throttling of one username on one connection.
pub const USER_POLICY: Policy = Policy {
    threshold: 5,
    base_delay_secs: 5.0,
    max_delay_secs: 900.0,
    reset_after_secs: 3600.0,
};
/// Throttling of a whole connection (password spraying).
pub const CONNECTION_POLICY: Policy = Policy {
    threshold: 100,
    base_delay_secs: 1.0,
    max_delay_secs: 60.0,
    reset_after_secs: 300.0,
};

/// The connection-wide throttle key.
const CONNECTION_KEY: &[u8] = &[];

/// Signs a directory user in through `conn` (the failure is not yet audited: `complete` does).
pub(super) async fn sign_in(
    state: &AppState,
    ctx: &ClientInfo,
    conn: &Connection,
    username: &str,
    password: SecretString,
) -> Result<Completed, Failure> {
    let auth_failed = |reason: &str| Failure::on(conn, Kind::Unauthenticated, "SSO_AUTH_FAILED", reason);
    let pw_len = password.expose_secret().len();
    if username.trim().is_empty() || username.len() > MAX_USERNAME {
        return Err(auth_failed(
            "username empty or over 256 bytes (refused before any search)",
        ));
    }
    if pw_len == 0 || pw_len > MAX_PASSWORD {
        return Err(auth_failed(
            "password empty or over the length limit (refused before any bind)",
        ));
    }
    ensure_active(conn)?;
    let settings =
        crate::idp::ldap::settings(&state.idp, conn, &state.secrets).map_err(|e| Failure::from(e).at(conn))?;
    let user_key = portico_ldap::throttle_key(&settings, username).to_vec();
    let tickets = admit(state, conn, &user_key).await?;
    let input = LoginInput::Credentials {
        username: username.to_owned(),
        password,
    };
    let outcome = match verify(state, conn, None, input).await {
        Ok(identity) => admission::finish(state, ctx, conn, identity)
            .await
            .map_err(|f| after_the_bind(conn, f)),
        Err(f) => Err(f),
    };
    settle(state, conn, &user_key, &tickets, outcome.as_ref().err().map(|f| f.code)).await;
    outcome
}

/// A refusal after a successful bind (not admitted, email outside the domains, disabled, not
/// provisioned, a domain claimed elsewhere…) answers, and counts toward the throttle, exactly
/// like a wrong password: a distinct answer would confirm the directory password (SPEC §3 LDAP).
/// The precise code stays in the audited reason. Our own faults (database, bugs) keep theirs.
fn after_the_bind(conn: &Connection, f: Failure) -> Failure {
    match f.kind {
        Kind::Invalid | Kind::Unauthenticated | Kind::Refused | Kind::NotFound => Failure::on(
            conn,
            Kind::Unauthenticated,
            "SSO_AUTH_FAILED",
            format!("{} after a successful bind: {}", f.code, f.reason),
        ),
        _ => f,
    }
}

/// The two counted attempts of one sign-in.
struct Tickets {
    user: Ticket,
    connection: Ticket,
}

/// Counts the attempt for the username, then for the connection; a locked key refuses it
/// ([`Kind::Throttled`]) and uncounts what was already counted.
async fn admit(state: &AppState, conn: &Connection, user_key: &[u8]) -> Result<Tickets, Failure> {
    let store_err = |e: portico_store::StoreError| Failure::internal(conn, format!("throttle store: {e}"));
    let user = match throttle::begin(&state.db, &conn.id, user_key, &USER_POLICY)
        .await
        .map_err(store_err)?
    {
        Admission::Allowed(t) => t,
        Admission::Locked { retry_after_secs } => {
            let reason = format!("throttled: too many failed sign-ins for this username on this connection; refused without a bind for {retry_after_secs} s more");
            return Err(throttled(conn, retry_after_secs, reason));
        }
    };
    let connection = match throttle::begin(&state.db, &conn.id, CONNECTION_KEY, &CONNECTION_POLICY).await {
        Ok(Admission::Allowed(t)) => t,
        Ok(Admission::Locked { retry_after_secs }) => {
            release(state, conn, user_key, &user).await;
            let reason = format!("throttled: too many failed sign-ins on this connection; refused without a bind for {retry_after_secs} s more");
            return Err(throttled(conn, retry_after_secs, reason));
        }
        Err(e) => {
            release(state, conn, user_key, &user).await;
            return Err(store_err(e));
        }
    };
    Ok(Tickets { user, connection })
}

fn throttled(conn: &Connection, retry_after_secs: u64, reason: String) -> Failure {
    Failure::on(conn, Kind::Throttled { retry_after_secs }, "RATE_LIMITED", reason)
}

/// Settles the counted attempts: a wrong password (or unknown user) stays counted; a success
/// clears the username; anything else (no verdict on the password) is uncounted.
async fn settle(state: &AppState, conn: &Connection, user_key: &[u8], t: &Tickets, failed_code: Option<&str>) {
    match failed_code {
        Some("SSO_AUTH_FAILED") => {
            if t.user.lock_set.is_some() || t.connection.lock_set.is_some() {
                tracing::warn!(connection = %conn.id, user_failures = t.user.failures, connection_failures = t.connection.failures, "LDAP sign-in throttled after repeated failures");
            }
        }
        None => {
            if let Err(e) = throttle::clear(&state.db, &conn.id, user_key).await {
                tracing::warn!(error = %e, "clearing the LDAP throttle failed");
            }
            release(state, conn, CONNECTION_KEY, &t.connection).await;
        }
        Some(_) => {
            release(state, conn, user_key, &t.user).await;
            release(state, conn, CONNECTION_KEY, &t.connection).await;
        }
    }
}

async fn release(state: &AppState, conn: &Connection, key: &[u8], ticket: &Ticket) {
    if let Err(e) = throttle::release(&state.db, &conn.id, key, ticket).await {
        tracing::warn!(error = %e, "releasing an LDAP throttle count failed");
    }
}
