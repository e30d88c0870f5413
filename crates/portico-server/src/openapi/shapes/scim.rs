//! SCIM: the directories as the Organization API shows them, and the SCIM protocol's own
//! resources, lists, discovery documents and request bodies (RFC 7643, RFC 7644).

use serde_json::{json, Value};

use super::*;
use crate::api::Shape;

/// A SCIM directory (with its token only when just minted).
pub fn directory() -> Shape {
    Shape::named(
        "Directory",
        some(
            json!({
                "id": s(), "organizationId": s(), "name": s(), "provider": s(), "status": s(),
                "groupRoleMappings": { "type": "object", "additionalProperties": s() }, "requireMappedGroup": b(),
                "scimBaseUrl": s(), "tokenPrefix": s(),
                "tokenRotatedAt": ndt(), "createdAt": dt(), "updatedAt": dt(), "token": s(),
            }),
            &[
                "id",
                "organizationId",
                "name",
                "provider",
                "status",
                "scimBaseUrl",
                "createdAt",
            ],
        ),
    )
}

/// A user a directory synced.
pub fn directory_user() -> Shape {
    Shape::named(
        "DirectoryUser",
        all(json!({
            "id": s(), "userName": s(), "externalId": ns(), "email": ns(), "displayName": ns(),
            "active": b(), "userId": ns(), "createdAt": dt(), "updatedAt": dt(),
        })),
    )
}

/// A group a directory synced, with its mapped role.
pub fn directory_group() -> Shape {
    Shape::named(
        "DirectoryGroup",
        all(json!({
            "id": s(), "displayName": s(), "externalId": ns(), "memberCount": int(),
            "mappedRole": ns(), "createdAt": dt(), "updatedAt": dt(),
        })),
    )
}

/// SCIM's `meta` (RFC 7643 §3.1).
fn scim_meta() -> Value {
    some(
        json!({ "resourceType": s(), "created": dt(), "lastModified": dt(), "location": s(), "version": s() }),
        &[],
    )
}

/// A SCIM resource as served: `id` and `schemas` always (RFC 7643 §7 "returned: always"), the
/// rest as `attributes`/`excludedAttributes` project it.
fn scim_resource(kind: &str) -> Shape {
    let own = match kind {
        "ScimUser" => json!({
            "userName": s(), "externalId": s(), "active": b(), "displayName": s(),
            // Complex attributes as the client wrote them (RFC 7643 §4.1: sub-attributes a
            // client may extend), kept and served as sent.
            "name": { "type": "object", "additionalProperties": true },
            "emails": { "type": "array", "items": { "type": "object", "additionalProperties": true } },
        }),
        _ => json!({
            "displayName": s(), "externalId": s(),
            "members": { "type": "array", "items": some(json!({ "value": s(), "$ref": s(), "type": s() }), &["value"]) },
        }),
    };
    let mut props = json!({ "schemas": strings(), "id": s(), "meta": scim_meta() });
    if let (Some(p), Some(o)) = (props.as_object_mut(), own.as_object()) {
        p.extend(o.clone());
    }
    // Open: a SCIM resource carries the attributes and schema extensions its client wrote
    // (RFC 7643 §3, §8.7), which the server keeps and serves; the ones listed are checked.
    let mut schema = some(props, &["schemas", "id"]);
    schema["additionalProperties"] = json!(true);
    Shape::named(kind, schema)
}

/// A SCIM user (core schema plus the enterprise extension).
pub fn scim_user() -> Shape {
    scim_resource("ScimUser")
}

/// A SCIM group.
pub fn scim_group() -> Shape {
    scim_resource("ScimGroup")
}

/// A SCIM list answer (RFC 7644 §3.4.2).
pub fn scim_list() -> Shape {
    Shape::named(
        "ScimListResponse",
        some(
            json!({
                "schemas": strings(), "totalResults": int(), "startIndex": int(), "itemsPerPage": int(),
                // Users, groups or discovery documents, each open for its own reason.
                "Resources": { "type": "array", "items": { "type": "object", "additionalProperties": true } },
            }),
            &["schemas", "totalResults"],
        ),
    )
}

/// Any SCIM discovery document (ServiceProviderConfig, a ResourceType, a Schema).
pub fn scim_document() -> Shape {
    // Open: these are RFC 7643 §5-7 documents, whose content the RFC defines, not Portico.
    let mut schema = some(json!({ "schemas": strings() }), &["schemas"]);
    schema["additionalProperties"] = json!(true);
    Shape::named("ScimDocument", schema)
}

/// A SCIM resource body (create, replace): RFC 7643 attributes; the server checks them.
pub fn scim_resource_body() -> Shape {
    Shape::named(
        "ScimResourceBody",
        some(
            json!({ "schemas": strings(), "userName": s(), "displayName": s(), "externalId": s(), "active": b() }),
            &["schemas"],
        ),
    )
}

/// A SCIM PATCH body (RFC 7644 §3.5.2).
pub fn scim_patch_body() -> Shape {
    let op = some(json!({ "op": { "type": "string" }, "path": s(), "value": {} }), &["op"]);
    Shape::named(
        "ScimPatchOp",
        some(
            json!({ "schemas": strings(), "Operations": { "type": "array", "items": op } }),
            &["schemas", "Operations"],
        ),
    )
}

/// A SCIM search body (RFC 7644 §3.4.3).
pub fn scim_search_body() -> Shape {
    Shape::named(
        "ScimSearchRequest",
        some(
            json!({
                "schemas": strings(), "filter": s(), "attributes": strings(), "excludedAttributes": strings(),
                "startIndex": int(), "count": int(), "sortBy": s(), "sortOrder": s(),
            }),
            &["schemas"],
        ),
    )
}
