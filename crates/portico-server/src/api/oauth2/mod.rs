//! The OpenID Provider's HTTP edge (SPEC §6): discovery, JWKS, authorize, token, userinfo,
//! revocation and RP-initiated logout. Browser routes answer with the page family or redirects,
//! the back-channel routes with RFC 6749 JSON.

mod authorize;
mod endpoints;
mod ldap_step;
pub mod page;
mod reply;
mod request;
mod resume;
mod routing;

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::api::Api;
use crate::openapi::shapes;
use crate::services::provider::{keys, CLAIMS, SCOPES};
use crate::state::AppState;

const JSON: &str = "application/json";
const HTML: &str = "text/html";

/// The authorization request's parameters (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1).
const AUTHORIZE_PARAMS: &[(&str, &str)] = &[
    ("client_id", "The registered client"),
    ("redirect_uri", "One of the client's registered redirect URIs"),
    ("response_type", "code"),
    ("scope", "openid, profile, email, offline_access"),
    ("state", "Returned to the client"),
    ("nonce", "Put in the ID token"),
    ("code_challenge", "PKCE (RFC 7636)"),
    ("code_challenge_method", "S256"),
    ("prompt", "none, login, consent or select_account"),
    ("login_hint", "The person's email"),
    ("connection", "A connection id"),
    ("organization", "An organization id or slug"),
    ("domain_hint", "An email domain"),
];

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("oauth2", false)
        .get(
            "/.well-known/openid-configuration",
            "OpenID Provider discovery",
            discovery,
        )
        .json_shape(200, JSON, shapes::oidc_discovery())
        .get("/oauth2/jwks", "ID-token signing keys (JWKS)", jwks)
        .json_shape(200, JSON, shapes::jwks())
        .get(
            "/oauth2/authorize",
            "Authorization endpoint (code flow; browser)",
            authorize::authorize,
        )
        .query_names(AUTHORIZE_PARAMS)
        .redirect(302)
        .media(200, HTML)
        .get(
            resume::RESUME_PATH,
            "Continue an authorization once the sign-in completed (browser)",
            resume::resume,
        )
        .query_names(&[("h", "The pending authorization's handle")])
        .redirect(302)
        .media(200, HTML)
        .post(
            ldap_step::PATH,
            "The directory-password step of an authorization routed to an LDAP connection (browser form)",
            ldap_step::submit,
        )
        .form::<ldap_step::CredentialForm>()
        .redirect(302)
        .post(
            "/oauth2/token",
            "Token endpoint (authorization_code, refresh_token)",
            endpoints::token,
        )
        .form_shape(shapes::token_form())
        .json_shape(200, JSON, shapes::token_set())
        .get(
            "/oauth2/userinfo",
            "UserInfo (Bearer access token)",
            endpoints::userinfo,
        )
        .json_shape(200, JSON, shapes::userinfo())
        .post(
            "/oauth2/userinfo",
            "UserInfo (Bearer access token)",
            endpoints::userinfo,
        )
        .no_body()
        .json_shape(200, JSON, shapes::userinfo())
        .post("/oauth2/revoke", "Token revocation (RFC 7009)", endpoints::revoke)
        .form_shape(shapes::revoke_form())
        .json_shape(200, JSON, shapes::empty_object())
        .get("/oauth2/logout", "RP-initiated logout (browser)", endpoints::logout)
        .query_names(&[
            ("id_token_hint", "An ID token this provider issued"),
            ("post_logout_redirect_uri", "A registered post-logout URI"),
            ("state", "Returned to the application"),
        ])
        .redirect(302)
        .media(200, HTML)
}

/// Where a refused sign-in goes when `return_to` is a provider resume URL (`…/oauth2/authorize/
/// resume?h=…`): that URL with `error` (an RFC 6749 code) and `error_code` (Portico's stable
/// code); the resume step checks the browser binding and forwards them to the client.
pub fn resume_failure_url(
    settings: &crate::config::Settings,
    return_to: &str,
    code: &str,
    error: &str,
) -> Option<String> {
    let prefix = format!("{}{}?", settings.public_base(), resume::RESUME_PATH);
    if !return_to.starts_with(&prefix) {
        return None;
    }
    let mut u = url::Url::parse(return_to).ok()?;
    u.query_pairs_mut()
        .append_pair("error", error)
        .append_pair("error_code", code);
    Some(u.to_string())
}

async fn discovery(State(state): State<AppState>) -> Response {
    let base = state.settings.public_base();
    let doc = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "userinfo_endpoint": format!("{base}/oauth2/userinfo"),
        "jwks_uri": format!("{base}/oauth2/jwks"),
        "revocation_endpoint": format!("{base}/oauth2/revoke"),
        "end_session_endpoint": format!("{base}/oauth2/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": SCOPES,
        "claims_supported": CLAIMS,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    ([(CACHE_CONTROL, "public, max-age=300")], Json(doc)).into_response()
}

async fn jwks(State(state): State<AppState>) -> Response {
    match keys::jwks(&state.db).await {
        Ok(doc) => ([(CACHE_CONTROL, "public, max-age=300")], Json(doc)).into_response(),
        Err(e) => endpoints::error_response(&e.into(), false),
    }
}
