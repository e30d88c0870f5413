//! `/api/user/organizations/{orgId}/settings/security` (owner): `{authRequired, requireMfa,
//! exemptRoles}`, stored by `services::security_settings` (the same columns as `/v1/sso/enforce`) and
//! enforced on every organization route by `auth::policy`.

use axum::extract::State;
use portico_store::orgs::Organization;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::Api;
use crate::auth::org::OrgAccess;
use crate::auth::policy::Need;
use crate::extract::{ClientInfo, ValidJson};
use crate::respond::{Envelope, OrgResult};
use crate::services::security_settings::{self, PolicyInput};
use crate::state::AppState;

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("security-settings", true)
        .get(
            "/api/user/organizations/{orgId}/settings/security",
            "Read the security policy (owner)",
            get,
        )
        .data_shape(200, crate::openapi::shapes::security_policy())
        .put(
            "/api/user/organizations/{orgId}/settings/security",
            "Set the security policy (owner); sso needs a tested connection",
            put,
        )
        .body::<PolicyBody>()
        .data_shape(200, crate::openapi::shapes::security_policy())
}

fn view(o: &Organization) -> Value {
    json!({ "authRequired": o.auth_required, "requireMfa": o.require_mfa, "exemptRoles": o.exempt_roles })
}

async fn get(access: OrgAccess) -> OrgResult {
    access.require(Need::Owner)?;
    Ok(Envelope::ok(view(&access.org)))
}

/// `requireMfa` and `exemptRoles` keep their current values when left out.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicyBody {
    auth_required: String,
    require_mfa: Option<bool>,
    exempt_roles: Option<Vec<String>>,
}

async fn put(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    ValidJson(b): ValidJson<PolicyBody>,
) -> OrgResult {
    let input = PolicyInput {
        auth_required: b.auth_required,
        require_mfa: b.require_mfa.unwrap_or(access.org.require_mfa),
        exempt_roles: b.exempt_roles.unwrap_or_else(|| access.org.exempt_roles.clone()),
    };
    let org = security_settings::set(&state, &ctx, &access, input).await?;
    Ok(Envelope::ok(view(&org)).message("Security settings saved"))
}
