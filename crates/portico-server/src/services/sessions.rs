//! Creating sessions (the cookie that carries them is rendered at the edge: `api::signin_edge`).

use chrono::{DateTime, Duration, Utc};
use portico_core::account::SessionMethod;
use portico_core::idp::{ExternalIdentity, Protocol};
use portico_core::{ids, token};
use portico_store::sessions::{self, NewSession, Session};
use secrecy::SecretString;
use sqlx::PgExecutor;

use crate::config::Settings;
use crate::error::ApiError;
use crate::extract::ClientInfo;

/// What a new session is for (by default: a password session without MFA).
#[derive(Debug)]
pub struct SessionSpec<'a> {
    /// The user.
    pub user_id: &'a str,
    /// How it signed in.
    pub method: SessionMethod,
    /// MFA flag.
    pub mfa: bool,
    /// The organization (SSO).
    pub organization_id: Option<&'a str>,
    /// The connection (SSO).
    pub connection_id: Option<&'a str>,
    /// IdP subject.
    pub idp_subject: Option<&'a str>,
    /// Groups.
    pub groups: &'a [String],
    /// Mapped scopes.
    pub mapped_scopes: &'a [String],
    /// The IdP's own expiry, followed when configured and shorter.
    pub idp_expires_at: Option<DateTime<Utc>>,
}

impl Default for SessionSpec<'_> {
    fn default() -> Self {
        Self {
            user_id: "",
            method: SessionMethod::Password,
            mfa: false,
            organization_id: None,
            connection_id: None,
            idp_subject: None,
            groups: &[],
            mapped_scopes: &[],
            idp_expires_at: None,
        }
    }
}

/// A created session and its token (shown once).
pub struct CreatedSession {
    /// The row.
    pub session: Session,
    /// The bearer token.
    pub token: SecretString,
}

/// The expiry of a new session: the configured maximum, or the IdP's bound on it
/// ([`idp_bound`]) when that is sooner (but at least one minute away).
pub fn expiry(settings: &Settings, now: DateTime<Utc>, idp_bound: Option<DateTime<Utc>>) -> DateTime<Utc> {
    let max = now + Duration::seconds(settings.security.session_max_age_secs);
    match idp_bound {
        Some(e) if e < max => e.max(now + Duration::seconds(60)),
        _ => max,
    }
}

/// What the IdP says about the end of the session it starts (SPEC §3 Sessions): SAML
/// `SessionNotOnOrAfter` always; the OIDC ID token's `exp` only with
/// `security.follow_idp_session_lifetime`; the sooner of the two. A SAML assertion's own
/// validity window (`expires_at` there) never counts: it is no session lifetime.
pub fn idp_bound(settings: &Settings, protocol: Protocol, identity: &ExternalIdentity) -> Option<DateTime<Utc>> {
    let followed = identity
        .expires_at
        .filter(|_| settings.security.follow_idp_session_lifetime && protocol == Protocol::Oidc);
    [followed, identity.session_not_on_or_after].into_iter().flatten().min()
}

/// A session about to be written: its id, its token (shown once) and the token's digest.
pub struct Minted {
    /// Row id (`ses_…` for password sessions, `ssosess_…` for SSO).
    pub id: String,
    /// The bearer token.
    pub token: SecretString,
    /// SHA-256 of the token (what is stored).
    pub digest: Vec<u8>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// Mints the id, token and expiry of a new session signed in by `method` (see [`expiry`]).
pub fn mint(settings: &Settings, method: SessionMethod, idp_expires_at: Option<DateTime<Utc>>) -> Minted {
    let minted = token::mint(token::SESSION_PREFIX);
    let id = if method.is_sso() {
        ids::prefixed(ids::SSO_SESSION)
    } else {
        ids::prefixed(ids::SESSION)
    };
    Minted {
        id,
        token: minted.token,
        digest: minted.digest,
        expires_at: expiry(settings, Utc::now(), idp_expires_at),
    }
}

/// Creates a session.
pub async fn create(
    db: impl PgExecutor<'_>,
    settings: &Settings,
    spec: SessionSpec<'_>,
    client: &ClientInfo,
) -> Result<CreatedSession, ApiError> {
    let minted = mint(settings, spec.method, spec.idp_expires_at);
    let session = sessions::insert(
        db,
        spec.user_id,
        NewSession {
            id: &minted.id,
            organization_id: spec.organization_id,
            method: spec.method,
            mfa: spec.mfa,
            digest: &minted.digest,
            ip: client.ip.as_deref(),
            user_agent: client.user_agent.as_deref(),
            expires_at: minted.expires_at,
            connection_id: spec.connection_id,
            idp_subject: spec.idp_subject,
            groups: spec.groups,
            mapped_scopes: spec.mapped_scopes,
        },
    )
    .await?;
    Ok(CreatedSession {
        session,
        token: minted.token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_the_configured_maximum_or_the_sooner_idp_bound() {
        let mut s = Settings::default();
        s.security.session_max_age_secs = 3600;
        let now = Utc::now();
        let max = now + Duration::seconds(3600);
        let idp_short = now + Duration::seconds(600);
        let idp_long = now + Duration::seconds(7200);
        // A bound sooner than the maximum shortens the session.
        assert_eq!(expiry(&s, now, Some(idp_short)), idp_short);
        // An OIDC `exp` counts only when followed; SessionNotOnOrAfter always; a SAML
        // assertion's window never.
        let oidc = ExternalIdentity {
            expires_at: Some(idp_short),
            ..Default::default()
        };
        assert_eq!(idp_bound(&s, Protocol::Oidc, &oidc), None);
        let saml = ExternalIdentity {
            expires_at: Some(idp_short),
            session_not_on_or_after: Some(idp_long),
            assertion_id: Some("_a1".into()),
            ..Default::default()
        };
        assert_eq!(idp_bound(&s, Protocol::Saml, &saml), Some(idp_long));
        let saml_plain = ExternalIdentity {
            session_not_on_or_after: None,
            ..saml.clone()
        };
        assert_eq!(idp_bound(&s, Protocol::Saml, &saml_plain), None);
        s.security.follow_idp_session_lifetime = true;
        assert_eq!(idp_bound(&s, Protocol::Oidc, &oidc), Some(idp_short));
        assert_eq!(idp_bound(&s, Protocol::Saml, &saml), Some(idp_long));
        assert_eq!(idp_bound(&s, Protocol::Saml, &saml_plain), None);
        assert_eq!(expiry(&s, now, Some(idp_short)), idp_short);
        // The IdP can shorten a session, never lengthen it past the maximum.
        assert_eq!(expiry(&s, now, Some(idp_long)), max);
        assert_eq!(expiry(&s, now, None), max);
        // An IdP lifetime already over still leaves a valid (one-minute) session row.
        assert_eq!(
            expiry(&s, now, Some(now - Duration::seconds(5))),
            now + Duration::seconds(60)
        );
    }
}
