//! The SDK login flow: `GET /sso/login` (routes by domain; never a fallback to another IdP) and
//! the server-to-server callbacks `POST /sso/callback/{oidc,saml,ldap}` returning CallbackResult.

use axum::extract::State;
use axum::Json;
use chrono::SecondsFormat;
use portico_core::connection::Protocol;
use portico_core::idp::LoginInput;
use portico_store::connections::{self, Connection};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};

use super::SdkAccess;
use crate::api::Api;
use crate::auth::org::OrgAccess;
use crate::error::ApiError;
use crate::extract::{ClientInfo, ValidJson, ValidQuery};
use crate::openapi::shapes;
use crate::services::connections::settings::{ProtocolFields, SamlSettings};
use crate::services::signin::{self, Callback, Mode, SignedIn};
use crate::state::AppState;

const JSON: &str = "application/json";

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("sdk-login", true)
        .get(
            "/sso/login",
            "The IdP authorization URL for an organization (by email domain)",
            login_url,
        )
        .query::<LoginQuery>()
        .json_shape(200, JSON, shapes::sdk_login_url())
        .post(
            "/sso/callback/oidc",
            "Complete an OIDC login server to server",
            oidc_callback,
        )
        .body::<OidcCallbackBody>()
        .json_shape(200, JSON, shapes::sdk_signed_in())
        .post(
            "/sso/callback/saml",
            "Complete a SAML login server to server",
            saml_callback,
        )
        .body::<SamlCallbackBody>()
        .json_shape(200, JSON, shapes::sdk_signed_in())
        .post(
            "/sso/callback/ldap",
            "Sign in with an LDAP directory password",
            ldap_callback,
        )
        .body::<LdapCallbackBody>()
        .json_shape(200, JSON, shapes::sdk_signed_in())
}

/// True when `org` (an id or a slug) names the caller's organization.
pub fn names_org(access: &OrgAccess, org: &str) -> bool {
    org == access.org.id || org == access.org.slug
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct LoginQuery {
    /// The organization (the key's own: id or slug).
    org: String,
    /// The user's email domain (picks the connection).
    domain: Option<String>,
    /// One of the connection's redirectUris.
    redirect_uri: Option<String>,
}

/// `/sso/login` and the legacy `get_login_url(org)` (no domain: the default connection).
async fn login_url(
    State(state): State<AppState>,
    SdkAccess(access): SdkAccess,
    ValidQuery(q): ValidQuery<LoginQuery>,
) -> Result<Json<Value>, ApiError> {
    if !names_org(&access, &q.org) {
        return Err(ApiError::NotFound("organization"));
    }
    let conn = match q.domain.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => {
            let d = portico_core::domain::normalize(d).map_err(|e| ApiError::field("domain", e.to_string()))?;
            signin::pick_connection(&state, &access.org, Some(&d), false).await?
        }
        None => default_or_only(&state, &access).await?,
    };
    // Server-to-server: the app's one IP carries every user, so throttle per connection only.
    state
        .limits
        .sign_in(&state.settings.rate_limit, None, Some((&access.org.id, &conn.id)))?;
    let redirect_uri = match &q.redirect_uri {
        Some(r) if conn.redirect_uris.iter().any(|u| u == r) => r.clone(),
        Some(_) => {
            return Err(ApiError::field(
                "redirect_uri",
                "is not one of the connection's redirectUris",
            ))
        }
        None => sdk_redirect_uri(&state, &conn),
    };
    let started = signin::start(&state, &conn, Mode::Sdk, redirect_uri, None, None, false).await?;
    Ok(Json(
        json!({ "authorizeUrl": started.url, "protocol": conn.protocol, "connectionId": conn.id }),
    ))
}

async fn default_or_only(state: &AppState, access: &OrgAccess) -> Result<Connection, ApiError> {
    let all = connections::for_org(&state.db, &access.org.id).await?;
    if let Some(d) = all.iter().find(|c| c.is_default && c.status.is_active()) {
        return Ok(d.clone());
    }
    let mut active = all.into_iter().filter(|c| c.status.is_active());
    match (active.next(), active.next()) {
        (Some(only), None) => Ok(only),
        (None, _) => Err(ApiError::NotFound("SSO connection")),
        (Some(_), Some(_)) => Err(ApiError::field(
            "domain",
            "the organization has several connections: pass the user's email domain",
        )),
    }
}

/// Where the IdP sends an SDK login back: the app's own callback (SAML: the ACS).
fn sdk_redirect_uri(state: &AppState, conn: &Connection) -> String {
    if conn.protocol == Protocol::Saml {
        return SamlSettings::of(conn)
            .ok()
            .and_then(|s| s.sp_acs_url)
            .unwrap_or_else(|| state.settings.callback_url());
    }
    conn.redirect_uris
        .first()
        .cloned()
        .unwrap_or_else(|| state.settings.callback_url())
}

/// The CallbackResult of a completed login.
pub fn callback_result(done: &SignedIn) -> Value {
    let (conn, c) = (&done.connection, &done.completed);
    let s = &c.session.session;
    json!({
        "sessionId": s.id,
        "sessionToken": c.session.token.expose_secret(),
        "email": c.admitted.user.email,
        "name": c.identity.name.clone().or_else(|| c.admitted.user.name.clone()),
        "sub": c.identity.subject,
        "groups": c.identity.groups,
        "mappedScopes": c.admitted.mapped_scopes,
        "principalId": c.admitted.user.id,
        "developerId": conn.organization_id,
        "connectionId": conn.id,
        "provisioned": c.admitted.provisioned,
        "mfa": c.identity.mfa,
        "expiresAt": s.expires_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    })
}

/// Completes an SDK login whose transaction is found by `state_param` (throttled per
/// organization first, then [`signin::complete`]).
pub async fn complete_by_state(
    state: &AppState,
    ctx: &ClientInfo,
    access: &OrgAccess,
    state_param: &str,
    redirect_uri: Option<&str>,
    input: LoginInput,
) -> Result<SignedIn, ApiError> {
    state
        .limits
        .sign_in(&state.settings.rate_limit, None, Some((&access.org.id, "callback")))?;
    let callback = Callback::Sdk {
        organization_id: access.org.id.clone(),
        state: state_param.to_owned(),
        redirect_uri: redirect_uri.map(str::to_owned),
        input,
    };
    Ok(signin::complete(state, ctx, callback).await?)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct OidcCallbackBody {
    code: String,
    state: String,
    redirect_uri: Option<String>,
    iss: Option<String>,
}

async fn oidc_callback(
    State(state): State<AppState>,
    ctx: ClientInfo,
    SdkAccess(access): SdkAccess,
    ValidJson(b): ValidJson<OidcCallbackBody>,
) -> Result<Json<Value>, ApiError> {
    if b.code.is_empty() || b.code.len() > 4096 {
        return Err(ApiError::field("code", "must be 1-4096 characters"));
    }
    let input = LoginInput::OidcCode {
        code: b.code,
        iss: b.iss,
    };
    let done = complete_by_state(&state, &ctx, &access, &b.state, b.redirect_uri.as_deref(), input).await?;
    Ok(Json(callback_result(&done)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SamlCallbackBody {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState")]
    relay_state: String,
}

async fn saml_callback(
    State(state): State<AppState>,
    ctx: ClientInfo,
    SdkAccess(access): SdkAccess,
    ValidJson(b): ValidJson<SamlCallbackBody>,
) -> Result<Json<Value>, ApiError> {
    if b.saml_response.is_empty() || b.saml_response.len() > 512 * 1024 {
        return Err(ApiError::field(
            "SAMLResponse",
            "must be a base64 SAML response under 512 KiB",
        ));
    }
    let input = LoginInput::SamlResponse {
        saml_response: b.saml_response,
    };
    let done = complete_by_state(&state, &ctx, &access, &b.relay_state, None, input).await?;
    Ok(Json(callback_result(&done)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LdapCallbackBody {
    username: String,
    #[schema(value_type = String)]
    password: SecretString,
    connection_id: String,
    org: String,
}

async fn ldap_callback(
    State(state): State<AppState>,
    ctx: ClientInfo,
    SdkAccess(access): SdkAccess,
    ValidJson(b): ValidJson<LdapCallbackBody>,
) -> Result<Json<Value>, ApiError> {
    if !names_org(&access, &b.org) {
        return Err(ApiError::NotFound("organization"));
    }
    let conn = connections::by_id(&state.db, &b.connection_id, Some(&access.org.id))
        .await?
        .filter(|c| c.protocol == Protocol::Ldap)
        .ok_or(ApiError::NotFound("LDAP connection"))?;
    state
        .limits
        .sign_in(&state.settings.rate_limit, None, Some((&access.org.id, &conn.id)))?;
    let callback = Callback::Ldap {
        connection: Box::new(conn),
        username: b.username,
        password: b.password,
    };
    let done = signin::complete(&state, &ctx, callback).await?;
    Ok(Json(callback_result(&done)))
}
