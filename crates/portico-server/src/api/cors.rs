//! Cross-origin resource sharing (SPEC §3 "Browsers and transport", §6), with tower-http's
//! [`CorsLayer`]. Two policies, and nothing else gets CORS headers:
//! - the Organization API answers `server.cors_allowed_origins` (exact origins) with
//!   credentialed CORS, preflight included, so a single-page app on another origin calls it with
//!   its session cookie;
//! - the provider's back-channel routes (discovery, JWKS, token, userinfo, revoke) answer the
//!   origins of registered redirect URIs, without credentials (they authenticate by
//!   `Authorization` or the form body, never by cookie). A preflight cannot name its client, so
//!   the union of every client's redirect origins is read from PostgreSQL on each CORS request
//!   (no cache a second replica would miss: a client added on one replica is honoured by all).
//!
//! Browser-navigation routes (the SSO login start, the callbacks, the SAML ACS, authorize,
//! logout) never answer CORS. The wildcard is never used, so credentials never meet `*`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use portico_store::PgPool;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::{exact_origin, Settings};

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Which CORS policy a path falls under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// The Organization API (credentialed, `server.cors_allowed_origins`).
    OrgApi,
    /// The provider's back-channel routes (registered redirect-URI origins).
    Provider,
    /// No CORS.
    None,
}

impl Family {
    /// The policy for `path`.
    pub fn of(path: &str) -> Self {
        if matches!(
            path,
            "/.well-known/openid-configuration"
                | "/oauth2/jwks"
                | "/oauth2/token"
                | "/oauth2/userinfo"
                | "/oauth2/revoke"
        ) {
            return Self::Provider;
        }
        let Some(rest) = path.strip_prefix("/api/") else {
            return Self::None;
        };
        // Under /api/auth/sso/ only the LDAP credential post is an API call; the rest are
        // browser navigations (login start, callbacks, SAML ACS and metadata).
        match rest.strip_prefix("auth/sso/") {
            Some(sso) if !(sso.ends_with("/ldap") && sso.matches('/').count() == 1) => Self::None,
            _ => Self::OrgApi,
        }
    }
}

/// The two configured policies.
#[derive(Clone)]
pub struct Policies {
    org: CorsLayer,
    provider: CorsLayer,
}

impl Policies {
    /// Builds both policies from the settings; the provider's origins are read from `db`.
    pub fn new(settings: &Settings, db: PgPool) -> Self {
        let org_origins: Vec<HeaderValue> = settings
            .server
            .cors_allowed_origins
            .iter()
            .filter_map(|o| exact_origin(o))
            .filter_map(|o| HeaderValue::from_str(&o).ok())
            .collect();
        let org = CorsLayer::new()
            .allow_origin(AllowOrigin::list(org_origins))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static("x-api-key"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
            .max_age(PREFLIGHT_MAX_AGE);
        let provider = CorsLayer::new()
            .allow_origin(AllowOrigin::async_predicate(move |origin: HeaderValue, _parts| {
                let db = db.clone();
                async move { redirect_origin_registered(&db, &origin).await }
            }))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .expose_headers([HeaderName::from_static("x-request-id"), header::WWW_AUTHENTICATE])
            .max_age(PREFLIGHT_MAX_AGE);
        Self { org, provider }
    }
}

/// True when `origin` is the origin of some client's registered redirect URI. A database
/// failure refuses (the browser then withholds the answer; the route itself reports the outage).
async fn redirect_origin_registered(db: &PgPool, origin: &HeaderValue) -> bool {
    let Some(origin) = origin.to_str().ok().and_then(exact_origin) else {
        return false;
    };
    match portico_store::oauth_clients::redirect_uris(db).await {
        Ok(uris) => uris.iter().filter_map(|u| exact_origin_of_uri(u)).any(|o| o == origin),
        Err(e) => {
            tracing::warn!(error = %e, "CORS: could not read the registered redirect URIs");
            false
        }
    }
}

/// The serialized http(s) origin of a full URI (`https://app.example.com/cb` →
/// `https://app.example.com`); private-use schemes have none.
fn exact_origin_of_uri(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    matches!(u.scheme(), "http" | "https").then(|| u.origin().ascii_serialization())
}

/// Middleware: applies the policy of the request's path.
pub async fn apply(State(p): State<Arc<Policies>>, req: Request, next: Next) -> Response {
    let layer = match Family::of(req.uri().path()) {
        Family::OrgApi => &p.org,
        Family::Provider => &p.provider,
        Family::None => return next.run(req).await,
    };
    let mut res = match layer.layer(next).oneshot(req).await {
        Ok(res) => res.into_response(),
        Err(never) => match never {},
    };
    // tower-http sends the credentials flag whatever the origin; a refused origin gets no CORS
    // header at all.
    if !res.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        for h in [
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            header::ACCESS_CONTROL_ALLOW_METHODS,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::ACCESS_CONTROL_MAX_AGE,
        ] {
            res.headers_mut().remove(h);
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(Family::of("/api/user/me"), Family::OrgApi);
        assert_eq!(Family::of("/api/auth/sign-in/password"), Family::OrgApi);
        assert_eq!(Family::of("/api/auth/sso/acme/ldap"), Family::OrgApi);
        assert_eq!(Family::of("/api/auth/sso/acme/login"), Family::None);
        assert_eq!(Family::of("/api/auth/sso/callback"), Family::None);
        assert_eq!(Family::of("/api/auth/sso/saml/c1/acs"), Family::None);
        assert_eq!(Family::of("/oauth2/token"), Family::Provider);
        assert_eq!(Family::of("/.well-known/openid-configuration"), Family::Provider);
        assert_eq!(Family::of("/oauth2/authorize"), Family::None);
        assert_eq!(Family::of("/oauth2/logout"), Family::None);
        assert_eq!(Family::of("/v1/sso/connections"), Family::None);
        assert_eq!(Family::of("/scim/v2/d/Users"), Family::None);
    }

    #[test]
    fn redirect_origins() {
        assert_eq!(
            exact_origin_of_uri("https://App.example.com:8443/cb?x=1").as_deref(),
            Some("https://app.example.com:8443")
        );
        assert_eq!(exact_origin_of_uri("com.example.app:/cb"), None);
    }
}
