//! `/api/user/organizations/{orgId}/sessions[/{id}]`: the organization's live sessions (admin+).

use std::collections::HashMap;

use axum::extract::{Path, State};
use portico_store::{audit, sessions};

use super::views::SessionItem;
use crate::api::Api;
use crate::auth::org::OrgAccess;
use crate::auth::policy::Need;
use crate::error::not_found;
use crate::extract::{ClientInfo, PageQuery, ValidQuery};
use crate::respond::{Envelope, OrgResult};
use crate::services::audit::event;
use crate::state::AppState;

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("sessions", true)
        .get(
            "/api/user/organizations/{orgId}/sessions",
            "Live sessions of the organization (admin+)",
            list,
        )
        .query::<PageQuery>()
        .page::<SessionItem>()
        .delete(
            "/api/user/organizations/{orgId}/sessions/{sessionId}",
            "Revoke a session now (admin+)",
            revoke,
        )
        .data_shape(200, crate::openapi::shapes::revoked())
}

async fn list(State(state): State<AppState>, access: OrgAccess, ValidQuery(q): ValidQuery<PageQuery>) -> OrgResult {
    access.require(Need::Admin)?;
    let page = q.page()?;
    let paged = sessions::for_org(&state.db, &access.org.id, false, &page).await?;
    Ok(Envelope::list(
        paged.items.iter().map(SessionItem::from).collect(),
        paged.next_cursor,
        page.limit,
    ))
}

async fn revoke(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    Path(p): Path<HashMap<String, String>>,
) -> OrgResult {
    access.require(Need::Admin)?;
    let id = p.get("sessionId").cloned().unwrap_or_default();
    let mut tx = state.db.begin().await?;
    sessions::revoke(&mut *tx, &id, Some(&access.org.id))
        .await
        .map_err(not_found("session"))?;
    let mut e = event(&ctx, Some(&access.caller), Some(&access.org.id), "session.revoke");
    e.target_id = Some(id.clone());
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(Envelope::ok(serde_json::json!({ "id": id, "revoked": true })).message("Session revoked"))
}
