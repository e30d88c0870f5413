//! Seed-004 SSO: `settings/sso` (+ `/test`), the canonical entry point
//! `GET /api/auth/sso/{slug}/login`, the one shared callback `GET /api/auth/sso/callback`, and a
//! connection's dedicated one `GET /api/auth/sso/callback/{connectionId}`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portico_core::connection::Protocol;
use portico_store::{connections, orgs};
use secrecy::SecretString;
use serde::Deserialize;

use crate::api::cookies::{binding_set_cookie, session_cookie};
use crate::api::signin_edge as edge;
use crate::api::Api;
use crate::auth::cookie;
use crate::auth::org::OrgAccess;
use crate::auth::policy::Need;
use crate::error::ApiError;
use crate::extract::{ClientInfo, ValidJson, ValidQuery};
use crate::openapi::shapes;
use crate::respond::redirect_with_cookies;
use crate::respond::{Envelope, OrgResult};
use crate::services::signin::{self, transaction, Callback, Mode};
use crate::services::sso_settings::SsoSettingsView;
use crate::services::sso_settings::{self, SsoSettingsInput};
use crate::state::AppState;

/// The OpenID Connect authorization response (RFC 6749 §4.1.2, RFC 9207).
const CALLBACK_PARAMS: &[(&str, &str)] = &[
    ("code", "Authorization code"),
    ("state", "The transaction's state"),
    ("iss", "The issuer (RFC 9207)"),
    ("error", "The provider's error code"),
    ("error_description", "The provider's error text"),
];

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("sso-settings", true)
        .put(
            "/api/user/organizations/{orgId}/settings/sso",
            "Set the default OIDC connection (owner)",
            put_settings,
        )
        .body::<SettingsBody>()
        .data::<SsoSettingsView>(200)
        .get(
            "/api/user/organizations/{orgId}/settings/sso",
            "Read the default OIDC connection (owner)",
            get_settings,
        )
        .data::<SsoSettingsView>(200)
        .delete(
            "/api/user/organizations/{orgId}/settings/sso",
            "Remove the default OIDC connection (owner)",
            delete_settings,
        )
        .data_shape(200, shapes::deleted())
        .post(
            "/api/user/organizations/{orgId}/settings/sso/test",
            "Test discovery, issuer and JWKS (owner)",
            test_settings,
        )
        .no_body()
        .data_shape(200, shapes::settings_test())
        .section("sso-login", false)
        .get(
            "/api/auth/sso/{slug}/login",
            "Start SSO: 302 to the organization's identity provider",
            login_start,
        )
        .query::<LoginQuery>()
        .redirect(302)
        .get(
            "/api/auth/sso/callback",
            "The shared OIDC callback: completes the login, sets the session",
            oidc_callback,
        )
        .query_names(CALLBACK_PARAMS)
        .redirect(302)
        .get(
            "/api/auth/sso/callback/{connectionId}",
            "A connection's dedicated OIDC callback (dedicatedCallback: mix-up protection)",
            oidc_dedicated_callback,
        )
        .query_names(CALLBACK_PARAMS)
        .redirect(302)
        .post(
            "/api/auth/sso/{slug}/ldap",
            "Sign in with a directory password (LDAP connection)",
            ldap_sign_in,
        )
        .body::<LdapBody>()
        .data_shape(200, shapes::ldap_signed_in())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SettingsBody {
    provider: String,
    issuer_url: String,
    client_id: String,
    #[schema(value_type = String)]
    client_secret: SecretString,
}

async fn put_settings(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    ValidJson(b): ValidJson<SettingsBody>,
) -> OrgResult {
    let input = SsoSettingsInput {
        provider: b.provider,
        issuer_url: b.issuer_url,
        client_id: b.client_id,
        client_secret: b.client_secret,
    };
    let conn = sso_settings::put(&state, &ctx, &access, input).await?;
    Ok(Envelope::ok(sso_settings::view(&state, &access.org.slug, &conn)).message("SSO settings saved"))
}

async fn get_settings(State(state): State<AppState>, access: OrgAccess) -> OrgResult {
    access.require(Need::Owner)?;
    let conn = connections::default_for(&state.db, &access.org.id)
        .await?
        .ok_or(ApiError::NotFound("SSO settings"))?;
    Ok(Envelope::ok(sso_settings::view(&state, &access.org.slug, &conn)))
}

async fn delete_settings(State(state): State<AppState>, ctx: ClientInfo, access: OrgAccess) -> OrgResult {
    sso_settings::delete(&state, &ctx, &access).await?;
    Ok(Envelope::ok(serde_json::json!({ "deleted": true })).message("SSO settings removed"))
}

async fn test_settings(State(state): State<AppState>, ctx: ClientInfo, access: OrgAccess) -> OrgResult {
    access.require(Need::Owner)?;
    let conn = connections::default_for(&state.db, &access.org.id)
        .await?
        .ok_or(ApiError::NotFound("SSO settings"))?;
    let report = crate::services::connections::test(&state, &ctx, &access, &conn).await?;
    let message = match report.first_failure() {
        None => "SSO configuration is valid".to_owned(),
        Some(c) => format!("SSO configuration test failed at {}: {}", c.name, c.message),
    };
    Ok(
        Envelope::ok(serde_json::json!({ "success": report.success(), "message": message, "checks": report.checks }))
            .message(message),
    )
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LoginQuery {
    /// The person's email (routes to the connection of its domain).
    email: Option<String>,
    /// Where to land after sign-in (an allowed URL).
    return_to: Option<String>,
}

async fn login_start(
    State(state): State<AppState>,
    ctx: ClientInfo,
    Path(slug): Path<String>,
    ValidQuery(q): ValidQuery<LoginQuery>,
) -> Result<Response, ApiError> {
    let org = match portico_core::slug::is_valid(&slug) {
        true => orgs::by_slug(&state.db, &slug).await?,
        false => None,
    }
    .ok_or(ApiError::NotFound("organization"))?;
    let email = q.email.filter(|e| !e.is_empty());
    if email.as_deref().is_some_and(|e| e.len() > 320 || !e.contains('@')) {
        return Err(ApiError::field("email", "must be an email address"));
    }
    let domain = email
        .as_deref()
        .and_then(|e| e.rsplit_once('@'))
        .map(|(_, d)| d.to_owned());
    let conn = signin::pick_connection(&state, &org, domain.as_deref(), true).await?;
    state
        .limits
        .sign_in(&state.settings.rate_limit, ctx.ip.as_deref(), Some((&org.id, &conn.id)))?;
    let return_to = q
        .return_to
        .as_deref()
        .and_then(|r| signin::allowed_return(&state.settings, r));
    let started = signin::start(
        &state,
        &conn,
        Mode::Browser,
        state.settings.callback_url(),
        return_to,
        email,
        false,
    )
    .await;
    let started = match started {
        Ok(s) => s,
        Err(f) => {
            signin::failure::record(&state, &ctx, &f).await;
            return Err(f.into());
        }
    };
    let Some(url) = started.url else {
        return Err(ApiError::Coded {
            status: StatusCode::CONFLICT,
            code: "CREDENTIALS_REQUIRED",
            message: format!("this organization signs in with a directory password: POST /api/auth/sso/{slug}/ldap"),
        });
    };
    let cookies: Vec<String> = started.binding.iter().map(binding_set_cookie).collect();
    Ok(redirect_with_cookies(&url, &cookies))
}

async fn oidc_callback(
    State(state): State<AppState>,
    ctx: ClientInfo,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    oidc_callback_at(state, ctx, headers, q, None).await
}

/// `GET /api/auth/sso/callback/{connectionId}`: a connection's dedicated OIDC callback.
async fn oidc_dedicated_callback(
    State(state): State<AppState>,
    ctx: ClientInfo,
    headers: HeaderMap,
    Path(connection_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    oidc_callback_at(state, ctx, headers, q, Some(connection_id)).await
}

async fn oidc_callback_at(
    state: AppState,
    ctx: ClientInfo,
    headers: HeaderMap,
    q: HashMap<String, String>,
    arrived_on: Option<String>,
) -> Response {
    if let Err(e) = state
        .limits
        .sign_in(&state.settings.rate_limit, ctx.ip.as_deref(), None)
    {
        return e.into_response();
    }
    let state_param = q.get("state").cloned().unwrap_or_default();
    let cookie_name = transaction::binding_cookie_name(&state_param);
    let binding = cookie(&headers, &cookie_name);
    let clear = binding_set_cookie(&transaction::clear_binding_cookie(&state.settings, cookie_name));
    let callback = Callback::BrowserOidc {
        arrived_on,
        state: state_param,
        binding,
        code: q.get("code").cloned().unwrap_or_default(),
        iss: q.get("iss").cloned(),
        error: q.get("error").map(|e| {
            let desc = q.get("error_description").cloned().unwrap_or_default();
            (e.clone(), desc)
        }),
    };
    match signin::complete(&state, &ctx, callback).await {
        Ok(done) => {
            let target = done.return_to.clone();
            edge::browser_signed_in(&state.settings, &done, target, &[clear])
        }
        Err(f) => edge::browser_refused(&state.settings, &f, &[clear]),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = LdapSignInBody)]
#[serde(deny_unknown_fields)]
struct LdapBody {
    username: String,
    #[schema(value_type = String)]
    password: SecretString,
}

async fn ldap_sign_in(
    State(state): State<AppState>,
    ctx: ClientInfo,
    Path(slug): Path<String>,
    ValidJson(b): ValidJson<LdapBody>,
) -> Result<Response, ApiError> {
    let org = match portico_core::slug::is_valid(&slug) {
        true => orgs::by_slug(&state.db, &slug).await?,
        false => None,
    }
    .ok_or(ApiError::NotFound("organization"))?;
    let conn = connections::for_org(&state.db, &org.id)
        .await?
        .into_iter()
        .find(|c| c.protocol == Protocol::Ldap && c.status.is_active())
        .ok_or(ApiError::NotFound("LDAP connection"))?;
    state
        .limits
        .sign_in(&state.settings.rate_limit, ctx.ip.as_deref(), Some((&org.id, &conn.id)))?;
    let callback = Callback::Ldap {
        connection: Box::new(conn),
        username: b.username,
        password: b.password,
    };
    let done = signin::complete(&state, &ctx, callback).await?;
    let s = &done.completed.session.session;
    let token = &done.completed.session.token;
    let cookie = session_cookie(&state.settings, token, s.expires_at);
    use secrecy::ExposeSecret;
    let body = Envelope::ok(serde_json::json!({
        "userId": done.completed.admitted.user.id,
        "session": { "id": s.id, "method": s.method, "mfa": s.mfa, "expiresAt": s.expires_at },
        "token": token.expose_secret(),
        "provisioned": done.completed.admitted.provisioned,
    }))
    .message("Signed in");
    Ok(([(SET_COOKIE, cookie)], body).into_response())
}
