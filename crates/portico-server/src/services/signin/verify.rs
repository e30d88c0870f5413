//! The IdP's answer verified by the connection's provider, then admitted: the common tail of
//! every callback (transaction-based, IdP-initiated and LDAP).

use chrono::Utc;
use portico_core::idp::{CompleteContext, ExternalIdentity, LoginInput, PendingLogin};
use portico_store::connections::Connection;

use super::admission::{self, Completed};
use super::failure::Failure;
use crate::extract::ClientInfo;
use crate::state::AppState;

/// The IdP's answer verified by the connection's provider, then [`admission::finish`].
pub(super) async fn verify_and_admit(
    state: &AppState,
    ctx: &ClientInfo,
    conn: &Connection,
    pending: Option<PendingLogin>,
    input: LoginInput,
) -> Result<Completed, Failure> {
    let identity = verify(state, conn, pending, input).await?;
    admission::finish(state, ctx, conn, identity).await
}

/// The IdP's answer verified by the connection's provider (for LDAP: the search and the bind).
pub(super) async fn verify(
    state: &AppState,
    conn: &Connection,
    pending: Option<PendingLogin>,
    input: LoginInput,
) -> Result<ExternalIdentity, Failure> {
    let provider = state
        .idp
        .provider(conn, &state.secrets)
        .map_err(|e| Failure::from(e).at(conn))?;
    provider
        .complete_login(
            &CompleteContext {
                pending,
                now: Utc::now(),
            },
            input,
        )
        .await
        .map_err(|e| Failure::from(e).at(conn))
}
