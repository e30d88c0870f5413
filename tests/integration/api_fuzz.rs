//! The served OpenAPI document under the tools that consume it: `openapi-spec-validator` accepts
//! it, and `schemathesis` (PyPI), fed only the document and the two families' credentials,
//! finds no server error and no answer outside its schema, with positive and negative data.
//! The interpreter is `PORTICO_TEST_API_PYTHON` (a venv `scripts/test` prepares), or one this
//! test makes once under `target/test-cache`.
//!
//! The example count is bounded (`EXAMPLES` per operation, fixed seed), so the run is a test of
//! a minute or two, not an open-ended fuzz (raise `EXAMPLES` locally for a longer hunt).

use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::json;

use crate::scim::directory;
use crate::support::TestApp;

/// The tools, pinned.
pub const SUITES: &str = "schemathesis==4.32.5 openapi-spec-validator==0.9.0";

/// Test cases per operation and phase.
const EXAMPLES: &str = "25";

async fn python() -> PathBuf {
    if let Ok(p) = std::env::var("PORTICO_TEST_API_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-cache/venv/api-suites");
    let py = venv.join("bin/python");
    let ok = std::fs::read_to_string(venv.join(".suites")).is_ok_and(|s| s.trim() == SUITES);
    if !ok {
        let out = tokio::process::Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut args = vec!["-m", "pip", "install", "-q", "--disable-pip-version-check"];
        args.extend(SUITES.split(' '));
        let out = tokio::process::Command::new(&py).args(args).output().await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(venv.join(".suites"), SUITES).unwrap();
    }
    py
}

fn tool(py: &Path, name: &str) -> PathBuf {
    py.parent().unwrap().join(name)
}

async fn run(cmd: &Path, args: &[&str], dir: &Path) -> (bool, String) {
    let out = tokio::process::Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", cmd.display()));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn openapi_spec_validator_accepts_the_document() {
    let app = TestApp::start().await;
    let doc = app.call(Method::GET, "/api/openapi.json", None, None).await;
    let dir = tempdir("spec");
    let file = dir.join("openapi.json");
    std::fs::write(&file, &doc.text).unwrap();
    let py = python().await;
    let (ok, out) = run(&tool(&py, "openapi-spec-validator"), &[file.to_str().unwrap()], &dir).await;
    assert!(ok && out.contains("OK"), "{out}");
}

fn tempdir(what: &str) -> PathBuf {
    let base = std::env::var("PORTICO_TEST_RUN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let d = base.join(format!("api-fuzz-{what}-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One schemathesis run over the operations `filter` selects, with `headers` and fixed path
/// parameters (so it reaches real objects, not only 404s).
async fn schemathesis(app: &TestApp, filter: &[&str], headers: &[String], params: &[(&str, &str)]) -> String {
    let py = python().await;
    let dir = tempdir("schemathesis");
    let mut config = String::from("[parameters]\n");
    for (k, v) in params {
        config.push_str(&format!("\"path.{k}\" = \"{v}\"\n"));
    }
    std::fs::write(dir.join("schemathesis.toml"), config).unwrap();
    let url = format!("{}/api/openapi.json", app.base);
    let mut args: Vec<String> = vec![
        "--config-file".into(),
        dir.join("schemathesis.toml").to_str().unwrap().into(),
        "run".into(),
        url,
        "--checks".into(),
        "not_a_server_error,response_schema_conformance".into(),
        "--mode".into(),
        "all".into(),
        "--phases".into(),
        "examples,coverage,fuzzing".into(),
        "--max-examples".into(),
        EXAMPLES.into(),
        "--seed".into(),
        "20261207".into(),
        "--generation-deterministic".into(),
        "--no-shrink".into(),
        // One worker: CPython 3.11's `ast.parse` (hypothesis describes lambdas with it) is not
        // thread-safe ("AST constructor recursion depth mismatch" under two workers).
        "--workers".into(),
        "1".into(),
        "--request-timeout".into(),
        "20".into(),
        "--suppress-health-check".into(),
        "all".into(),
        "--warnings".into(),
        "off".into(),
        "--no-color".into(),
    ];
    for h in headers {
        args.push("--header".into());
        args.push(h.clone());
    }
    args.extend(filter.iter().map(|s| (*s).to_owned()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = run(&tool(&py, "schemathesis"), &refs, &dir).await;
    assert!(ok, "schemathesis found problems:\n{out}");
    out
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let app = TestApp::start().await;
    let o = app.owner("fuzz").await;
    let d = directory(&app, &o, "generic").await;
    // Something to list and read: a member besides the owner is not needed; a domain is.
    let r = app
        .call(
            Method::POST,
            &format!("/api/user/organizations/{}/domains", o.org_id),
            Some(&o.key),
            Some(json!({ "domain": "fuzz.example.com" })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key = format!("X-Api-Key: {}", o.key);
    // Both families with the owner's pinned key. Deleting the organization would end the run's
    // own organization (it is covered in foundation tests); SCIM runs below with its token.
    let out = schemathesis(
        &app,
        &[
            "--exclude-path-regex",
            "^/scim/",
            "--exclude-operation-id",
            "delete_api_user_organizations__orgId_",
        ],
        &[key],
        &[("orgId", &o.org_id)],
    )
    .await;
    eprintln!("{out}");
    let bearer = format!("Authorization: Bearer {}", d.token);
    let out = schemathesis(
        &app,
        &["--include-path-regex", "^/scim/"],
        &[bearer],
        &[("directoryId", &d.id)],
    )
    .await;
    eprintln!("{out}");
}
