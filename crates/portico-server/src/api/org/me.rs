//! `GET /api/user/me`: the caller, its memberships and how it authenticated.

use axum::extract::State;
use portico_store::{orgs, users};
use serde_json::json;

use super::views::{OrgView, UserView};
use crate::api::Api;
use crate::auth::{Caller, Credential};
use crate::error::ApiError;
use crate::respond::{Envelope, OrgResult};
use crate::state::AppState;

/// Registers the route.
pub fn routes(api: Api) -> Api {
    api.section("user", true)
        .get("/api/user/me", "The signed-in user, memberships and authentication", me)
}

async fn me(State(state): State<AppState>, caller: Caller) -> OrgResult {
    let user = users::by_id(&state.db, &caller.user_id)
        .await?
        .ok_or(ApiError::Unauthorized("invalid credentials"))?;
    let mut memberships = orgs::memberships_of(&state.db, &user.id).await?;
    let authentication = match &caller.credential {
        Credential::ApiKey { token_id, pinned_org } => {
            if let Some(p) = pinned_org {
                memberships.retain(|m| &m.org.id == p);
            }
            json!({ "type": "api_key", "method": "api_key", "tokenId": token_id, "organizationId": pinned_org, "mfa": false })
        }
        Credential::Session {
            session_id,
            method,
            mfa,
            organization_id,
            connection_id,
            expires_at,
        } => json!({
            "type": "session", "method": method, "sessionId": session_id, "mfa": mfa,
            "organizationId": organization_id, "connectionId": connection_id, "expiresAt": expires_at,
        }),
    };
    let memberships: Vec<OrgView> = memberships.iter().map(OrgView::from).collect();
    Ok(Envelope::ok(
        json!({ "user": UserView::from(&user), "memberships": memberships, "authentication": authentication }),
    ))
}
