//! The organization of an SDK call: the key's pinned organization, or the caller's only one.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use portico_store::orgs;

use crate::auth::org::{admit, OrgAccess};
use crate::auth::{Caller, Credential};
use crate::error::ApiError;
use crate::state::AppState;

/// A caller admitted to its organization.
#[derive(Debug, Clone)]
pub struct SdkAccess(pub OrgAccess);

impl FromRequestParts<AppState> for SdkAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let org_id = match &caller.credential {
            Credential::ApiKey {
                pinned_org: Some(p), ..
            } => p.clone(),
            Credential::Session {
                organization_id: Some(o),
                ..
            } => o.clone(),
            _ => {
                let mut ms = orgs::memberships_of(&state.db, &caller.user_id).await?;
                match ms.len() {
                    1 => ms.remove(0).org.id,
                    0 => return Err(ApiError::Forbidden("the caller belongs to no organization".into())),
                    _ => {
                        return Err(ApiError::Coded {
                            status: StatusCode::BAD_REQUEST,
                            code: "ORGANIZATION_AMBIGUOUS",
                            message: "this key is not pinned to an organization and its user belongs to several; use a key pinned to one organization".into(),
                        })
                    }
                }
            }
        };
        Ok(Self(admit(state, caller, &org_id).await?))
    }
}
