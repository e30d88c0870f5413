//! The assertion replay cache (SAML; any protocol whose identity carries a one-time assertion
//! ID): a second use of the same assertion on a connection is refused with `ASSERTION_REPLAYED`.
//! The cache lives in PostgreSQL; the sign-in's own path records the ID in the statement that
//! admits a returning identity (`admission`), [`check`] records it on its own otherwise.

use chrono::{Duration, Utc};
use portico_core::idp::ExternalIdentity;
use portico_store::connections::Connection;
use portico_store::signin::Replay;

use super::failure::{Failure, Kind};
use crate::state::AppState;

/// How long an assertion ID is remembered at least (when the IdP's window is shorter).
const MIN_REPLAY_RETENTION_SECS: i64 = 600;

/// What the replay cache keeps of the identity's assertion: its ID, until the assertion's expiry
/// and at least ten minutes.
pub fn record_of(identity: &ExternalIdentity) -> Option<Replay<'_>> {
    let id = identity.assertion_id.as_deref()?;
    let floor = Utc::now() + Duration::seconds(MIN_REPLAY_RETENTION_SECS);
    Some(Replay {
        assertion_id: id,
        expires_at: identity.expires_at.map_or(floor, |e| e.max(floor)),
    })
}

/// The failure of an assertion used a second time.
pub fn replayed(conn: &Connection, assertion_id: &str) -> Failure {
    Failure::on(
        conn,
        Kind::Invalid,
        "ASSERTION_REPLAYED",
        format!("assertion {assertion_id} was already used"),
    )
}

/// Records the identity's assertion ID (see [`record_of`]); a second use is refused.
pub async fn check(state: &AppState, conn: &Connection, identity: &ExternalIdentity) -> Result<(), Failure> {
    let Some(r) = record_of(identity) else {
        return Ok(());
    };
    match portico_store::replay::record(&state.db, &conn.id, r.assertion_id, r.expires_at).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(replayed(conn, r.assertion_id)),
        Err(e) => Err(Failure::internal(conn, format!("replay cache: {e}"))),
    }
}
