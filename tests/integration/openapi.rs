//! The OpenAPI document against the route registry and the answers actually served: every
//! route is in it, every write route declares its body (from the handler's own body type),
//! and error answers have the documented shape and status in both families.

use std::collections::HashMap;

use portico_server::api::Body;
use portico_server::openapi::UNDOCUMENTED_BODIES;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::TestApp;

#[test]
fn every_write_route_declares_its_body_and_the_debt_list_only_shrinks() {
    let (_, ops) = portico_server::api::all();
    let mut missing = Vec::new();
    for op in &ops {
        let write = matches!(op.method, "post" | "put" | "patch");
        let listed = UNDOCUMENTED_BODIES.contains(&(op.method, op.path));
        match (&op.body, write, listed) {
            (Body::Undeclared, true, false) => missing.push(format!("{} {}", op.method, op.path)),
            (Body::Json(_) | Body::None, _, true) => {
                panic!(
                    "{} {} is documented now: remove it from UNDOCUMENTED_BODIES",
                    op.method, op.path
                )
            }
            _ => {}
        }
    }
    assert!(
        missing.is_empty(),
        "write routes without a body declaration; add `.body::<YourBody>()` (derive utoipa::ToSchema \
         on it) or `.no_body()` after the registration: {missing:#?}"
    );
    for (method, path) in UNDOCUMENTED_BODIES {
        assert!(
            ops.iter().any(|o| o.method == *method && o.path == *path),
            "{method} {path} is no longer a route: remove it from UNDOCUMENTED_BODIES"
        );
    }
    // One name, one schema: two body types must not share a component name.
    let mut seen: HashMap<String, Value> = HashMap::new();
    for op in &ops {
        if let Body::Json(b) = &op.body {
            for (name, schema) in &b.components {
                if let Some(prev) = seen.insert(name.clone(), schema.clone()) {
                    assert_eq!(
                        &prev, schema,
                        "two body types are both named {name}: use #[schema(as = …)]"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn the_served_document_describes_bodies_errors_and_security_as_served() {
    let app = TestApp::start().await;
    let o = app.owner("docs").await;
    let doc = app.call(Method::GET, "/api/openapi.json", None, None).await.body;
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = &doc["components"]["schemas"];
    // Bodies come from the handlers' types, with serde's names and its unknown-field refusal.
    let token = &schemas["CreateTokenBody"];
    for field in ["name", "organizationId", "expiresAt"] {
        assert!(token["properties"][field].is_object(), "{token}");
    }
    assert_eq!(token["required"], json!(["name"]), "{token}");
    let post = &doc["paths"]["/api/user/tokens"]["post"];
    assert_eq!(
        post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/CreateTokenBody"
    );
    assert_eq!(schemas["SettingsBody"]["properties"]["clientSecret"]["type"], "string");
    assert!(doc["components"]["securitySchemes"]["apiKey"]["name"] == "X-Api-Key");

    // Every documented write route with a JSON body, sent an unknown field: the answer is a
    // documented status in the documented error shape of its family.
    let (_, ops) = portico_server::api::all();
    let mut checked = 0;
    for op in ops.iter().filter(|o| matches!(o.body, Body::Json(_))) {
        let path = op.path.replace("{orgId}", &o.org_id).replace('{', "x").replace('}', "");
        let method = Method::from_bytes(op.method.to_uppercase().as_bytes()).unwrap();
        let r = app
            .call(method, &path, Some(&o.key), Some(json!({ "surelyNotAField": 1 })))
            .await;
        let responses = &doc["paths"][op.path][op.method]["responses"];
        let status = r.status.as_u16().to_string();
        assert!(
            responses[&status].is_object(),
            "{} {}: {} is not documented ({})",
            op.method,
            op.path,
            status,
            r.text
        );
        let schema_ref = responses[&status]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap();
        let schema = &schemas[schema_ref.rsplit('/').next().unwrap()];
        for key in schema["required"].as_array().unwrap() {
            assert!(
                r.body.get(key.as_str().unwrap()).is_some(),
                "{} {}: answer lacks {key}: {}",
                op.method,
                op.path,
                r.text
            );
        }
        if schema_ref.ends_with("SdkError") {
            assert!(r.body.get("success").is_none(), "{}", r.text);
        }
        checked += 1;
    }
    assert!(checked >= 15, "{checked}");
}
