//! Access to one organization's routes (`/api/user/organizations/{orgId}/…`): the caller must
//! be a member, a pinned key must be pinned to this organization, and the policy must hold.
//! Anything else is a 404, so organizations do not leak across tenants.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use portico_core::role::Role;
use portico_store::orgs::{self, Organization};

use super::policy::{self, Need};
use super::{Caller, Credential};
use crate::error::ApiError;
use crate::state::AppState;

/// A caller admitted to one organization.
#[derive(Clone, Debug)]
pub struct OrgAccess {
    /// The caller.
    pub caller: Caller,
    /// The organization.
    pub org: Organization,
    /// The caller's role there.
    pub role: Role,
}

impl OrgAccess {
    /// Refuses callers below `need`.
    pub fn require(&self, need: Need) -> Result<(), ApiError> {
        policy::require_role(&self.role, need)
    }
}

/// Admits `caller` to `org_id` or answers 404 / the policy's refusal.
pub async fn admit(state: &AppState, caller: Caller, org_id: &str) -> Result<OrgAccess, ApiError> {
    if !portico_core::ids::is_ulid(org_id) {
        return Err(ApiError::NotFound("organization"));
    }
    if let Credential::ApiKey {
        pinned_org: Some(p), ..
    } = &caller.credential
    {
        if p != org_id {
            return Err(ApiError::NotFound("organization"));
        }
    }
    let role = orgs::role_of(&state.db, org_id, &caller.user_id)
        .await?
        .ok_or(ApiError::NotFound("organization"))?;
    let org = orgs::by_id(&state.db, org_id)
        .await?
        .ok_or(ApiError::NotFound("organization"))?;
    let role = Role::parse(&role).map_err(|_| ApiError::Internal(format!("stored role {role:?} is invalid")))?;
    policy::enforce(&org, &role, &caller.credential, || state.sso_login_url(&org.slug))?;
    Ok(OrgAccess { caller, org, role })
}

impl FromRequestParts<AppState> for OrgAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("organization"))?;
        let org_id = params.get("orgId").ok_or(ApiError::NotFound("organization"))?;
        admit(state, caller, org_id).await
    }
}
