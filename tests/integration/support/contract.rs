//! The served answers against the OpenAPI document: every answer `TestApp::call`/`raw` receives
//! is validated against the schema the document gives its route, status and media type, so any
//! integration test that meets an answer the document misdescribes fails, naming the route.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use portico_server::api::OpDoc;
use serde_json::{json, Value};

struct Contract {
    doc: Value,
    ops: Vec<OpDoc>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn contract() -> &'static Contract {
    static C: OnceLock<Contract> = OnceLock::new();
    C.get_or_init(|| {
        let (_, ops) = portico_server::api::all();
        Contract {
            doc: portico_server::openapi::document(&ops),
            ops,
            validators: Mutex::new(HashMap::new()),
        }
    })
}

/// The document as built from the route registry (what `/api/openapi.json` serves).
pub fn document() -> &'static Value {
    &contract().doc
}

/// The route template a concrete path is served by: literal segments win over `{param}`s.
pub fn template_of(method: &str, path: &str) -> Option<&'static OpDoc> {
    let path = path.split('?').next().unwrap_or(path);
    let segs: Vec<&str> = path.split('/').collect();
    contract()
        .ops
        .iter()
        .filter(|o| o.method == method)
        .filter_map(|o| {
            let t: Vec<&str> = o.path.split('/').collect();
            if t.len() != segs.len() {
                return None;
            }
            let mut literal = 0;
            for (a, b) in t.iter().zip(&segs) {
                if a.starts_with('{') {
                    if b.is_empty() {
                        return None;
                    }
                } else if a == b {
                    literal += 1;
                } else {
                    return None;
                }
            }
            Some((literal, o))
        })
        .max_by_key(|(l, _)| *l)
        .map(|(_, o)| o)
}

/// A JSON Pointer token, percent-encoded for use in a URI fragment (`{` and `}` are not allowed there).
fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0")
        .replace('/', "~1")
        .replace('{', "%7B")
        .replace('}', "%7D")
        .replace('+', "%2B")
}

fn validator(pointer: &str) -> Arc<jsonschema::Validator> {
    let c = contract();
    let mut cache = c.validators.lock().unwrap();
    if let Some(v) = cache.get(pointer) {
        return v.clone();
    }
    // The whole document is the root resource, so `#/components/schemas/…` references resolve.
    let mut root = c.doc.clone();
    root["$ref"] = json!(format!("#{pointer}"));
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    let v = Arc::new(
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("schema at {pointer} does not compile: {e}")),
    );
    cache.insert(pointer.to_owned(), v.clone());
    v
}

/// Checks one answer; panics with the route, status and the schema's complaint when the
/// document does not describe it. Paths no route serves (404 probes) are skipped.
pub fn check(method: &str, path: &str, status: u16, content_type: Option<&str>, text: &str) {
    let method = method.to_ascii_lowercase();
    let Some(op) = template_of(&method, path) else {
        return;
    };
    if op.answers.is_empty() && (200..300).contains(&status) {
        return; // undeclared answers: the openapi test names the route
    }
    let responses = &document()["paths"][op.path][&method]["responses"];
    let key = if responses.get(status.to_string()).is_some() {
        status.to_string()
    } else {
        "default".to_owned()
    };
    let response = &responses[&key];
    assert!(
        response.is_object() && !(key == "default" && (200..300).contains(&status)),
        "{method} {} answered {status}, which the OpenAPI document does not list: {text}",
        op.path
    );
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return; // redirects, 204
    };
    if text.is_empty() && status == 304 {
        return;
    }
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    assert!(
        content.contains_key(&media),
        "{method} {} answered {status} as {media:?}, the document says {:?}: {text}",
        op.path,
        content.keys().collect::<Vec<_>>()
    );
    if !media.contains("json") {
        return;
    }
    let body: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{method} {path} answered {status} with invalid JSON ({e}): {text}"));
    let pointer = format!(
        "/paths/{}/{method}/responses/{key}/content/{}/schema",
        pointer_escape(op.path),
        pointer_escape(&media)
    );
    let v = validator(&pointer);
    let errors: Vec<String> = v
        .iter_errors(&body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {} answered {status} outside its OpenAPI schema:\n  {}\nbody: {text}",
        op.path,
        errors.join("\n  ")
    );
}
