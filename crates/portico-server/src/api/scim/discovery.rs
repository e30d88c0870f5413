//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas` (RFC 7644 §4, RFC 7643 §5–7).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{answer, ScimAuth};
use crate::api::Api;
use crate::error::{ApiError, ScimFault};
use crate::openapi::shapes;
use crate::services::scim::query::MAX_COUNT;
use crate::services::scim::resource::{scim_error, ENTERPRISE_SCHEMA, GROUP_SCHEMA, LIST_SCHEMA, USER_SCHEMA};
use crate::services::scim::Scope;
use crate::state::AppState;

const SCIM: &str = "application/scim+json";

/// Registers the discovery routes.
pub fn routes(api: Api) -> Api {
    api.get(
        "/scim/v2/{directoryId}/ServiceProviderConfig",
        "SCIM service provider configuration",
        spc,
    )
    .json_shape(200, SCIM, shapes::scim_document())
    .get(
        "/scim/v2/{directoryId}/ResourceTypes",
        "SCIM resource types",
        resource_types,
    )
    .json_shape(200, SCIM, shapes::scim_list())
    .get(
        "/scim/v2/{directoryId}/ResourceTypes/{name}",
        "One SCIM resource type",
        resource_type,
    )
    .json_shape(200, SCIM, shapes::scim_document())
    .get("/scim/v2/{directoryId}/Schemas", "SCIM schemas", schemas)
    .json_shape(200, SCIM, shapes::scim_list())
    .get("/scim/v2/{directoryId}/Schemas/{id}", "One SCIM schema", schema)
    .json_shape(200, SCIM, shapes::scim_document())
}

fn meta(s: &Scope<'_>, kind: &str, path: &str) -> Value {
    json!({ "resourceType": kind, "location": format!("{}/{path}", s.base()) })
}

async fn spc(State(state): State<AppState>, auth: ScimAuth) -> Response {
    let s = auth.scope(&state);
    answer(
        StatusCode::OK,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": format!("{}/api/openapi.json", state.settings.public_base()),
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": MAX_COUNT },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": true },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Directory bearer token",
                "description": "The directory's token from the Portico Organization API",
                "primary": true
            }],
            "meta": meta(&s, "ServiceProviderConfig", "ServiceProviderConfig"),
        }),
        None,
        None,
    )
}

fn types(s: &Scope<'_>) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users", "description": "User Account",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{ "schema": ENTERPRISE_SCHEMA, "required": false }],
            "meta": meta(s, "ResourceType", "ResourceTypes/User"),
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "Group",
            "schema": GROUP_SCHEMA, "schemaExtensions": [],
            "meta": meta(s, "ResourceType", "ResourceTypes/Group"),
        }),
    ]
}

fn list(items: Vec<Value>) -> Value {
    json!({ "schemas": [LIST_SCHEMA], "totalResults": items.len(), "startIndex": 1, "itemsPerPage": items.len(), "Resources": items })
}

async fn resource_types(State(state): State<AppState>, auth: ScimAuth) -> Response {
    answer(StatusCode::OK, list(types(&auth.scope(&state))), None, None)
}

async fn resource_type(
    State(state): State<AppState>,
    auth: ScimAuth,
    Path(p): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let name = p.get("name").map(String::as_str).unwrap_or_default();
    types(&auth.scope(&state))
        .into_iter()
        .find(|t| t["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(name)))
        .map(|t| answer(StatusCode::OK, t, None, None))
        .ok_or_else(|| scim_error(ScimFault::NotFound, "no such resource type"))
}

fn attr(name: &str, ty: &str, extra: Value) -> Value {
    let mut a = json!({
        "name": name, "type": ty, "multiValued": false, "description": name, "required": false,
        "caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
    });
    if let (Some(o), Some(e)) = (a.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    a
}

fn multi(name: &str, subs: Vec<Value>) -> Value {
    attr(name, "complex", json!({ "multiValued": true, "subAttributes": subs }))
}

fn reference(types: &[&str], mutability: &str) -> Value {
    attr(
        "$ref",
        "reference",
        json!({ "referenceTypes": types, "mutability": mutability, "caseExact": true }),
    )
}

fn strings(names: &[&str]) -> Vec<Value> {
    names.iter().map(|n| attr(n, "string", json!({}))).collect()
}

fn value_subs() -> Vec<Value> {
    vec![
        attr("value", "string", json!({})),
        attr("display", "string", json!({})),
        attr("type", "string", json!({})),
        attr("primary", "boolean", json!({})),
    ]
}

fn all_schemas(s: &Scope<'_>) -> Vec<Value> {
    let sm = |id: &str| meta(s, "Schema", &format!("Schemas/{id}"));
    let name_subs = [
        "formatted",
        "familyName",
        "givenName",
        "middleName",
        "honorificPrefix",
        "honorificSuffix",
    ];
    let address_subs = [
        "formatted",
        "streetAddress",
        "locality",
        "region",
        "postalCode",
        "country",
        "type",
    ];
    let user_attrs = vec![
        attr(
            "userName",
            "string",
            json!({ "required": true, "uniqueness": "server" }),
        ),
        attr("externalId", "string", json!({ "caseExact": true })),
        attr("name", "complex", json!({ "subAttributes": strings(&name_subs) })),
        attr("displayName", "string", json!({})),
        attr("nickName", "string", json!({})),
        attr("title", "string", json!({})),
        attr("userType", "string", json!({})),
        attr("preferredLanguage", "string", json!({})),
        attr("locale", "string", json!({})),
        attr("timezone", "string", json!({})),
        attr("active", "boolean", json!({})),
        attr(
            "password",
            "string",
            json!({ "mutability": "writeOnly", "returned": "never" }),
        ),
        multi("emails", value_subs()),
        multi("phoneNumbers", value_subs()),
        multi("addresses", strings(&address_subs)),
        attr(
            "groups",
            "complex",
            json!({ "multiValued": true, "mutability": "readOnly", "subAttributes": [
                attr("value", "string", json!({ "mutability": "readOnly" })),
                reference(&["Group"], "readOnly"),
                attr("display", "string", json!({ "mutability": "readOnly" })),
                attr("type", "string", json!({ "mutability": "readOnly", "canonicalValues": ["direct"] })),
            ] }),
        ),
        multi("roles", value_subs()),
        multi("entitlements", value_subs()),
    ];
    let group_attrs = vec![
        attr("displayName", "string", json!({ "required": true })),
        attr("externalId", "string", json!({ "caseExact": true })),
        attr(
            "members",
            "complex",
            json!({ "multiValued": true, "subAttributes": [
            attr("value", "string", json!({ "mutability": "immutable", "caseExact": true })),
            reference(&["User"], "immutable"),
            attr("display", "string", json!({ "mutability": "readOnly" })),
            attr("type", "string", json!({ "mutability": "immutable", "canonicalValues": ["User"] })),
        ] }),
        ),
    ];
    let enterprise_attrs = vec![
        attr("employeeNumber", "string", json!({})),
        attr("costCenter", "string", json!({})),
        attr("organization", "string", json!({})),
        attr("division", "string", json!({})),
        attr("department", "string", json!({})),
        attr(
            "manager",
            "complex",
            json!({ "subAttributes": [
                attr("value", "string", json!({})),
                reference(&["User"], "readWrite"),
                attr("displayName", "string", json!({ "mutability": "readOnly" })),
            ] }),
        ),
    ];
    let schema_uri = "urn:ietf:params:scim:schemas:core:2.0:Schema";
    vec![
        json!({ "schemas": [schema_uri], "id": USER_SCHEMA, "name": "User", "description": "User Account", "attributes": user_attrs, "meta": sm(USER_SCHEMA) }),
        json!({ "schemas": [schema_uri], "id": GROUP_SCHEMA, "name": "Group", "description": "Group", "attributes": group_attrs, "meta": sm(GROUP_SCHEMA) }),
        json!({ "schemas": [schema_uri], "id": ENTERPRISE_SCHEMA, "name": "EnterpriseUser", "description": "Enterprise User", "attributes": enterprise_attrs, "meta": sm(ENTERPRISE_SCHEMA) }),
    ]
}

async fn schemas(State(state): State<AppState>, auth: ScimAuth) -> Response {
    answer(StatusCode::OK, list(all_schemas(&auth.scope(&state))), None, None)
}

async fn schema(
    State(state): State<AppState>,
    auth: ScimAuth,
    Path(p): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id = p.get("id").map(String::as_str).unwrap_or_default();
    all_schemas(&auth.scope(&state))
        .into_iter()
        .find(|s| s["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
        .map(|s| answer(StatusCode::OK, s, None, None))
        .ok_or_else(|| scim_error(ScimFault::NotFound, "no such schema"))
}
