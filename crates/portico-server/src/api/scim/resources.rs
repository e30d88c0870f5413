//! `/Users`, `/Groups` and `/.search`: the HTTP edge of the SCIM resources.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{answer, ScimAuth, ScimBody};
use crate::api::Api;
use crate::error::ApiError;
use crate::extract::ValidQuery;
use crate::openapi::shapes;
use crate::services::scim::query::RawParams;
use crate::services::scim::resource::{Projection, GROUP_SCHEMA, LIST_SCHEMA, USER_SCHEMA};
use crate::services::scim::{groups, users};
use crate::state::AppState;

const SCIM: &str = "application/scim+json";

/// Registers the resource routes.
pub fn routes(api: Api) -> Api {
    api.get("/scim/v2/{directoryId}/Users", "List or filter SCIM users", list_users)
        .query::<ListQuery>()
        .json_shape(200, SCIM, shapes::scim_list())
        .post("/scim/v2/{directoryId}/Users", "Create a SCIM user", create_user)
        .body_shape(shapes::scim_resource_body())
        .json_shape(201, SCIM, shapes::scim_user())
        .post(
            "/scim/v2/{directoryId}/Users/.search",
            "Search SCIM users",
            search_users,
        )
        .body_shape(shapes::scim_search_body())
        .json_shape(200, SCIM, shapes::scim_list())
        .get("/scim/v2/{directoryId}/Users/{id}", "Read a SCIM user", get_user)
        .query::<ListQuery>()
        .json_shape(200, SCIM, shapes::scim_user())
        .put("/scim/v2/{directoryId}/Users/{id}", "Replace a SCIM user", put_user)
        .body_shape(shapes::scim_resource_body())
        .json_shape(200, SCIM, shapes::scim_user())
        .patch("/scim/v2/{directoryId}/Users/{id}", "Patch a SCIM user", patch_user)
        .body_shape(shapes::scim_patch_body())
        .json_shape(200, SCIM, shapes::scim_user())
        .delete(
            "/scim/v2/{directoryId}/Users/{id}",
            "Delete a SCIM user (deprovisions)",
            delete_user,
        )
        .empty(204)
        .get(
            "/scim/v2/{directoryId}/Groups",
            "List or filter SCIM groups",
            list_groups,
        )
        .query::<ListQuery>()
        .json_shape(200, SCIM, shapes::scim_list())
        .post("/scim/v2/{directoryId}/Groups", "Create a SCIM group", create_group)
        .body_shape(shapes::scim_resource_body())
        .json_shape(201, SCIM, shapes::scim_group())
        .post(
            "/scim/v2/{directoryId}/Groups/.search",
            "Search SCIM groups",
            search_groups,
        )
        .body_shape(shapes::scim_search_body())
        .json_shape(200, SCIM, shapes::scim_list())
        .get("/scim/v2/{directoryId}/Groups/{id}", "Read a SCIM group", get_group)
        .query::<ListQuery>()
        .json_shape(200, SCIM, shapes::scim_group())
        .put("/scim/v2/{directoryId}/Groups/{id}", "Replace a SCIM group", put_group)
        .body_shape(shapes::scim_resource_body())
        .json_shape(200, SCIM, shapes::scim_group())
        .patch("/scim/v2/{directoryId}/Groups/{id}", "Patch a SCIM group", patch_group)
        .body_shape(shapes::scim_patch_body())
        .json_shape(200, SCIM, shapes::scim_group())
        .delete(
            "/scim/v2/{directoryId}/Groups/{id}",
            "Delete a SCIM group",
            delete_group,
        )
        .empty(204)
        .post("/scim/v2/{directoryId}/.search", "Search users and groups", search_root)
        .body_shape(shapes::scim_search_body())
        .json_shape(200, SCIM, shapes::scim_list())
}

/// List query parameters (unknown ones are ignored, as SCIM clients add their own).
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    /// A SCIM filter (RFC 7644 §3.4.2.2), e.g. `userName eq "a@example.com"`.
    filter: Option<String>,
    /// 1-based index of the first result.
    start_index: Option<String>,
    /// Page size (at most 1000).
    count: Option<String>,
    /// Attributes to return (comma-separated).
    attributes: Option<String>,
    /// Attributes to leave out (comma-separated).
    excluded_attributes: Option<String>,
    /// Not supported (ignored, as RFC 7644 allows).
    sort_by: Option<String>,
}

impl From<ListQuery> for RawParams {
    fn from(q: ListQuery) -> Self {
        Self {
            filter: q.filter,
            start_index: q.start_index,
            count: q.count,
            attributes: q.attributes,
            excluded_attributes: q.excluded_attributes,
            sort_by: q.sort_by,
        }
    }
}

/// A `/.search` body (RFC 7644 §3.4.3): attribute lists as arrays or comma-separated strings.
fn search_params(body: &Value) -> RawParams {
    let field = |name: &str| {
        body.as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .map(|(_, v)| v)
    };
    let text = |name: &str| {
        field(name).and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Array(a) => Some(a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
            _ => None,
        })
    };
    RawParams {
        filter: text("filter"),
        start_index: text("startIndex"),
        count: text("count"),
        attributes: text("attributes"),
        excluded_attributes: text("excludedAttributes"),
        sort_by: text("sortBy"),
    }
}

fn id_of(p: &HashMap<String, String>) -> &str {
    p.get("id").map(String::as_str).unwrap_or_default()
}

fn if_match(h: &HeaderMap) -> Option<&str> {
    h.get("if-match").and_then(|v| v.to_str().ok())
}

fn projection(q: &ListQuery) -> Projection {
    Projection::new(q.attributes.as_deref(), q.excluded_attributes.as_deref())
}

type R = Result<Response, ApiError>;

async fn list_users(State(st): State<AppState>, auth: ScimAuth, ValidQuery(q): ValidQuery<ListQuery>) -> R {
    let v = users::list(&auth.scope(&st), &q.into()).await?;
    Ok(answer(StatusCode::OK, v, None, None))
}

async fn search_users(State(st): State<AppState>, auth: ScimAuth, ScimBody(b): ScimBody) -> R {
    let v = users::list(&auth.scope(&st), &search_params(&b)).await?;
    Ok(answer(StatusCode::OK, v, None, None))
}

async fn create_user(State(st): State<AppState>, auth: ScimAuth, ScimBody(b): ScimBody) -> R {
    let v = users::create(&auth.scope(&st), b).await?;
    let loc = v["meta"]["location"].as_str().map(str::to_owned);
    Ok(answer(StatusCode::CREATED, v, Some(1), loc))
}

async fn get_user(
    State(st): State<AppState>,
    auth: ScimAuth,
    Path(p): Path<HashMap<String, String>>,
    ValidQuery(q): ValidQuery<ListQuery>,
) -> R {
    let (v, ver) = users::get(&auth.scope(&st), id_of(&p)).await?;
    Ok(answer(
        StatusCode::OK,
        projection(&q).apply(v, USER_SCHEMA),
        Some(ver),
        None,
    ))
}

async fn put_user(
    State(st): State<AppState>,
    auth: ScimAuth,
    h: HeaderMap,
    Path(p): Path<HashMap<String, String>>,
    ScimBody(b): ScimBody,
) -> R {
    let (v, ver) = users::replace(&auth.scope(&st), id_of(&p), if_match(&h), b).await?;
    Ok(answer(StatusCode::OK, v, Some(ver), None))
}

async fn patch_user(
    State(st): State<AppState>,
    auth: ScimAuth,
    h: HeaderMap,
    Path(p): Path<HashMap<String, String>>,
    ScimBody(b): ScimBody,
) -> R {
    let (v, ver) = users::patch(&auth.scope(&st), id_of(&p), if_match(&h), b).await?;
    Ok(answer(StatusCode::OK, v, Some(ver), None))
}

async fn delete_user(
    State(st): State<AppState>,
    auth: ScimAuth,
    h: HeaderMap,
    Path(p): Path<HashMap<String, String>>,
) -> R {
    users::delete(&auth.scope(&st), id_of(&p), if_match(&h)).await?;
    Ok(no_content())
}

fn no_content() -> Response {
    axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT)
}

async fn list_groups(State(st): State<AppState>, auth: ScimAuth, ValidQuery(q): ValidQuery<ListQuery>) -> R {
    let v = groups::list(&auth.scope(&st), &q.into()).await?;
    Ok(answer(StatusCode::OK, v, None, None))
}

async fn search_groups(State(st): State<AppState>, auth: ScimAuth, ScimBody(b): ScimBody) -> R {
    let v = groups::list(&auth.scope(&st), &search_params(&b)).await?;
    Ok(answer(StatusCode::OK, v, None, None))
}

async fn create_group(State(st): State<AppState>, auth: ScimAuth, ScimBody(b): ScimBody) -> R {
    let v = groups::create(&auth.scope(&st), b).await?;
    let loc = v["meta"]["location"].as_str().map(str::to_owned);
    let ver = v["meta"]["version"]
        .as_str()
        .and_then(|s| s.trim_start_matches("W/").trim_matches('"').parse().ok());
    Ok(answer(StatusCode::CREATED, v, ver, loc))
}

async fn get_group(
    State(st): State<AppState>,
    auth: ScimAuth,
    Path(p): Path<HashMap<String, String>>,
    ValidQuery(q): ValidQuery<ListQuery>,
) -> R {
    let proj = projection(&q);
    let with_members = proj
        .apply(json!({ "members": [] }), GROUP_SCHEMA)
        .get("members")
        .is_some();
    let (v, ver) = groups::get(&auth.scope(&st), id_of(&p), with_members).await?;
    Ok(answer(StatusCode::OK, proj.apply(v, GROUP_SCHEMA), Some(ver), None))
}

async fn put_group(
    State(st): State<AppState>,
    auth: ScimAuth,
    h: HeaderMap,
    Path(p): Path<HashMap<String, String>>,
    ScimBody(b): ScimBody,
) -> R {
    let (v, ver) = groups::replace(&auth.scope(&st), id_of(&p), if_match(&h), b).await?;
    Ok(answer(StatusCode::OK, v, Some(ver), None))
}

async fn patch_group(
    State(st): State<AppState>,
    auth: ScimAuth,
    h: HeaderMap,
    Path(p): Path<HashMap<String, String>>,
    ScimBody(b): ScimBody,
) -> R {
    let (v, ver) = groups::patch(&auth.scope(&st), id_of(&p), if_match(&h), b).await?;
    Ok(answer(StatusCode::OK, v, Some(ver), None))
}

async fn delete_group(
    State(st): State<AppState>,
    auth: ScimAuth,
    h: HeaderMap,
    Path(p): Path<HashMap<String, String>>,
) -> R {
    groups::delete(&auth.scope(&st), id_of(&p), if_match(&h)).await?;
    Ok(no_content())
}

/// `POST /.search` at the root: users, then groups, paged over both.
async fn search_root(State(st): State<AppState>, auth: ScimAuth, ScimBody(b): ScimBody) -> R {
    let s = auth.scope(&st);
    let raw = search_params(&b);
    let u = users::list(&s, &raw).await?;
    let g = groups::list(
        &s,
        &RawParams {
            start_index: Some("1".into()),
            count: Some("0".into()),
            ..search_params(&b)
        },
    )
    .await?;
    let total = u["totalResults"].as_i64().unwrap_or(0) + g["totalResults"].as_i64().unwrap_or(0);
    let mut resources = u["Resources"].as_array().cloned().unwrap_or_default();
    let start = u["startIndex"].as_i64().unwrap_or(1);
    let user_total = u["totalResults"].as_i64().unwrap_or(0);
    let count = raw
        .count
        .as_deref()
        .and_then(|c| c.parse::<i64>().ok())
        .unwrap_or(100)
        .clamp(0, 1000);
    let room = count - i64::try_from(resources.len()).unwrap_or(0);
    if room > 0 {
        let g_start = (start - user_total).max(1);
        let more = RawParams {
            start_index: Some(g_start.to_string()),
            count: Some(room.to_string()),
            ..search_params(&b)
        };
        let g = groups::list(&s, &more).await?;
        resources.extend(g["Resources"].as_array().cloned().unwrap_or_default());
    }
    let n = resources.len();
    Ok(answer(
        StatusCode::OK,
        json!({ "schemas": [LIST_SCHEMA], "totalResults": total, "startIndex": start, "itemsPerPage": n, "Resources": resources }),
        None,
        None,
    ))
}
