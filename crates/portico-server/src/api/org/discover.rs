//! `POST /api/auth/sign-in/discover` (public): `{email}` → `{method:"sso", loginUrl}` when the
//! email's domain is DNS-verified by an organization with a usable SSO connection, else
//! `{method:"password"}` — the same answer for unknown domains, unverified claims and
//! organizations without SSO, so nothing else about organizations is revealed.

use axum::extract::State;
use portico_core::connection::Protocol;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::Api;
use crate::error::ApiError;
use crate::extract::{ClientInfo, ValidJson};
use crate::respond::{Envelope, OrgResult};
use crate::services::domains;
use crate::state::AppState;

/// Registers the route.
pub fn routes(api: Api) -> Api {
    api.section("authentication", false)
        .post(
            "/api/auth/sign-in/discover",
            "How an email signs in: SSO (with the login URL) or password",
            discover,
        )
        .body::<DiscoverBody>()
        .data_shape(200, crate::openapi::shapes::discovered())
}

/// How the email signs in: the answer's `method`.
#[derive(Clone, Copy, Serialize)]
enum Method {
    /// Through the organization's SSO connection, at `loginUrl`.
    #[serde(rename = "sso")]
    Sso,
    /// With a password (every other case, indistinguishably).
    #[serde(rename = "password")]
    Password,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DiscoverBody {
    email: String,
}

async fn discover(State(state): State<AppState>, ctx: ClientInfo, ValidJson(b): ValidJson<DiscoverBody>) -> OrgResult {
    let email = b.email.trim();
    let email_domain = (email.len() <= 320 && email.matches('@').count() == 1 && !email.starts_with('@'))
        .then(|| portico_core::domain::of_email(email))
        .flatten()
        .ok_or_else(|| ApiError::field("email", "must be an email address"))?;
    state
        .limits
        .sign_in(&state.settings.rate_limit, ctx.ip.as_deref(), None)?;
    let Some((org, conn)) = domains::sso_route(&state, &email_domain).await? else {
        return Ok(Envelope::ok(json!({ "method": Method::Password })));
    };
    if conn.protocol == Protocol::Ldap {
        let url = format!("{}/api/auth/sso/{}/ldap", state.settings.public_base(), org.slug);
        return Ok(Envelope::ok(
            json!({ "method": Method::Sso, "protocol": conn.protocol, "loginUrl": url }),
        ));
    }
    let mut url =
        url::Url::parse(&state.sso_login_url(&org.slug)).map_err(|e| ApiError::Internal(format!("login URL: {e}")))?;
    url.query_pairs_mut().append_pair("email", email);
    Ok(Envelope::ok(
        json!({ "method": Method::Sso, "protocol": conn.protocol, "loginUrl": url.as_str() }),
    ))
}
