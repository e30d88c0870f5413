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

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use portico_core::connection::{ConnectionStatus, Protocol};
    use portico_core::idp::CheckReport;
    use portico_store::connections::Connection;
    use serde_json::{json, Value};

    use crate::api::Shape;
    use crate::services::connections::{test_view, view};

    fn connection(protocol: Protocol, config: Value, secrets: bool) -> Connection {
        let now = Utc::now();
        Connection {
            id: "sso_1".into(),
            organization_id: "org_1".into(),
            name: "C".into(),
            protocol,
            status: ConnectionStatus::Active,
            is_default: false,
            provider: None,
            config,
            client_secret: secrets.then(|| "sealed".into()),
            ldap_bind_password: secrets.then(|| "sealed".into()),
            sp_private_key: None,
            domains: vec!["x.test".into()],
            jit_provisioning: true,
            enforce: false,
            group_attribute: None,
            group_mappings: json!({ "admin": ["Admins"] }),
            default_scopes: Vec::new(),
            default_role: None,
            attribute_mapping: json!({ "email": "mail" }),
            redirect_uris: Vec::new(),
            last_test_at: Some(now),
            last_test_success: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// A value of every property a schema lists (so every settings field is set).
    fn filled(schema: &Value) -> Value {
        let mut out = serde_json::Map::new();
        for (k, p) in schema["properties"].as_object().unwrap() {
            let t = p["type"].to_string();
            let v = if t.contains("boolean") {
                json!(true)
            } else if t.contains("array") {
                json!(["x"])
            } else {
                json!("x")
            };
            out.insert(k.clone(), v);
        }
        Value::Object(out)
    }

    fn components(shape: &Shape) -> Value {
        let mut schemas = serde_json::Map::new();
        for (n, s) in &shape.components {
            schemas.insert(n.clone(), s.clone());
        }
        json!({ "components": { "schemas": schemas } })
    }

    fn valid(shape: &Shape, v: &Value) {
        let mut root = components(shape);
        root["$ref"] = shape.schema["$ref"].clone();
        let validator = jsonschema::draft202012::new(&root).unwrap();
        let errors: Vec<String> = validator.iter_errors(v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}\n{v:#}");
    }

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    /// With every setting set, a view of each protocol has exactly its branch's properties; with
    /// none set, or settings that do not read, it has at least the required ones. Every one
    /// validates against the closed schema.
    #[test]
    fn the_connection_schema_is_the_view() {
        let shape = super::connection();
        let doc = components(&shape);
        let schemas = &doc["components"]["schemas"];
        for (protocol, branch, settings) in [
            (Protocol::Oidc, "OidcConnection", "OidcSettings"),
            (Protocol::Saml, "SamlConnection", "SamlSettings"),
            (Protocol::Ldap, "LdapConnection", "LdapSettings"),
        ] {
            let b = &schemas[branch];
            assert_eq!(b["additionalProperties"], json!(false));
            let stored = filled(
                &serde_json::to_value(match protocol {
                    Protocol::Oidc => {
                        <crate::services::connections::settings::OidcSettings as utoipa::PartialSchema>::schema()
                    }
                    Protocol::Saml => {
                        <crate::services::connections::settings::SamlSettings as utoipa::PartialSchema>::schema()
                    }
                    Protocol::Ldap => {
                        <crate::services::connections::settings::LdapSettings as utoipa::PartialSchema>::schema()
                    }
                })
                .unwrap(),
            );
            let full = view(&connection(protocol, stored, true));
            valid(&shape, &full);
            let mut props = keys(&b["properties"]);
            props.sort();
            assert_eq!(
                keys(&full),
                props,
                "{settings}: the view and {branch} list the same fields"
            );
            for config in [
                json!({}),
                json!({ "issuerUrl": 5, "idpCertificates": "x", "ldapStartTls": "yes" }),
            ] {
                let bare = view(&connection(protocol, config, false));
                valid(&shape, &bare);
            }
        }
    }

    /// A test result with every fact the adapters report validates, per protocol, and has every
    /// property its branch lists.
    #[test]
    fn the_test_schema_is_the_test_view() {
        let shape = super::connection_test();
        let doc = components(&shape);
        for (protocol, branch, config) in [
            (
                Protocol::Oidc,
                "OidcConnectionTest",
                json!({ "issuerUrl": "https://idp" }),
            ),
            (Protocol::Saml, "SamlConnectionTest", json!({})),
            (Protocol::Ldap, "LdapConnectionTest", json!({ "ldapUrl": "ldaps://d" })),
        ] {
            let mut report = CheckReport::default();
            report.push("discovery", false, "unreachable");
            for k in [
                "issuer",
                "authorizationEndpoint",
                "tokenEndpoint",
                "jwksUri",
                "idpEntityId",
                "idpSsoUrl",
            ] {
                report.fact(k, "https://idp/x");
            }
            report.fact("issParameterSupported", true);
            let v = test_view(&connection(protocol, config, true), &report);
            valid(&shape, &v);
            assert_eq!(v["checks"][0]["name"], "discovery");
            assert_eq!(
                keys(&v),
                keys(&doc["components"]["schemas"][branch]["properties"]),
                "{branch}"
            );
            valid(
                &shape,
                &test_view(&connection(protocol, json!({}), false), &CheckReport::default()),
            );
        }
    }
}
