//! The OpenAPI document against the route registry and the answers actually served: every
//! route is in it, every write route declares its body (from the handler's own body type),
//! and error answers have the documented shape and status in both families.

use std::collections::HashMap;

use portico_server::api::{Body, Framing};
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
            (Body::Json(_) | Body::Form(_) | Body::None, _, true) => {
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
        if let Body::Json(b) | Body::Form(b) = &op.body {
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

#[test]
fn every_route_declares_its_answers_and_its_query() {
    let (_, ops) = portico_server::api::all();
    let undeclared: Vec<String> = ops
        .iter()
        .filter(|o| o.answers.is_empty())
        .map(|o| format!("{} {}", o.method, o.path))
        .collect();
    assert!(
        undeclared.is_empty(),
        "routes without a success answer; add `.data::<View>(200)`, `.page::<View>()`, `.json_shape(…)`, \
         `.redirect(302)` or `.empty(204)` after the registration: {undeclared:#?}"
    );
    // A list takes `limit`/`cursor`: every paged answer documents them.
    for op in ops
        .iter()
        .filter(|o| o.answers.iter().any(|a| matches!(a.framing, Framing::Page(_))))
    {
        let names: Vec<&str> = op.query.iter().filter_map(|p| p["name"].as_str()).collect();
        // The connection list is one page by construction (an organization has few).
        if op.path.ends_with("/sso/connections") {
            continue;
        }
        assert!(
            names.contains(&"limit") && names.contains(&"cursor"),
            "{} {} answers a page but documents no limit/cursor: {names:?}",
            op.method,
            op.path
        );
    }
    let doc = portico_server::openapi::document(&ops);
    // One error schema per family; every error answer refers to one of them.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, r) in op["responses"].as_object().unwrap() {
                if status.starts_with('2') || status.starts_with('3') {
                    continue;
                }
                let text = r["content"].to_string();
                assert!(
                    ["ErrorEnvelope", "SdkError", "ScimError"]
                        .iter()
                        .any(|e| text.contains(e)),
                    "{method} {path} {status}: {text}"
                );
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
    assert_eq!(
        &doc,
        crate::support::contract::document(),
        "the served document is the generated one"
    );
    let schemas = &doc["components"]["schemas"];
    // Bodies come from the handlers' types, with serde's names and its unknown-field refusal.
    // Answers are typed: the envelope's data refers to the view, lists carry their query.
    let list = &doc["paths"]["/api/user/tokens"]["get"];
    assert!(
        list["responses"]["200"]
            .to_string()
            .contains("#/components/schemas/Token"),
        "{list}"
    );
    let names: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["limit", "cursor"]);
    assert_eq!(schemas["Token"]["properties"]["createdAt"]["format"], "date-time");
    let token_form = &doc["paths"]["/oauth2/token"]["post"]["requestBody"]["content"];
    assert!(
        token_form["application/x-www-form-urlencoded"].is_object(),
        "{token_form}"
    );
    let scim = &doc["paths"]["/scim/v2/{directoryId}/Users"]["post"];
    assert!(
        scim["requestBody"]["content"]["application/scim+json"].is_object(),
        "{scim}"
    );
    assert_eq!(scim["security"], json!([{ "scimBearer": [] }]));
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
        let content = &responses[&status]["content"];
        let schema_ref = content["application/json"]["schema"]["$ref"]
            .as_str()
            .or_else(|| content["application/scim+json"]["schema"]["$ref"].as_str())
            .unwrap_or_else(|| panic!("{} {}: {content}", op.method, op.path));
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
