//! Schemas of the answers that handlers assemble as JSON values (`json!`) rather than from one
//! typed view, by family: the Organization API ([`org`]), connections ([`connections`], derived
//! from their view types), SCIM ([`scim`]), the SDK API ([`sdk`]) and the OpenID Provider
//! ([`oauth2`]). Where there is no Rust type to derive a schema from it is written here by hand;
//! every answer schema is closed (`additionalProperties: false`, see [`crate::openapi::close`])
//! unless it says otherwise with a reason, and the integration tests validate every answer they
//! receive against the document (`tests/integration/support/contract.rs`), so a field served
//! but not listed here fails a test.

use serde_json::{json, Map, Value};
use utoipa::ToSchema;

fn s() -> Value {
    json!({ "type": "string" })
}
fn ns() -> Value {
    json!({ "type": ["string", "null"] })
}
fn dt() -> Value {
    json!({ "type": "string", "format": "date-time" })
}
fn ndt() -> Value {
    json!({ "type": ["string", "null"], "format": "date-time" })
}
fn b() -> Value {
    json!({ "type": "boolean" })
}
fn int() -> Value {
    json!({ "type": "integer" })
}
fn strings() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

/// An object with these properties, all of them required.
fn all(props: Value) -> Value {
    let required: Vec<String> = props
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    json!({ "type": "object", "required": required, "properties": props })
}

/// An object with these properties, of which `required` are always present.
fn some(props: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "required": required, "properties": props })
}

/// The inline object schema of `T`; the components it refers to are added to `c`.
fn object<T: ToSchema>(c: &mut Vec<(String, Value)>) -> Value {
    let mut deps = Vec::new();
    T::schemas(&mut deps);
    c.extend(
        deps.into_iter()
            .map(|(n, s)| (n, serde_json::to_value(s).unwrap_or_default())),
    );
    serde_json::to_value(<T as utoipa::PartialSchema>::schema()).unwrap_or_default()
}

/// Object schemas side by side as one closed object: their properties together (a later part's
/// definition of a key, and whether it is required, wins over an earlier one's).
fn merge(parts: &[Value]) -> Value {
    let mut props = Map::new();
    let mut required: Vec<Value> = Vec::new();
    for part in parts {
        let own: &[Value] = part["required"].as_array().map_or(&[], Vec::as_slice);
        for (k, v) in part["properties"].as_object().into_iter().flatten() {
            props.insert(k.clone(), v.clone());
            required.retain(|r| r != k);
            if own.iter().any(|r| r == k) {
                required.push(json!(k));
            }
        }
    }
    json!({ "type": "object", "required": required, "properties": props, "additionalProperties": false })
}

mod connections;
mod oauth2;
mod org;
mod scim;
mod sdk;

pub use connections::*;
pub use oauth2::*;
pub use org::*;
pub use scim::*;
pub use sdk::*;
