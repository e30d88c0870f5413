//! The writes of a completed sign-in in as few statements (and commits) as possible — the hot
//! path of every SSO callback:
//! - [`insert_with_event`]: the session and its success audit event in one statement;
//! - [`returning`]: for an identity that signed in before, one statement that records the SAML
//!   assertion in the replay cache, reads the identity's user and membership and — only when
//!   admission has nothing to change (user active, already a member, role as group mapping wants
//!   it) — touches the identity (`last_login_at`) and inserts the session and its event.
//!   Otherwise only the replay record is written, and the caller runs the full admission (which
//!   touches the identity when it admits), then [`insert_with_event`].
//!
//! Each statement commits by itself: all of its rows or none. The identity's `last_login_at` is
//! touched with `SKIP LOCKED`: while another sign-in of the same identity is touching it (its
//! row lock held until it commits), that sign-in's time stands for this one too, instead of every
//! sign-in of one identity queueing behind the previous one's commit.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use portico_core::account::UserStatus;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{FromRow, PgExecutor, Postgres, Row};

use crate::audit::NewEvent;
use crate::sessions::{self, NewSession, Session};
use crate::users::User;
use crate::StoreError;

/// A new session and its success event. The event's actor is the session's user and its target
/// the session: `actor_user_id` and `target_id` of `event` are not used.
#[derive(Debug)]
pub struct Writes<'a> {
    /// The session.
    pub session: NewSession<'a>,
    /// Its audit event.
    pub event: NewEvent,
}

/// An assertion to record in the replay cache until `expires_at`.
#[derive(Debug, Clone, Copy)]
pub struct Replay<'a> {
    /// The assertion ID.
    pub assertion_id: &'a str,
    /// How long to remember it.
    pub expires_at: DateTime<Utc>,
}

/// The sign-in of an identity that may have signed in before.
#[derive(Debug)]
pub struct Returning<'a> {
    /// The connection: the identity's, and the replay cache's.
    pub connection_id: &'a str,
    /// The identity's subject at the connection.
    pub subject: &'a str,
    /// The connection's organization, of which the user must already be a member.
    pub organization_id: &'a str,
    /// The assertion to record first: when it was recorded already, nothing else is written.
    pub replay: Option<Replay<'a>>,
    /// When group mapping decides roles: the role the member must already have (an owner passes
    /// whatever it is). None: any role passes.
    pub wanted_role: Option<&'a str>,
    /// What to write when it passes.
    pub writes: Writes<'a>,
}

/// A signed-in user and the new session (its event written with it).
#[derive(Debug)]
pub struct SignedIn {
    /// The user.
    pub user: User,
    /// The session.
    pub session: Session,
}

/// What [`returning`] did.
#[derive(Debug)]
pub enum Outcome {
    /// The assertion had been recorded already: nothing was written.
    Replayed,
    /// Signed in.
    SignedIn(Box<SignedIn>),
    /// Admission must decide (unknown identity, disabled user, not a member, a role to change):
    /// only the replay record was written.
    NeedsAdmission,
}

/// The session ($1–$12) and event ($13–$22) inserts for the user of the CTE `who` (`id`, `admit`).
fn write_ctes() -> String {
    format!(
        "s AS (INSERT INTO sessions AS s (id, user_id, organization_id, method, mfa, token_hash, ip, user_agent,
                                          expires_at, connection_id, idp_subject, groups, mapped_scopes)
               SELECT $1, who.id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM who WHERE who.admit
               RETURNING {}),
         e AS (INSERT INTO audit_events (id, organization_id, actor_user_id, actor_kind, action, outcome, reason,
                                         target_id, connection_id, ip, request_id, details)
               SELECT $13, $14, s.user_id, $15, $16, $17, $18, s.id, $19, $20, $21, $22 FROM s)",
        sessions::COLS
    )
}

static INSERT_WITH_EVENT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH who AS (SELECT $23::text AS id, true AS admit), {} SELECT * FROM s",
        write_ctes()
    )
});

static RETURNING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH r AS (INSERT INTO saml_replay_cache (connection_id, assertion_id, expires_at)
                    SELECT $23, $24, $25 WHERE $24::text IS NOT NULL
                    ON CONFLICT (connection_id, assertion_id)
                    DO UPDATE SET expires_at = EXCLUDED.expires_at, created_at = now()
                    WHERE saml_replay_cache.expires_at < now()
                    RETURNING 1),
              fresh AS (SELECT $24::text IS NULL OR EXISTS (SELECT 1 FROM r) AS ok),
              i AS (SELECT id, user_id FROM external_identities
                    WHERE connection_id = $23 AND subject = $26 AND (SELECT ok FROM fresh)),
              who AS (SELECT u.id, u.email, u.name, u.password_hash, u.status, u.created_at,
                             coalesce(u.status = 'active' AND m.role IS NOT NULL AND m.status = 'active'
                                      AND ($28::text IS NULL OR m.role IN ('owner', $28))
                                      -- a SCIM user waiting for this subject: admission links it
                                      AND NOT EXISTS (SELECT 1 FROM scim_users su JOIN scim_directories sd ON sd.id = su.directory_id
                                                      WHERE sd.organization_id = $27 AND su.external_id = $26 AND su.user_id IS NULL), false) AS admit
                      FROM i JOIN users u ON u.id = i.user_id
                      LEFT JOIN memberships m ON m.organization_id = $27 AND m.user_id = u.id),
              touch AS (UPDATE external_identities SET last_login_at = now()
                        WHERE id = (SELECT e.id FROM external_identities e JOIN i ON e.id = i.id
                                    WHERE (SELECT admit FROM who) FOR UPDATE OF e SKIP LOCKED)),
              {}
         SELECT fresh.ok AS replay_ok, who.id AS u_id, who.email AS u_email, who.name AS u_name,
                who.password_hash AS u_password_hash, who.status AS u_status, who.created_at AS u_created_at, s.*
         FROM fresh LEFT JOIN who ON true LEFT JOIN s ON true",
        write_ctes()
    )
});

fn bind_writes<'q>(q: Query<'q, Postgres, PgArguments>, w: Writes<'q>) -> Query<'q, Postgres, PgArguments> {
    let (s, e) = (w.session, w.event);
    let (kind, outcome) = (e.actor_kind_or_system(), e.outcome());
    let ua = s.user_agent_capped();
    q.bind(s.id)
        .bind(s.organization_id)
        .bind(s.method.as_str())
        .bind(s.mfa)
        .bind(s.digest)
        .bind(s.ip)
        .bind(ua)
        .bind(s.expires_at)
        .bind(s.connection_id)
        .bind(s.idp_subject)
        .bind(s.groups)
        .bind(s.mapped_scopes)
        .bind(portico_core::ids::prefixed(portico_core::ids::AUDIT_EVENT))
        .bind(e.organization_id)
        .bind(kind)
        .bind(e.action)
        .bind(outcome)
        .bind(e.reason)
        .bind(e.connection_id)
        .bind(e.ip)
        .bind(e.request_id)
        .bind(e.details.unwrap_or_else(|| serde_json::json!({})))
}

/// Inserts the session of `user_id` and its success event in one statement.
pub async fn insert_with_event(
    db: impl PgExecutor<'_>,
    user_id: &str,
    writes: Writes<'_>,
) -> Result<Session, StoreError> {
    Ok(bind_writes(sqlx::query(&INSERT_WITH_EVENT), writes)
        .bind(user_id)
        .try_map(|row: sqlx::postgres::PgRow| Session::from_row(&row))
        .fetch_one(db)
        .await?)
}

/// The user columns of [`RETURNING`], aliased apart from the session's.
#[derive(FromRow)]
struct UserCols {
    u_id: String,
    u_email: String,
    u_name: Option<String>,
    u_password_hash: Option<String>,
    #[sqlx(try_from = "String")]
    u_status: UserStatus,
    u_created_at: DateTime<Utc>,
}

impl From<UserCols> for User {
    fn from(c: UserCols) -> Self {
        Self {
            id: c.u_id,
            email: c.u_email,
            name: c.u_name,
            password_hash: c.u_password_hash,
            status: c.u_status,
            created_at: c.u_created_at,
        }
    }
}

/// The returning sign-in of [`Returning`] in one statement; see [`Outcome`].
pub async fn returning(db: impl PgExecutor<'_>, r: Returning<'_>) -> Result<Outcome, StoreError> {
    let (assertion_id, replay_until) = match r.replay {
        Some(p) => (Some(p.assertion_id), Some(p.expires_at)),
        None => (None, None),
    };
    let row = bind_writes(sqlx::query(&RETURNING), r.writes)
        .bind(r.connection_id)
        .bind(assertion_id)
        .bind(replay_until)
        .bind(r.subject)
        .bind(r.organization_id)
        .bind(r.wanted_role)
        .fetch_one(db)
        .await?;
    if !row.try_get::<bool, _>("replay_ok")? {
        return Ok(Outcome::Replayed);
    }
    if row.try_get::<Option<String>, _>("id")?.is_none() {
        return Ok(Outcome::NeedsAdmission);
    }
    Ok(Outcome::SignedIn(Box::new(SignedIn {
        user: UserCols::from_row(&row)?.into(),
        session: Session::from_row(&row)?,
    })))
}
