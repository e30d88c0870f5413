//! SAML browser endpoints: SP metadata, the POST-binding ACS on the shared callback, and the
//! opt-in IdP-initiated ACS of one connection.

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use portico_core::connection::Protocol;
use portico_store::connections;

use crate::api::cookies::binding_set_cookie;
use crate::api::oauth2::page;
use crate::api::signin_edge as edge;
use crate::api::Api;
use crate::auth::cookie;
use crate::error::ApiError;
use crate::extract::{ClientInfo, ValidForm};
use crate::services::connections::settings::{ProtocolFields, SamlSettings};
use crate::services::signin::{self, transaction, Callback};
use crate::state::AppState;

/// The shared ACS (the shared OIDC callback's path).
const ACS_PATH: &str = "/api/auth/sso/callback";

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("saml", false)
        .get(
            "/api/auth/sso/saml/{connectionId}/metadata",
            "SP metadata XML of a SAML connection",
            sp_metadata,
        )
        .media(200, "application/samlmetadata+xml")
        .post(
            ACS_PATH,
            "The shared SAML ACS (POST binding): completes the login, sets the session; a cross-site \
             POST without the binding cookie (plain http) is answered with a page that posts it \
             again from this site",
            browser_acs,
        )
        .form::<SamlPost>()
        .redirect(302)
        .media(200, "text/html")
        .post(
            "/api/auth/sso/saml/{connectionId}/acs",
            "IdP-initiated SAML login for a connection that opted in",
            idp_initiated_acs,
        )
        .form::<SamlPost>()
        .redirect(302)
}

async fn sp_metadata(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    if !id.starts_with("sso_") || id.len() > 40 {
        return Err(ApiError::NotFound("SAML connection"));
    }
    let conn = connections::by_id(&state.db, &id, None)
        .await?
        .filter(|c| c.protocol == Protocol::Saml)
        .ok_or(ApiError::NotFound("SAML connection"))?;
    let s = SamlSettings::of(&conn).map_err(|e| ApiError::Conflict(e.to_string()))?;
    let entity = s.sp_entity_id.clone().unwrap_or_else(|| {
        format!(
            "{}/api/auth/sso/saml/{}/metadata",
            state.settings.public_base(),
            conn.id
        )
    });
    let acs = s.sp_acs_url.clone().unwrap_or_else(|| state.settings.callback_url());
    let idp_acs = s.idp_initiated_acs_url.clone().filter(|_| s.idp_initiated_allowed());
    let xml = portico_saml::sp_metadata_xml(&entity, &acs, idp_acs.as_deref(), s.sp_certificate.as_deref());
    Ok((
        [
            (CONTENT_TYPE, "application/samlmetadata+xml"),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        xml,
    )
        .into_response())
}

/// The POST binding's form (other fields an IdP adds are ignored).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[schema(as = SamlPostForm)]
struct SamlPost {
    #[serde(rename = "SAMLResponse", default)]
    saml_response: String,
    #[serde(rename = "RelayState", default)]
    relay_state: String,
    /// Set by [`page::self_post`]: this POST is the re-post (never re-posted twice).
    #[serde(rename = "portico_reposted", default)]
    reposted: Option<String>,
}

/// The field [`page::self_post`] adds.
const REPOSTED: &str = "portico_reposted";

/// Whether the ACS answers with the self-posting page instead of completing: the binding cookie
/// is missing from a POST that came from another site (plain http: the cookie is `SameSite=Lax`,
/// which a cross-site POST does not carry; SPEC §3) and this is not already the re-post. The
/// re-post carries the same form, so the binding cookie is still required: login-CSRF
/// protection is unchanged, and the transaction is not consumed by the first POST.
fn needs_repost(headers: &HeaderMap, binding: Option<&str>, form: &SamlPost) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    binding.is_none()
        && form.reposted.is_none()
        && !form.relay_state.is_empty()
        && !matches!(site, Some("same-origin" | "same-site" | "none"))
}

async fn browser_acs(
    State(state): State<AppState>,
    ctx: ClientInfo,
    headers: HeaderMap,
    ValidForm(form): ValidForm<SamlPost>,
) -> Response {
    let cookie_name = transaction::binding_cookie_name(&form.relay_state);
    let binding = cookie(&headers, &cookie_name);
    if needs_repost(&headers, binding.as_deref(), &form) {
        return page::self_post(
            &state.settings.callback_url(),
            &[
                ("SAMLResponse", &form.saml_response),
                ("RelayState", &form.relay_state),
                (REPOSTED, "1"),
            ],
            ctx.request_id.as_deref(),
        );
    }
    let SamlPost {
        saml_response,
        relay_state,
        ..
    } = form;
    let clear = binding_set_cookie(&transaction::clear_binding_cookie(&state.settings, cookie_name));
    let callback = Callback::BrowserSaml {
        relay_state,
        binding,
        saml_response,
    };
    match signin::complete(&state, &ctx, callback).await {
        Ok(done) => {
            let target = done.return_to.clone();
            edge::browser_signed_in(&state.settings, &done, target, &[clear])
        }
        Err(f) => edge::browser_refused(&state.settings, &f, &[clear]),
    }
}

async fn idp_initiated_acs(
    State(state): State<AppState>,
    ctx: ClientInfo,
    Path(id): Path<String>,
    ValidForm(form): ValidForm<SamlPost>,
) -> Response {
    let SamlPost {
        saml_response,
        relay_state,
        ..
    } = form;
    let callback = Callback::IdpInitiated {
        connection_id: id,
        saml_response,
    };
    match signin::complete(&state, &ctx, callback).await {
        Ok(done) => {
            let target = signin::allowed_return(&state.settings, &relay_state);
            edge::browser_signed_in(&state.settings, &done, target, &[])
        }
        Err(f) => edge::browser_refused(&state.settings, &f, &[]),
    }
}
