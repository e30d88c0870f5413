//! The OpenAPI 3.1 document, generated from the registered routes.

use serde_json::{json, Map, Value};

use crate::api::OpDoc;

/// Builds the document for `ops`.
pub fn document(ops: &[OpDoc]) -> Value {
    let mut paths = Map::new();
    for op in ops {
        let params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let family = if op.path.starts_with("/v1/") || op.path.starts_with("/sso/") {
            "SdkError"
        } else {
            "Envelope"
        };
        let mut operation = json!({
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": format!("{}_{}", op.method, op.path.trim_matches('/').replace(['/', '{', '}', '-', '.'], "_")),
            "responses": {
                "default": {
                    "description": "Success, or an error in this family's shape",
                    "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{family}") } } }
                }
            }
        });
        if let Some(o) = operation.as_object_mut() {
            if !params.is_empty() {
                o.insert("parameters".into(), Value::Array(params));
            }
            if op.auth {
                o.insert(
                    "security".into(),
                    json!([{ "apiKey": [] }, { "bearer": [] }, { "sessionCookie": [] }]),
                );
            }
        }
        let entry = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        if let Some(obj) = entry.as_object_mut() {
            obj.insert(op.method.to_owned(), operation);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Portico", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Self-hostable enterprise SSO: the Organization API (enveloped) and the grantex-compatible SSO API." },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": { "type": "apiKey", "in": "header", "name": "X-Api-Key" },
                "bearer": { "type": "http", "scheme": "bearer" },
                "sessionCookie": { "type": "apiKey", "in": "cookie", "name": "portico_session" }
            },
            "schemas": {
                "Envelope": {
                    "type": "object",
                    "required": ["success", "status", "code", "message", "data"],
                    "properties": {
                        "success": { "type": "boolean" }, "status": { "type": "integer" }, "code": { "type": "string" },
                        "message": { "type": "string" }, "data": {}, "requestId": { "type": "string" },
                        "details": { "type": "array", "items": { "type": "object" } },
                        "pagination": { "type": "object", "properties": { "nextCursor": { "type": ["string", "null"] }, "limit": { "type": "integer" } } }
                    }
                },
                "SdkError": {
                    "type": "object",
                    "properties": { "message": { "type": "string" }, "code": { "type": "string" }, "requestId": { "type": "string" } }
                }
            }
        }
    })
}
