//! SSO connections and their tests (both families), derived from the view types in
//! [`crate::services::connections::views`] and the protocol settings: one closed schema per
//! protocol (`oneOf`, discriminated by `protocol`), each the common fields, the protocol's
//! settings minus its internal keys, and what the view adds for that protocol.

use serde_json::{json, Value};
use utoipa::ToSchema;

use super::*;
use crate::api::Shape;
use crate::openapi::mirrors::CheckSchema;
use crate::services::connections::settings::{LdapSettings, OidcSettings, ProtocolFields, SamlSettings};
use crate::services::connections::views::{
    ConnectionCommon, LdapTestFields, LdapViewFields, OidcTestFields, OidcViewFields, SamlTestFields, SamlViewFields,
    TestCommon,
};

/// The object schema of a settings type as the view shows it (its internal keys left out).
fn settings<T: ProtocolFields + ToSchema>(c: &mut Vec<(String, Value)>) -> Value {
    let mut schema = object::<T>(c);
    if let Some(props) = schema["properties"].as_object_mut() {
        for k in T::INTERNAL {
            props.remove(*k);
        }
    }
    schema
}

/// `branches` (name, protocol, parts) as closed components and `name` as their `oneOf`,
/// discriminated by `protocol`.
fn by_protocol(name: &str, branches: Vec<(&str, &str, Vec<Value>)>, mut c: Vec<(String, Value)>) -> Shape {
    let mut refs = Vec::new();
    let mut mapping = serde_json::Map::new();
    for (branch, protocol, parts) in branches {
        let mut schema = merge(&parts);
        schema["properties"]["protocol"] = json!({ "const": protocol });
        let r = format!("#/components/schemas/{branch}");
        refs.push(json!({ "$ref": r }));
        mapping.insert(protocol.to_owned(), json!(r));
        c.push((branch.to_owned(), schema));
    }
    c.push((
        name.to_owned(),
        json!({ "oneOf": refs, "discriminator": { "propertyName": "protocol", "mapping": mapping } }),
    ));
    Shape {
        schema: json!({ "$ref": format!("#/components/schemas/{name}") }),
        components: c,
    }
}

/// An SSO connection (both families; never a secret, only whether one is set).
pub fn connection() -> Shape {
    let mut c = Vec::new();
    let common = object::<ConnectionCommon>(&mut c);
    let branches = vec![
        (
            "OidcConnection",
            "oidc",
            vec![
                common.clone(),
                settings::<OidcSettings>(&mut c),
                object::<OidcViewFields>(&mut c),
            ],
        ),
        (
            "SamlConnection",
            "saml",
            vec![
                common.clone(),
                settings::<SamlSettings>(&mut c),
                object::<SamlViewFields>(&mut c),
            ],
        ),
        (
            "LdapConnection",
            "ldap",
            vec![
                common,
                settings::<LdapSettings>(&mut c),
                object::<LdapViewFields>(&mut c),
            ],
        ),
    ];
    by_protocol("Connection", branches, c)
}

/// A connection test (both families).
pub fn connection_test() -> Shape {
    let mut c = Vec::new();
    let common = object::<TestCommon>(&mut c);
    let branches = vec![
        (
            "OidcConnectionTest",
            "oidc",
            vec![common.clone(), object::<OidcTestFields>(&mut c)],
        ),
        (
            "SamlConnectionTest",
            "saml",
            vec![common.clone(), object::<SamlTestFields>(&mut c)],
        ),
        (
            "LdapConnectionTest",
            "ldap",
            vec![common, object::<LdapTestFields>(&mut c)],
        ),
    ];
    by_protocol("ConnectionTest", branches, c)
}

/// The default OIDC settings' test.
pub fn settings_test() -> Shape {
    let check = Shape::of::<CheckSchema>();
    let mut c = check.components;
    c.push((
        "SettingsTest".to_owned(),
        all(json!({ "success": b(), "message": s(), "checks": { "type": "array", "items": check.schema } })),
    ));
    Shape {
        schema: json!({ "$ref": "#/components/schemas/SettingsTest" }),
        components: c,
    }
}

/// The create body: the update body ([`crate::services::connections::ConnectionInput`]) with
/// `name` and `protocol` required.
pub fn connection_create() -> Shape {
    let input = Shape::of::<crate::services::connections::ConnectionInput>();
    let mut c = input.components;
    c.push((
        "ConnectionCreate".to_owned(),
        json!({ "allOf": [input.schema, { "required": ["name", "protocol"] }] }),
    ));
    Shape {
        schema: json!({ "$ref": "#/components/schemas/ConnectionCreate" }),
        components: c,
    }
}

/// The SDK's list of connections.
pub fn connection_list() -> Shape {
    let c = connection();
    let mut comps = c.components;
    comps.push((
        "ConnectionList".to_owned(),
        all(json!({ "connections": { "type": "array", "items": c.schema } })),
    ));
    Shape {
        schema: json!({ "$ref": "#/components/schemas/ConnectionList" }),
        components: comps,
    }
}
