//! The one refusal type of sign-in ([`Failure`]): a stable code for the caller, what kind of
//! refusal it is, the precise reason for the audit log, and where it happened. The edge
//! (`api::signin_edge`) turns the [`Kind`] into an HTTP status, a browser redirect or a JSON
//! error; nothing here knows HTTP.
//!
//! [`From<IdpError>`](Failure#impl-From<IdpError>-for-Failure) is the single table from an
//! adapter's error to a refusal, used when a provider is built, when a login starts and when it
//! completes.

use portico_core::idp::IdpError;
use portico_store::audit;
use portico_store::connections::Connection;
use portico_store::StoreError;

use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::services::audit::{event, failed};
use crate::state::AppState;

/// What kind of refusal a [`Failure`] is; the edge chooses the status from it (one table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The request or the IdP's answer is wrong (state, binding, assertion, denied, replayed).
    Invalid,
    /// The credentials or the authentication were refused (generic on purpose).
    Unauthenticated,
    /// Verified, but a rule says no (inactive connection, admission refusal, IdP-initiated off).
    Refused,
    /// The connection named by the request does not exist (IdP-initiated ACS).
    NotFound,
    /// The connection's configuration cannot be used (building the provider, metadata).
    Unusable,
    /// Too many failed attempts; retry after this many seconds.
    Throttled {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// The identity provider could not be reached.
    Upstream,
    /// The database could not be reached (pool exhausted).
    Unavailable,
    /// A bug or an unexpected store failure.
    Internal,
}

/// A refused sign-in. `code` is stable and shown; `reason` goes to the audit log only.
#[derive(Debug)]
pub struct Failure {
    /// What kind of refusal this is.
    pub kind: Kind,
    /// Stable code (`INVALID_STATE`, `SSO_AUTH_FAILED`, …).
    pub code: &'static str,
    /// Precise reason (audit only; never secrets).
    pub reason: String,
    /// Organization, when known.
    pub organization_id: Option<String>,
    /// Connection, when known.
    pub connection_id: Option<String>,
    /// The consumed transaction's return target, when the refusal came after it was read (the
    /// browser edge sends a provider login's failure back through its resume step). Boxed so
    /// the refusal stays small enough to travel in `Result` by value.
    pub return_to: Option<Box<str>>,
}

impl Failure {
    /// A refusal not (yet) tied to a connection.
    pub fn new(kind: Kind, code: &'static str, reason: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            reason: reason.into(),
            organization_id: None,
            connection_id: None,
            return_to: None,
        }
    }

    /// A refusal on `conn`.
    pub fn on(conn: &Connection, kind: Kind, code: &'static str, reason: impl Into<String>) -> Self {
        Self::new(kind, code, reason).at(conn)
    }

    /// The same refusal, placed on `conn`.
    pub fn at(mut self, conn: &Connection) -> Self {
        self.organization_id = Some(conn.organization_id.clone());
        self.connection_id = Some(conn.id.clone());
        self
    }

    /// The same refusal, remembering the consumed transaction's return target.
    pub fn returning_to(mut self, return_to: &Option<String>) -> Self {
        self.return_to = return_to.as_deref().map(Box::from);
        self
    }

    /// A transaction that cannot be used (`INVALID_STATE`).
    pub fn invalid_state(reason: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, "INVALID_STATE", reason)
    }

    /// An unexpected failure (`INTERNAL_ERROR`) on `conn`.
    pub fn internal(conn: &Connection, reason: impl Into<String>) -> Self {
        Self::on(conn, Kind::Internal, "INTERNAL_ERROR", reason)
    }

    /// The text shown to the caller: one table, by code.
    pub fn message(&self) -> String {
        match self.code {
            "SSO_AUTH_FAILED" => "authentication failed".to_owned(),
            "IDP_UNAVAILABLE" => "the identity provider could not be reached".to_owned(),
            "SSO_MISCONFIGURED" => "the SSO connection is not usable".to_owned(),
            "EMAIL_DOMAIN_CLAIMED" => {
                "this email's domain is verified by another organization; sign in through that organization".to_owned()
            }
            "ACCOUNT_LINK_REFUSED" => {
                "an account with this email exists and cannot be linked to this identity \
                                       provider; an owner of the organization can verify the email's domain to allow it"
                    .to_owned()
            }
            c => c.to_ascii_lowercase().replace('_', " "),
        }
    }
}

/// The single table from an adapter's error to a refusal.
impl From<IdpError> for Failure {
    fn from(e: IdpError) -> Self {
        let kind = match &e {
            IdpError::Config(_) | IdpError::Metadata(_) | IdpError::ResponseInvalid(_) => Kind::Unusable,
            IdpError::Unavailable(_) => Kind::Upstream,
            IdpError::InvalidCredentials(_) => Kind::Unauthenticated,
            IdpError::Denied { .. }
            | IdpError::TokenExchange(_)
            | IdpError::InvalidAssertion(_)
            | IdpError::Replay(_)
            | IdpError::Unsupported(_) => Kind::Invalid,
        };
        Self::new(kind, e.code(), e.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let reason = format!("store: {e}");
        // The one store-error mapping (`ApiError`'s) decides: an unreachable database is
        // `Unavailable` (503 with Retry-After at the edge), a bug is `Internal`.
        let api = ApiError::from(e);
        let kind = match &api {
            ApiError::Unavailable(_) => Kind::Unavailable,
            ApiError::Validation { .. } => Kind::Invalid,
            _ => Kind::Internal,
        };
        Self::new(kind, api.code(), reason)
    }
}

/// Writes the audit event of a failed sign-in (and logs it: a warning for our own faults).
pub async fn record(state: &AppState, ctx: &ClientInfo, f: &Failure) {
    let mut e = failed(event(ctx, None, f.organization_id.as_deref(), "sign_in.sso"), f.code);
    e.connection_id = f.connection_id.clone();
    e.details = Some(serde_json::json!({ "detail": f.reason }));
    if matches!(f.kind, Kind::Internal | Kind::Unavailable | Kind::Upstream) {
        tracing::warn!(code = f.code, reason = %f.reason, "sso login failed");
    } else {
        tracing::info!(code = f.code, reason = %f.reason, "sso login refused");
    }
    if let Err(err) = audit::record(&state.db, e).await {
        tracing::error!(error = %err, "audit write failed");
    }
}
