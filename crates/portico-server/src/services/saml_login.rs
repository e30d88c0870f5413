//! SAML-specific parts of the login flow: the binding cookie that must survive the IdP's
//! cross-site POST, the assertion-ID replay cache (every SAML completion), the browser ACS and
//! the opt-in IdP-initiated ACS.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use portico_core::idp::{ExternalIdentity, LoginInput, PendingLogin};
use portico_store::connections::{self, Connection};
use portico_store::signin::Replay;

use crate::extract::ClientInfo;
use crate::services::login::{self, Completed, LoginFailure, Mode};
use crate::state::AppState;

/// How long an assertion ID is remembered at least (when the IdP's window is shorter).
const MIN_REPLAY_RETENTION_SECS: i64 = 600;

/// `SameSite` of the browser-binding cookie: SAML's POST binding is a cross-site POST, which a
/// `Lax` cookie does not accompany, so SAML connections use `None` (with `Secure`) on https.
pub fn binding_same_site(state: &AppState, conn: &Connection) -> &'static str {
    if conn.protocol == "saml" && state.settings.secure_cookies() {
        "None"
    } else {
        "Lax"
    }
}

/// What the replay cache keeps of the identity's assertion (SAML only): its ID, until the
/// assertion's expiry and at least ten minutes.
pub fn replay_record(identity: &ExternalIdentity) -> Option<Replay<'_>> {
    let id = identity.assertion_id.as_deref()?;
    let floor = Utc::now() + Duration::seconds(MIN_REPLAY_RETENTION_SECS);
    Some(Replay {
        assertion_id: id,
        expires_at: identity.expires_at.map_or(floor, |e| e.max(floor)),
    })
}

/// The failure of an assertion used a second time.
pub fn replayed(conn: &Connection, assertion_id: &str) -> LoginFailure {
    LoginFailure::on(
        conn,
        StatusCode::BAD_REQUEST,
        "ASSERTION_REPLAYED",
        format!("assertion {assertion_id} was already used"),
    )
}

/// Records the identity's assertion ID in the replay cache (see [`replay_record`]); a second use
/// of the same assertion on the connection is refused. (The sign-in's own path records it in
/// the statement that admits a returning identity: `services::signin`.)
pub async fn check_replay(
    state: &AppState,
    conn: &Connection,
    identity: &ExternalIdentity,
) -> Result<(), LoginFailure> {
    let Some(r) = replay_record(identity) else {
        return Ok(());
    };
    match portico_store::replay::record(&state.db, &conn.id, r.assertion_id, r.expires_at).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(replayed(conn, r.assertion_id)),
        Err(e) => Err(LoginFailure::on(
            conn,
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            format!("replay cache: {e}"),
        )),
    }
}

/// The browser ACS: the transaction of `relay_state` (browser mode, binding cookie), then the
/// response validated against its request ID and ACS.
pub async fn browser_acs(
    state: &AppState,
    ctx: &ClientInfo,
    relay_state: &str,
    binding: Option<&str>,
    saml_response: String,
) -> Result<(Option<String>, Completed), LoginFailure> {
    let (tx, conn) = login::consume(state, relay_state, Mode::Browser, binding).await?;
    if conn.protocol != "saml" {
        return Err(LoginFailure::on(
            &conn,
            StatusCode::BAD_REQUEST,
            "PROTOCOL_MISMATCH",
            format!("{} transaction presented at the SAML ACS", conn.protocol),
        ));
    }
    let pending: PendingLogin = serde_json::from_value(tx.pending.clone()).map_err(|e| {
        LoginFailure::on(
            &conn,
            StatusCode::BAD_REQUEST,
            "INVALID_STATE",
            format!("transaction without SAML request data: {e}"),
        )
    })?;
    if saml_response.is_empty() {
        return Err(LoginFailure::on(
            &conn,
            StatusCode::BAD_REQUEST,
            "INVALID_ASSERTION",
            "format: no SAMLResponse",
        ));
    }
    let done = login::complete(
        state,
        ctx,
        &conn,
        Some(pending),
        LoginInput::SamlResponse { saml_response },
    )
    .await?;
    Ok((tx.return_to, done))
}

/// IdP-initiated login at `/api/auth/sso/saml/{connectionId}/acs`: only for a SAML connection
/// that opted in; the response must be unsolicited, addressed to that ACS, and is replay-checked.
pub async fn idp_initiated(
    state: &AppState,
    ctx: &ClientInfo,
    connection_id: &str,
    saml_response: String,
) -> Result<(Connection, Completed), LoginFailure> {
    let unknown = || LoginFailure {
        status: StatusCode::NOT_FOUND,
        code: "CONNECTION_NOT_FOUND",
        reason: format!("IdP-initiated response for unknown SAML connection {connection_id:.40}"),
        organization_id: None,
        connection_id: None,
    };
    if !connection_id.starts_with("sso_") || connection_id.len() > 40 {
        return Err(unknown());
    }
    let conn = connections::by_id(&state.db, connection_id, None)
        .await?
        .filter(|c| c.protocol == "saml")
        .ok_or_else(unknown)?;
    if conn
        .config
        .get("allowIdpInitiated")
        .and_then(serde_json::Value::as_bool)
        != Some(true)
    {
        return Err(LoginFailure::on(
            &conn,
            StatusCode::FORBIDDEN,
            "IDP_INITIATED_DISABLED",
            "unsolicited: IdP-initiated login is off for this connection",
        ));
    }
    if conn.status != "active" {
        return Err(LoginFailure::on(
            &conn,
            StatusCode::FORBIDDEN,
            "CONNECTION_INACTIVE",
            format!("connection status {}", conn.status),
        ));
    }
    if saml_response.is_empty() {
        return Err(LoginFailure::on(
            &conn,
            StatusCode::BAD_REQUEST,
            "INVALID_ASSERTION",
            "format: no SAMLResponse",
        ));
    }
    let done = login::complete(state, ctx, &conn, None, LoginInput::SamlResponse { saml_response }).await?;
    Ok((conn, done))
}
