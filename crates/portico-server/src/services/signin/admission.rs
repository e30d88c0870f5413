//! Admission: the database side of an SSO sign-in once the IdP's answer is verified, in as few statements
//! and commits as possible (`portico_store::signin`):
//! - a returning identity that admission would leave as it is (active user, already a member,
//!   role as group mapping wants it): ONE statement records the SAML assertion in the replay
//!   cache (a replay writes nothing else), reads the identity's user and membership, touches the
//!   identity and inserts the session with its audit event;
//! - otherwise that statement has committed only the replay record; the full admission
//!   ([`provision::admit_checked`]: JIT, linking, role changes, in its own transaction) decides,
//!   then the session and its audit event are inserted in one statement.
//!
//! A session and its audit event are written together or not at all: a failed audit write fails
//! the sign-in (it used to be logged while the session stood).
//!
//! An identity refused before any lookup (no usable email, marked unverified, a foreign domain,
//! a domain another organization verified) has its assertion recorded all the same, first, so that a replay is reported as one.

pub mod autojoin;
mod linking;
pub mod provision;
mod refusal;

use portico_core::idp::ExternalIdentity;
use portico_store::connections::Connection;
use portico_store::sessions::NewSession;
use portico_store::signin::{self, Outcome, Returning, SignedIn, Writes};
use serde_json::json;

use self::provision::{Admitted, Refusal};
use super::failure::{Failure, Kind};
use super::replay;
use crate::extract::ClientInfo;
use crate::services::audit::event;
use crate::services::sessions::{self, CreatedSession};
use crate::state::AppState;

/// A completed login: the session and who it is for.
pub struct Completed {
    /// The session (token shown once).
    pub session: CreatedSession,
    /// The admitted user.
    pub admitted: Admitted,
    /// The identity as the IdP asserted it.
    pub identity: ExternalIdentity,
}

/// Admits the verified `identity` through `conn`, creates its session and audits the success.
pub async fn finish(
    state: &AppState,
    ctx: &ClientInfo,
    conn: &Connection,
    identity: ExternalIdentity,
) -> Result<Completed, Failure> {
    let (email, domain) = match provision::check_email(conn, &identity) {
        Ok(checked) => checked,
        Err(r) => {
            replay::check(state, conn, &identity).await?;
            return Err(refused(conn, r));
        }
    };
    // The IdP's session is over already (SAML SessionNotOnOrAfter): no session of ours either.
    if let Some(end) = identity.session_not_on_or_after.filter(|e| *e <= chrono::Utc::now()) {
        replay::check(state, conn, &identity).await?;
        let reason = format!("time: the IdP's session ended at {end} (SessionNotOnOrAfter)");
        return Err(Failure::on(conn, Kind::Invalid, "INVALID_ASSERTION", reason));
    }
    // Verified domains are authoritative, for returning identities too.
    let claimed = linking::domain_not_claimed(&state.db, conn, &domain)
        .await
        .map_err(|e| Failure::from(e).at(conn))?;
    if let Err(r) = claimed {
        replay::check(state, conn, &identity).await?;
        return Err(refused(conn, r));
    }
    let mapped_scopes = provision::map_scopes(conn, &identity.groups);
    let wanted_role = provision::wanted_role(conn, &identity.groups);
    let minted = sessions::mint(
        &state.settings,
        conn.protocol.into(),
        sessions::idp_bound(&state.settings, conn.protocol, &identity),
    );
    let session = NewSession {
        id: &minted.id,
        organization_id: Some(&conn.organization_id),
        method: conn.protocol.into(),
        mfa: identity.mfa,
        digest: &minted.digest,
        ip: ctx.ip.as_deref(),
        user_agent: ctx.user_agent.as_deref(),
        expires_at: minted.expires_at,
        connection_id: Some(&conn.id),
        idp_subject: Some(&identity.subject),
        groups: &identity.groups,
        mapped_scopes: &mapped_scopes,
    };
    let replay = replay::record_of(&identity);
    let returning = signin::returning(
        &state.db,
        Returning {
            connection_id: &conn.id,
            subject: &identity.subject,
            organization_id: &conn.organization_id,
            replay,
            wanted_role: wanted_role.as_deref(),
            writes: Writes {
                session,
                event: success_event(ctx, conn, &identity, false),
            },
        },
    )
    .await
    .map_err(|e| Failure::internal(conn, format!("store: {e}")))?;
    let (admitted, session) = match returning {
        Outcome::Replayed => {
            let id = replay.map_or("", |r| r.assertion_id);
            return Err(replay::replayed(conn, id));
        }
        Outcome::SignedIn(signed_in) => {
            let SignedIn { user, session } = *signed_in;
            let admitted = Admitted {
                user,
                provisioned: false,
                mapped_scopes: mapped_scopes.clone(),
            };
            (admitted, session)
        }
        Outcome::NeedsAdmission => {
            let admitted = provision::admit_checked(&state.db, conn, &identity, email, &domain)
                .await
                .map_err(|r| refused(conn, r))?;
            // `mapped_scopes` is what admission maps too.
            let writes = Writes {
                session,
                event: success_event(ctx, conn, &identity, admitted.provisioned),
            };
            let session = signin::insert_with_event(&state.db, &admitted.user.id, writes)
                .await
                .map_err(|e| Failure::internal(conn, e.to_string()))?;
            (admitted, session)
        }
    };
    Ok(Completed {
        session: CreatedSession {
            session,
            token: minted.token,
        },
        admitted,
        identity,
    })
}

/// The success event of a sign-in through `conn` (its actor and target, the user and the
/// session, are set where it is written).
fn success_event(
    ctx: &ClientInfo,
    conn: &Connection,
    identity: &ExternalIdentity,
    provisioned: bool,
) -> portico_store::audit::NewEvent {
    let mut e = event(ctx, None, Some(&conn.organization_id), "sign_in.sso");
    e.actor_kind = "user";
    e.connection_id = Some(conn.id.clone());
    e.details = Some(json!({
        "protocol": conn.protocol, "subject": identity.subject, "provisioned": provisioned, "mfa": identity.mfa,
    }));
    e
}

fn refused(conn: &Connection, r: Refusal) -> Failure {
    if r.code == "INTERNAL" {
        Failure::internal(conn, r.reason)
    } else {
        Failure::on(conn, Kind::Refused, r.code, r.reason)
    }
}
