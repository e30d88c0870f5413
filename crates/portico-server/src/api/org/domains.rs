//! `/api/user/organizations/{orgId}/domains[/{domainId}]` (+ `/verify`) and
//! `…/join-requests[/{requestId}/approve|reject]`.

use std::collections::HashMap;

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use portico_core::org::JoinRequestStatus;
use portico_store::domains;
use portico_store::join_requests::{self, JoinRequest};
use serde::{Deserialize, Serialize};

use crate::api::Api;
use crate::auth::org::OrgAccess;
use crate::auth::policy::Need;
use crate::error::ApiError;
use crate::extract::{ClientInfo, PageQuery, ValidJson, ValidQuery};
use crate::openapi::shapes;
use crate::respond::{Envelope, OrgResult};
use crate::services::domains::{self as service, AutoJoinInput};
use crate::services::signin::admission::autojoin;
use crate::state::AppState;

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.section("domains", true)
        .post(
            "/api/user/organizations/{orgId}/domains",
            "Add a domain (owner): pending, with the DNS TXT record to publish",
            add,
        )
        .body::<AddBody>()
        .data_shape(201, shapes::domain())
        .get(
            "/api/user/organizations/{orgId}/domains",
            "The organization's domains (owner/admin)",
            list,
        )
        .query::<PageQuery>()
        .page_shape(shapes::domain())
        .get(
            "/api/user/organizations/{orgId}/domains/{domainId}",
            "Read a domain (owner/admin)",
            get,
        )
        .data_shape(200, shapes::domain())
        .patch(
            "/api/user/organizations/{orgId}/domains/{domainId}",
            "Set a domain's auto-join policy (owner)",
            patch,
        )
        .body::<PatchBody>()
        .data_shape(200, shapes::domain())
        .delete(
            "/api/user/organizations/{orgId}/domains/{domainId}",
            "Remove a domain (owner)",
            remove,
        )
        .data_shape(200, shapes::deleted())
        .post(
            "/api/user/organizations/{orgId}/domains/{domainId}/verify",
            "Verify a domain now by a DNS TXT lookup (owner)",
            verify,
        )
        .no_body()
        .data_shape(200, shapes::domain())
        .section("join-requests", true)
        .get(
            "/api/user/organizations/{orgId}/join-requests",
            "Auto-join requests awaiting approval (admin+)",
            list_requests,
        )
        .query::<RequestsQuery>()
        .page::<JoinRequestView>()
        .post(
            "/api/user/organizations/{orgId}/join-requests/{requestId}/approve",
            "Approve a join request (admin+)",
            approve,
        )
        .no_body()
        .data::<JoinRequestView>(200)
        .post(
            "/api/user/organizations/{orgId}/join-requests/{requestId}/reject",
            "Reject a join request (admin+)",
            reject,
        )
        .no_body()
        .data::<JoinRequestView>(200)
}

fn param<'a>(p: &'a HashMap<String, String>, name: &str) -> &'a str {
    p.get(name).map(String::as_str).unwrap_or_default()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AddBody {
    domain: String,
}

async fn add(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    ValidJson(b): ValidJson<AddBody>,
) -> OrgResult {
    let d = service::add(&state, &ctx, &access, &b.domain).await?;
    Ok(Envelope::created(service::view(&d)).message("Domain added; publish the TXT record, then verify"))
}

async fn list(State(state): State<AppState>, access: OrgAccess, ValidQuery(q): ValidQuery<PageQuery>) -> OrgResult {
    access.require(Need::Admin)?;
    let page = q.page()?;
    let paged = domains::list(&state.db, &access.org.id, &page).await?;
    Ok(Envelope::list(
        paged.items.iter().map(service::view).collect(),
        paged.next_cursor,
        page.limit,
    ))
}

async fn get(State(state): State<AppState>, access: OrgAccess, Path(p): Path<HashMap<String, String>>) -> OrgResult {
    let d = service::get(&state, &access, param(&p, "domainId")).await?;
    Ok(Envelope::ok(service::view(&d)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AutoJoinBody {
    enabled: Option<bool>,
    require_approval: Option<bool>,
    role: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PatchBody {
    auto_join: AutoJoinBody,
}

async fn patch(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    Path(p): Path<HashMap<String, String>>,
    ValidJson(b): ValidJson<PatchBody>,
) -> OrgResult {
    let input = AutoJoinInput {
        enabled: b.auto_join.enabled,
        require_approval: b.auto_join.require_approval,
        role: b.auto_join.role,
    };
    let d = service::set_auto_join(&state, &ctx, &access, param(&p, "domainId"), input).await?;
    Ok(Envelope::ok(service::view(&d)).message("Auto-join updated"))
}

async fn remove(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    Path(p): Path<HashMap<String, String>>,
) -> OrgResult {
    let d = service::remove(&state, &ctx, &access, param(&p, "domainId")).await?;
    Ok(Envelope::ok(serde_json::json!({ "id": d.id, "domain": d.domain, "deleted": true })).message("Domain removed"))
}

async fn verify(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    Path(p): Path<HashMap<String, String>>,
) -> OrgResult {
    let (d, result) = service::verify(&state, &ctx, &access, param(&p, "domainId")).await?;
    let mut data = service::view(&d);
    if let Some(o) = data.as_object_mut() {
        o.insert("result".into(), result.into());
    }
    let message = match result {
        "verified" => "Domain verified".to_owned(),
        "record_not_found" => format!("Not verified: no TXT record at {}", service::record_name(&d.domain)),
        "record_mismatch" => format!(
            "Not verified: the TXT record at {} does not hold the expected value",
            service::record_name(&d.domain)
        ),
        other => format!("Not verified: {other} (the DNS lookup failed; retry later)"),
    };
    Ok(Envelope::ok(data).message(message))
}

/// A join request as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = JoinRequest)]
struct JoinRequestView {
    id: String,
    organization_id: String,
    user_id: String,
    email: String,
    domain: String,
    domain_id: Option<String>,
    role: String,
    #[schema(value_type = String)]
    status: JoinRequestStatus,
    decided_by: Option<String>,
    decided_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<&JoinRequest> for JoinRequestView {
    fn from(r: &JoinRequest) -> Self {
        Self {
            id: r.id.clone(),
            organization_id: r.organization_id.clone(),
            user_id: r.user_id.clone(),
            email: r.email.clone(),
            domain: r.domain.clone(),
            domain_id: r.domain_id.clone(),
            role: r.role.clone(),
            status: r.status,
            decided_by: r.decided_by.clone(),
            decided_at: r.decided_at,
            created_at: r.created_at,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct RequestsQuery {
    /// `pending` (default), `approved`, `rejected` or `all`.
    status: Option<String>,
    /// Page size (1-200, default 50).
    limit: Option<String>,
    /// Cursor from the previous page.
    cursor: Option<String>,
}

async fn list_requests(
    State(state): State<AppState>,
    access: OrgAccess,
    ValidQuery(q): ValidQuery<RequestsQuery>,
) -> OrgResult {
    access.require(Need::Admin)?;
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let status = match q.status.as_deref() {
        None => Some(JoinRequestStatus::Pending),
        Some("all") => None,
        Some(s) => Some(
            JoinRequestStatus::parse(s)
                .ok_or_else(|| ApiError::field("status", "must be pending, approved, rejected or all"))?,
        ),
    };
    let paged = join_requests::list(&state.db, &access.org.id, status, &page).await?;
    Ok(Envelope::list(
        paged.items.iter().map(JoinRequestView::from).collect(),
        paged.next_cursor,
        page.limit,
    ))
}

async fn approve(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    Path(p): Path<HashMap<String, String>>,
) -> OrgResult {
    let r = autojoin::decide(&state.db, &ctx, &access, param(&p, "requestId"), true).await?;
    Ok(Envelope::ok(JoinRequestView::from(&r)).message("Join request approved"))
}

async fn reject(
    State(state): State<AppState>,
    ctx: ClientInfo,
    access: OrgAccess,
    Path(p): Path<HashMap<String, String>>,
) -> OrgResult {
    let r = autojoin::decide(&state.db, &ctx, &access, param(&p, "requestId"), false).await?;
    Ok(Envelope::ok(JoinRequestView::from(&r)).message("Join request rejected"))
}
