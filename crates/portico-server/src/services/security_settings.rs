//! Changing the organization security policy, which `auth::policy` enforces
//! (`settings/security` and `/v1/sso/enforce` are two views of the same columns). Raising `authRequired` to `sso` needs an active connection whose
//! last test passed, so owners cannot lock themselves out.

use portico_core::org::AuthRequired;
use portico_core::role::Role;
use portico_store::orgs::Organization;
use portico_store::{audit, connections, orgs};

use crate::auth::org::OrgAccess;
use crate::auth::policy::Need;
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::services::audit::event;
use crate::state::AppState;

/// A requested policy.
#[derive(Debug, Clone)]
pub struct PolicyInput {
    /// `any`, `mfa` or `sso`, as received (read here, after the owner check).
    pub auth_required: String,
    /// MFA regardless of `auth_required`.
    pub require_mfa: bool,
    /// Roles exempt from the SSO requirement.
    pub exempt_roles: Vec<String>,
}

/// Validates and stores a policy (owner).
pub async fn set(
    state: &AppState,
    ctx: &ClientInfo,
    access: &OrgAccess,
    input: PolicyInput,
) -> Result<Organization, ApiError> {
    access.require(Need::Owner)?;
    let auth_required = AuthRequired::parse(&input.auth_required)
        .ok_or_else(|| ApiError::field("authRequired", "must be any, mfa or sso"))?;
    let mut exempt = Vec::new();
    for (i, r) in input.exempt_roles.iter().enumerate() {
        Role::parse(r).map_err(|e| ApiError::field(format!("exemptRoles[{i}]"), e.to_string()))?;
        if !exempt.contains(r) {
            exempt.push(r.clone());
        }
    }
    let mut tx = state.db.begin().await?;
    if auth_required == AuthRequired::Sso
        && access.org.auth_required != AuthRequired::Sso
        && !connections::has_ready(&mut *tx, &access.org.id).await?
    {
        return Err(ApiError::SsoNotReady);
    }
    let org = orgs::set_policy(&mut *tx, &access.org.id, auth_required, input.require_mfa, &exempt).await?;
    let mut e = event(
        ctx,
        Some(&access.caller),
        Some(&access.org.id),
        "security_policy.update",
    );
    e.details = Some(serde_json::json!({
        "from": { "authRequired": access.org.auth_required, "requireMfa": access.org.require_mfa, "exemptRoles": access.org.exempt_roles },
        "to": { "authRequired": org.auth_required, "requireMfa": org.require_mfa, "exemptRoles": org.exempt_roles },
    }));
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(org)
}
