//! `GET /api/user/organizations/{orgId}/audit-events` (owner/admin, newest first).

use axum::extract::State;
use portico_store::audit;

use crate::api::Api;
use crate::auth::org::OrgAccess;
use crate::auth::policy::Need;
use crate::extract::{PageQuery, ValidQuery};
use crate::respond::{Envelope, OrgResult};
use crate::state::AppState;

/// Registers the route.
pub fn routes(api: Api) -> Api {
    api.section("audit", true)
        .get(
            "/api/user/organizations/{orgId}/audit-events",
            "Sign-in attempts and settings changes (admin+)",
            list,
        )
        .query::<PageQuery>()
        .page_shape(crate::openapi::shapes::audit_event())
}

async fn list(State(state): State<AppState>, access: OrgAccess, ValidQuery(q): ValidQuery<PageQuery>) -> OrgResult {
    access.require(Need::Admin)?;
    let page = q.page()?;
    let paged = audit::for_org(&state.db, &access.org.id, &page).await?;
    Ok(Envelope::list(paged.items, paged.next_cursor, page.limit))
}
