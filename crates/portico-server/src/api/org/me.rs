//! `GET /api/user/me`: the caller, its memberships and how it authenticated.

use axum::extract::State;
use portico_core::account::UserStatus;
use portico_store::orgs;
use serde_json::json;

use super::views::OrgView;
use crate::api::Api;
use crate::auth::{Caller, Credential};
use crate::respond::{Envelope, OrgResult};
use crate::state::AppState;

/// Registers the route.
pub fn routes(api: Api) -> Api {
    api.section("user", true)
        .get("/api/user/me", "The signed-in user, memberships and authentication", me)
        .data_shape(200, crate::openapi::shapes::me())
}

async fn me(State(state): State<AppState>, caller: Caller) -> OrgResult {
    // The credential lookup already read the (active) user: no second query for it.
    let mut memberships = orgs::memberships_of(&state.db, &caller.user_id).await?;
    let authentication = match &caller.credential {
        Credential::ApiKey {
            token_id,
            pinned_org,
            minted,
        } => {
            if let Some(p) = pinned_org {
                memberships.retain(|m| &m.org.id == p);
            }
            json!({
                "type": "api_key", "method": "api_key", "tokenId": token_id, "organizationId": pinned_org,
                "mfa": minted.mfa,
                "mintedBy": { "method": minted.method, "organizationId": minted.org_id, "mfa": minted.mfa },
            })
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
    let p = &caller.profile;
    let user = json!({ "id": caller.user_id, "email": p.email, "name": p.name, "status": UserStatus::Active, "createdAt": p.created_at });
    Ok(Envelope::ok(
        json!({ "user": user, "memberships": memberships, "authentication": authentication }),
    ))
}
