//! The OpenAPI 3.1 document, generated from the registered routes: paths, path parameters,
//! security, request bodies from the handlers' body types ([`crate::api::Api::body`]), and the
//! answers each family really gives — the envelope (Organization API) or bare objects with
//! `{message, code, requestId}` errors (SDK API), 503 with `Retry-After`.

use serde_json::{json, Map, Value};

mod closed;
pub mod mirrors;
pub mod shapes;

pub use closed::{close, close_value};

use crate::api::{Answer, Body, Framing, OpDoc, Shape};
use crate::respond::{is_browser_route, Family};

/// Write routes registered before request bodies were documented; each is debt to pay with
/// `.body::<T>()` at its registration. Only removals are welcome: the OpenAPI test fails for any
/// other write route without a body schema.
pub const UNDOCUMENTED_BODIES: &[(&str, &str)] = &[];

/// The OAuth 2.0 back-channel endpoints: their refusals are RFC 6749 §5.2 errors.
fn is_oauth_json(path: &str) -> bool {
    matches!(
        path,
        "/oauth2/token" | "/oauth2/revoke" | "/oauth2/userinfo" | "/oauth2/jwks"
    )
}

/// The error answers of a route: every status the error mapping can give, each in its family's
/// one error schema (`default` covers the rest, e.g. 405, 412, 413, 415, 429). The OAuth 2.0
/// endpoints answer RFC 6749 errors (a refusal before the handler, such as an oversized body,
/// is still the envelope); browser routes show a person an HTML page instead (SPEC §3).
fn error_responses(path: &str, auth: bool) -> Map<String, Value> {
    let family = Family::of(path);
    let (schema, media) = match family {
        Family::Sdk => (json!({ "$ref": "#/components/schemas/SdkError" }), "application/json"),
        Family::Scim => (
            json!({ "$ref": "#/components/schemas/ScimError" }),
            "application/scim+json",
        ),
        Family::Org if is_oauth_json(path) => (
            json!({ "anyOf": [{ "$ref": "#/components/schemas/OAuthError" }, { "$ref": "#/components/schemas/ErrorEnvelope" }] }),
            "application/json",
        ),
        Family::Org => (
            json!({ "$ref": "#/components/schemas/ErrorEnvelope" }),
            "application/json",
        ),
    };
    let mut content = json!({ media: { "schema": schema } });
    if is_browser_route(path) || path.starts_with("/oauth2/authorize") || path.starts_with("/api/auth/sso/saml/") {
        content["text/html"] = json!({ "schema": { "type": "string" } });
    }
    let mut out = Map::new();
    let mut codes = vec![
        ("400", "Invalid input (VALIDATION_ERROR, naming the field)"),
        ("404", "Not found"),
        ("409", "Conflict with the current state"),
        (
            "500",
            "A bug (INTERNAL_ERROR; details only in the log, under the request id)",
        ),
        ("default", "Any other refusal, in the same error shape"),
    ];
    if auth {
        codes.push(("401", "No or bad credentials"));
        codes.push(("403", "Not allowed"));
    }
    for (code, description) in codes {
        out.insert(code.into(), json!({ "description": description, "content": content }));
    }
    out.insert(
        "503".into(),
        json!({
            "description": "The database is unavailable (restart, failover); retry after the given seconds",
            "headers": { "Retry-After": { "schema": { "type": "integer" } } },
            "content": content,
        }),
    );
    out
}

/// The OpenAPI response object of one success answer.
fn success(answer: &Answer, schemas: &mut Map<String, Value>) -> Value {
    let mut keep = |shape: &Shape| {
        for (name, s) in &shape.components {
            schemas.insert(name.clone(), s.clone());
        }
        shape.schema.clone()
    };
    let enveloped = |data: Value, page: bool| {
        let mut extra = json!({ "properties": { "data": data, "status": { "const": answer.status } } });
        if page {
            extra["required"] = json!(["pagination"]);
        }
        json!({ "allOf": [{ "$ref": "#/components/schemas/Envelope" }, extra] })
    };
    let described =
        |media: &str, schema: Value| json!({ "description": "Success", "content": { media: { "schema": schema } } });
    match &answer.framing {
        Framing::Envelope(shape) => described("application/json", enveloped(keep(shape), false)),
        Framing::Page(shape) => {
            let items = keep(shape);
            described(
                "application/json",
                enveloped(json!({ "type": "array", "items": items }), true),
            )
        }
        Framing::Bare(media, shape) => described(media, keep(shape)),
        Framing::Media(media) => described(media, json!({ "type": "string" })),
        Framing::Redirect => json!({
            "description": "Redirect",
            "headers": { "Location": { "required": true, "schema": { "type": "string" } } },
        }),
        Framing::Empty => json!({ "description": "Done (no body)" }),
    }
}

/// Builds the document for `ops`.
pub fn document(ops: &[OpDoc]) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for op in ops {
        let mut params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        params.extend(op.query.iter().cloned());
        let family = Family::of(op.path);
        let mut responses = error_responses(op.path, op.auth);
        for answer in &op.answers {
            responses.insert(answer.status.to_string(), success(answer, &mut schemas));
        }
        let mut operation = json!({
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": format!("{}_{}", op.method, op.path.trim_matches('/').replace(['/', '{', '}', '-', '.'], "_")),
            "responses": responses,
        });
        if let Some(o) = operation.as_object_mut() {
            if !params.is_empty() {
                o.insert("parameters".into(), Value::Array(params));
            }
            if op.auth {
                let security = match family {
                    Family::Scim => json!([{ "scimBearer": [] }]),
                    Family::Sdk => json!([{ "apiKey": [] }, { "bearer": [] }]),
                    Family::Org => json!([{ "apiKey": [] }, { "bearer": [] }, { "sessionCookie": [] }]),
                };
                o.insert("security".into(), security);
            }
            let body = match &op.body {
                Body::Json(shape) if family == Family::Scim => Some(("application/scim+json", shape)),
                Body::Json(shape) => Some(("application/json", shape)),
                Body::Form(shape) => Some(("application/x-www-form-urlencoded", shape)),
                Body::None | Body::Undeclared => None,
            };
            if let Some((media, shape)) = body {
                o.insert(
                    "requestBody".into(),
                    json!({ "required": true, "content": { media: { "schema": shape.schema } } }),
                );
                for (name, s) in &shape.components {
                    schemas.insert(name.clone(), s.clone());
                }
            }
        }
        let entry = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        if let Some(obj) = entry.as_object_mut() {
            obj.insert(op.method.to_owned(), operation);
        }
    }
    let fixed = json!({
        "Envelope": {
            "type": "object",
            "required": ["success", "status", "code", "message", "data"],
            "additionalProperties": false,
            "properties": {
                "success": { "const": true }, "status": { "type": "integer" }, "code": { "const": "OK" },
                "message": { "type": "string" }, "data": {},
                "pagination": { "type": "object", "required": ["nextCursor", "limit"], "additionalProperties": false,
                                "properties": { "nextCursor": { "type": ["string", "null"] }, "limit": { "type": "integer" } } }
            }
        },
        "ErrorEnvelope": {
            "description": "Every Organization API error (SPEC §1.1)",
            "type": "object",
            "required": ["success", "status", "code", "message", "data", "requestId"],
            "additionalProperties": false,
            "properties": {
                "success": { "const": false }, "status": { "type": "integer" }, "code": { "type": "string" },
                "message": { "type": "string" }, "data": { "type": "null" }, "requestId": { "type": "string" },
                "details": { "type": "array", "items": { "type": "object", "required": ["field", "message"], "additionalProperties": false,
                             "properties": { "field": { "type": "string" }, "message": { "type": "string" } } } },
                "loginUrl": { "type": "string" }
            }
        },
        "ScimError": {
            "type": "object",
            "required": ["schemas", "status"],
            "additionalProperties": false,
            "properties": { "schemas": { "type": "array", "items": { "type": "string" } }, "status": { "type": "string" },
                            "detail": { "type": "string" }, "scimType": { "type": "string" } }
        },
        "OAuthError": {
            "description": "An OAuth 2.0 error (RFC 6749 §5.2, RFC 6750 §3.1)",
            "type": "object",
            "required": ["error"],
            "additionalProperties": false,
            "properties": { "error": { "type": "string" }, "error_description": { "type": "string" } }
        },
        "SdkError": {
            "type": "object",
            "required": ["message", "code", "requestId"],
            "additionalProperties": false,
            "properties": { "message": { "type": "string" }, "code": { "type": "string" }, "requestId": { "type": "string" },
                            "loginUrl": { "type": "string" } }
        }
    });
    if let Value::Object(f) = fixed {
        schemas.extend(f);
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Portico", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Self-hostable enterprise SSO: the Organization API (enveloped) and the grantex-compatible SSO API." },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": { "type": "apiKey", "in": "header", "name": "X-Api-Key" },
                "bearer": { "type": "http", "scheme": "bearer", "description": "A session token, an API key or a provider access token" },
                "scimBearer": { "type": "http", "scheme": "bearer", "description": "The directory's SCIM token" },
                "sessionCookie": { "type": "apiKey", "in": "cookie", "name": "portico_session" }
            },
            "schemas": schemas
        }
    })
}
