//! Sign-in through an organization's identity provider: the one home of the SSO login, for
//! every protocol (OIDC, SAML, LDAP) and every entry point (browser, SDK, legacy).
//!
//! A login flows through three calls, and only these:
//! 1. [`pick_connection`] — which connection signs this user in (email domain, verified domain,
//!    default connection);
//! 2. [`start`] — the IdP's URL, with a single-use [`transaction`] stored in PostgreSQL (and,
//!    for a browser, the binding cookie's policy); LDAP answers "collect credentials" instead;
//! 3. [`complete`] with a [`Callback`] — the one sequence behind every callback: consume the
//!    transaction (expiry, mode, binding, connection active), read what it kept, verify the
//!    IdP's answer through the connection's provider, check the assertion against the
//!    [`replay`] cache, [`admission`] (JIT, linking, roles, session and success audit event),
//!    and on any refusal write the failure's audit event ([`failure::record`]).
//!
//! Everything returns domain values or a [`Failure`] (one refusal type); `api::signin_edge`
//! chooses the status code, the redirect and the `Set-Cookie` headers.

pub mod admission;
pub mod failure;
pub mod ldap;
pub mod mixup;
pub mod replay;
mod return_to;
pub mod transaction;
mod verify;

use chrono::{Duration, Utc};
use portico_core::connection::Protocol;
use portico_core::idp::{LoginContext, LoginInput, LoginStart};
use portico_core::token;
use portico_store::connections::{self, Connection};
use portico_store::logins::{self, NewLogin};
use portico_store::orgs::Organization;
use secrecy::SecretString;

pub use admission::Completed;
pub use failure::{Failure, Kind};
pub use return_to::allowed_return;
pub use transaction::{BindingCookie, Mode};

use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::services::connections::settings::{ProtocolFields, SamlSettings};
use crate::state::AppState;

/// A started login.
#[derive(Debug)]
pub struct Started {
    /// Where to send the browser (None: collect credentials, LDAP).
    pub url: Option<String>,
    /// The browser-binding cookie to set, browser mode only.
    pub binding: Option<BindingCookie>,
}

/// A completed login, with where it happened and where the browser goes next.
pub struct SignedIn {
    /// The connection that signed the user in.
    pub connection: Connection,
    /// The transaction's validated `returnTo` (browser logins started at Portico).
    pub return_to: Option<String>,
    /// The login.
    pub completed: Completed,
}

/// What came back to one of the entry points, for [`complete`].
pub enum Callback {
    /// The browser at an OIDC callback (`GET /api/auth/sso/callback[/{connectionId}]`).
    BrowserOidc {
        /// The connection id of a dedicated callback path; None for the shared one.
        arrived_on: Option<String>,
        /// `state`.
        state: String,
        /// The binding cookie the browser presented.
        binding: Option<String>,
        /// `code`.
        code: String,
        /// RFC 9207 `iss`.
        iss: Option<String>,
        /// `error` and `error_description`, when the IdP refused.
        error: Option<(String, String)>,
    },
    /// The browser at the shared SAML ACS (`POST /api/auth/sso/callback`).
    BrowserSaml {
        /// `RelayState`.
        relay_state: String,
        /// The binding cookie the browser presented.
        binding: Option<String>,
        /// `SAMLResponse` (base64).
        saml_response: String,
    },
    /// An unsolicited SAML response at `/api/auth/sso/saml/{connectionId}/acs`.
    IdpInitiated {
        /// The connection named by the path.
        connection_id: String,
        /// `SAMLResponse` (base64).
        saml_response: String,
    },
    /// The application server to server (`/sso/callback/{oidc,saml}`, legacy `/sso/callback`).
    Sdk {
        /// The caller's organization: a transaction of another is refused.
        organization_id: String,
        /// `state` / `RelayState`.
        state: String,
        /// The redirect URI the caller says it used (must be the login's).
        redirect_uri: Option<String>,
        /// The IdP's answer.
        input: LoginInput,
    },
    /// A directory password on an LDAP connection (`/sso/callback/ldap`,
    /// `/api/auth/sso/{slug}/ldap`), throttled ([`ldap`]).
    Ldap {
        /// The LDAP connection (boxed: the other arms are small).
        connection: Box<Connection>,
        /// Username as typed.
        username: String,
        /// Password.
        password: SecretString,
    },
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
            .find(|c| c.status.is_active() && c.domains.iter().any(|x| admission::provision::same_domain(x, &d)))
        {
            return Ok(c.clone());
        }
        if portico_store::domains::is_verified_by(&state.db, &org.id, &d).await? {
            let mut active = all.iter().filter(|c| c.status.is_active());
            let only = match (active.next(), active.next()) {
                (Some(c), None) => Some(c),
                _ => None,
            };
            if let Some(c) = all.iter().find(|c| c.is_default && c.status.is_active()).or(only) {
                return Ok(c.clone());
            }
        }
        if !fallback {
            return Err(ApiError::NotFound("SSO connection for this domain"));
        }
    }
    all.into_iter()
        .find(|c| c.is_default && c.status.is_active())
        .ok_or(ApiError::NotFound("SSO connection"))
}

/// Starts a login on `conn`: the IdP's URL and a stored transaction (browser mode: bound to the
/// browser by the returned cookie, and answered at the connection's dedicated callback instead
/// of `redirect_uri` when it has one, [`mixup`]). With `force_authn` the IdP must authenticate the person
/// afresh (the provider's `prompt=login` / `max_age`). Not audited here: the browser entry point
/// records failures.
pub async fn start(
    state: &AppState,
    conn: &Connection,
    mode: Mode,
    redirect_uri: String,
    return_to: Option<String>,
    login_hint: Option<String>,
    force_authn: bool,
) -> Result<Started, Failure> {
    let provider = state.idp.provider(conn, &state.secrets).map_err(|e| {
        tracing::warn!(connection = %conn.id, error = %e, "connection unusable");
        Failure::from(e).at(conn)
    })?;
    let redirect_uri = match mode {
        Mode::Browser => mixup::browser_redirect_uri(&state.settings, conn, redirect_uri),
        Mode::Sdk => redirect_uri,
    };
    let state_param = token::random_urlsafe(32);
    let now = Utc::now();
    let start = provider
        .begin_login(&LoginContext {
            state: state_param.clone(),
            redirect_uri: redirect_uri.clone(),
            login_hint,
            force_authn,
            now,
        })
        .await
        .map_err(|e| {
            tracing::warn!(connection = %conn.id, error = %e, "login could not start");
            Failure::from(e).at(conn)
        })?;
    let (url, pending) = match start {
        LoginStart::Redirect { url, pending } => (Some(url), pending),
        LoginStart::CollectCredentials => {
            return Ok(Started {
                url: None,
                binding: None,
            })
        }
    };
    // Browser logins are answered at Portico's own callback: a missing `iss` means something.
    let pending = portico_core::idp::PendingLogin {
        iss_expected: mode == Mode::Browser,
        ..pending
    };
    let binding = (mode == Mode::Browser).then(|| token::random_urlsafe(32));
    let binding_digest = binding.as_deref().map(token::digest);
    let pending = serde_json::to_value(&pending).map_err(|e| Failure::internal(conn, e.to_string()))?;
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
            expires_at: now + Duration::seconds(state.settings.security.login_ttl_secs),
        },
    )
    .await
    .map_err(|e| Failure::from(e).at(conn))?;
    let binding = binding.map(|b| transaction::binding_cookie(&state.settings, conn, &state_param, b));
    Ok(Started { url, binding })
}

/// Completes a login from any entry point: the one sequence (see the module documentation).
/// A refusal is audited before it is returned; the caller only renders it.
pub async fn complete(state: &AppState, ctx: &ClientInfo, callback: Callback) -> Result<SignedIn, Failure> {
    let result = complete_unaudited(state, ctx, callback).await;
    if let Err(f) = &result {
        failure::record(state, ctx, f).await;
    }
    result
}

async fn complete_unaudited(state: &AppState, ctx: &ClientInfo, callback: Callback) -> Result<SignedIn, Failure> {
    match callback {
        Callback::BrowserOidc {
            arrived_on,
            state: st,
            binding,
            code,
            iss,
            error,
        } => {
            let (tx, conn) = transaction::consume(state, &st, Mode::Browser, binding.as_deref()).await?;
            let completed = async {
                // Before anything of the answer is used (the transaction is spent all the same).
                mixup::check_arrival(&conn, arrived_on.as_deref())?;
                if let Some((err, desc)) = error {
                    return Err(Failure::on(
                        &conn,
                        Kind::Invalid,
                        "IDP_DENIED",
                        format!("IdP returned {err}: {desc}"),
                    ));
                }
                let pending = transaction::pending(&tx, &conn)?;
                let input = LoginInput::OidcCode { code, iss };
                verify::verify_and_admit(state, ctx, &conn, Some(pending), input).await
            }
            .await
            .map_err(|f| f.returning_to(&tx.return_to))?;
            Ok(SignedIn {
                connection: conn,
                return_to: tx.return_to,
                completed,
            })
        }
        Callback::BrowserSaml {
            relay_state,
            binding,
            saml_response,
        } => {
            let (tx, conn) = transaction::consume(state, &relay_state, Mode::Browser, binding.as_deref()).await?;
            let completed = async {
                if conn.protocol != Protocol::Saml {
                    return Err(Failure::on(
                        &conn,
                        Kind::Invalid,
                        "PROTOCOL_MISMATCH",
                        format!("{} transaction presented at the SAML ACS", conn.protocol),
                    ));
                }
                let pending = transaction::pending(&tx, &conn)?;
                let input = saml_input(&conn, saml_response)?;
                verify::verify_and_admit(state, ctx, &conn, Some(pending), input).await
            }
            .await
            .map_err(|f| f.returning_to(&tx.return_to))?;
            Ok(SignedIn {
                connection: conn,
                return_to: tx.return_to,
                completed,
            })
        }
        Callback::IdpInitiated {
            connection_id,
            saml_response,
        } => {
            let conn = idp_initiated_connection(state, &connection_id).await?;
            let input = saml_input(&conn, saml_response)?;
            let completed = verify::verify_and_admit(state, ctx, &conn, None, input).await?;
            Ok(SignedIn {
                connection: conn,
                return_to: None,
                completed,
            })
        }
        Callback::Sdk {
            organization_id,
            state: st,
            redirect_uri,
            input,
        } => {
            let (tx, conn) = transaction::consume(state, &st, Mode::Sdk, None).await?;
            if tx.organization_id != organization_id {
                let mut f = Failure::invalid_state("transaction of another organization");
                f.organization_id = Some(organization_id);
                return Err(f);
            }
            let pending = transaction::pending(&tx, &conn)?;
            if let Some(r) = redirect_uri.filter(|r| *r != pending.redirect_uri) {
                return Err(Failure::on(
                    &conn,
                    Kind::Invalid,
                    "REDIRECT_URI_MISMATCH",
                    format!("redirect_uri {r} differs from the login's"),
                ));
            }
            let completed = verify::verify_and_admit(state, ctx, &conn, Some(pending), input).await?;
            Ok(SignedIn {
                connection: conn,
                return_to: tx.return_to,
                completed,
            })
        }
        Callback::Ldap {
            connection,
            username,
            password,
        } => {
            let completed = ldap::sign_in(state, ctx, &connection, &username, password).await?;
            Ok(SignedIn {
                connection: *connection,
                return_to: None,
                completed,
            })
        }
    }
}

/// The SAML connection of an IdP-initiated response: it exists, opted in, and is active.
async fn idp_initiated_connection(state: &AppState, connection_id: &str) -> Result<Connection, Failure> {
    let unknown = || {
        Failure::new(
            Kind::NotFound,
            "CONNECTION_NOT_FOUND",
            format!("IdP-initiated response for unknown SAML connection {connection_id:.40}"),
        )
    };
    if !connection_id.starts_with("sso_") || connection_id.len() > 40 {
        return Err(unknown());
    }
    let conn = connections::by_id(&state.db, connection_id, None)
        .await?
        .filter(|c| c.protocol == Protocol::Saml)
        .ok_or_else(unknown)?;
    // Settings that cannot be read grant nothing: IdP-initiated login stays off.
    let allowed = SamlSettings::of(&conn).is_ok_and(|s| s.idp_initiated_allowed());
    if !allowed {
        return Err(Failure::on(
            &conn,
            Kind::Refused,
            "IDP_INITIATED_DISABLED",
            "unsolicited: IdP-initiated login is off for this connection",
        ));
    }
    transaction::ensure_active(&conn)?;
    Ok(conn)
}

/// A SAML response as the provider's input; an empty one is refused before any parsing.
fn saml_input(conn: &Connection, saml_response: String) -> Result<LoginInput, Failure> {
    if saml_response.is_empty() {
        return Err(Failure::on(
            conn,
            Kind::Invalid,
            "INVALID_ASSERTION",
            "format: no SAMLResponse",
        ));
    }
    Ok(LoginInput::SamlResponse { saml_response })
}
