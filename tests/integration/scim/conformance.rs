//! The third-party SCIM conformance suites, unmodified: `scim2-tester` (`check_server` with
//! discovery, CRUD and PATCH checks) and `scim-sanity` (its probe, strict and with its Entra
//! profile), run by `tests/scim/conformance.py` in the venv `scripts/test` prepares
//! (`PORTICO_TEST_SCIM_PYTHON`), or one this test makes under `target/test-cache`.
//!
//! Zero failures are expected; a check listed in `DEVIATIONS` is a deliberate deviation, with
//! the RFC section that allows it.

use std::path::PathBuf;

use serde_json::Value;

use super::directory;
use crate::support::TestApp;

/// `(suite, check title, why)`.
const DEVIATIONS: &[(&str, &str, &str)] = &[(
    "scim-sanity",
    "PATCH /Groups/{id} add member",
    "the probe adds the member \"fake-member-id\", which names no user of the directory. SPEC §7 \
     requires 400 invalidValue with nothing changed: a member's value is the id of a resource of \
     this service provider (RFC 7643 §4.2) and invalidValue is the error for a value that is not \
     compatible (RFC 7644 §3.12); Entra ID does the same (scim-sanity's own entra profile, \
     deviation 9). Accepting unknown ids would let a group claim people who do not exist and \
     grant roles to whoever is created later with that id.",
)];

const SUITES: &str = "scim2-tester[httpx2]==0.5.2 scim-sanity==0.7.4";

async fn python() -> PathBuf {
    if let Ok(p) = std::env::var("PORTICO_TEST_SCIM_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-cache/venv/scim-suites");
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
        let mut args = vec!["-m", "pip", "install", "-q"];
        args.extend(SUITES.split(' '));
        let out = tokio::process::Command::new(&py).args(args).output().await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(venv.join(".suites"), SUITES).unwrap();
    }
    py
}

async fn run(app: &TestApp, d: &super::Dir, args: &[&str]) -> (bool, String) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scim/conformance.py");
    let out = tokio::process::Command::new(python().await)
        .arg(script)
        .args(args)
        .env("SCIM_BASE", &d.base)
        .env("SCIM_TOKEN", &d.token)
        .output()
        .await
        .expect("python");
    let _ = app;
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn deviation(suite: &str, title: &str) -> bool {
    DEVIATIONS.iter().any(|(s, t, _)| *s == suite && title.contains(t))
}

#[tokio::test]
async fn scim2_tester_check_server_has_no_failures() {
    let app = TestApp::start().await;
    let o = app.owner("s2t").await;
    let d = directory(&app, &o, "generic").await;
    let (ok, text) = run(&app, &d, &["scim2-tester"]).await;
    assert!(ok, "{text}");
    let total: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("TOTAL\t"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no summary: {text}"));
    assert!(total >= 20, "the suite ran its checks: {text}");
    let failures: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("ERROR\t") || l.starts_with("CRITICAL\t"))
        .filter(|l| !deviation("scim2-tester", l.split('\t').nth(1).unwrap_or_default()))
        .collect();
    assert!(
        failures.is_empty(),
        "scim2-tester failures:\n{}\n\nfull output:\n{text}",
        failures.join("\n")
    );
    for check in [
        "service_provider_config_endpoint",
        "query_all_resource_types",
        "query_all_schemas",
        "object_creation",
        "object_query",
        "object_replacement",
        "check_add_attribute",
        "check_replace_attribute",
        "check_remove_attribute",
        "object_deletion",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("SUCCESS\t{check}\t"))),
            "{check} passed: {text}"
        );
    }
}

async fn sanity(profile: &[&str]) {
    let app = TestApp::start().await;
    let o = app.owner("san").await;
    let d = directory(&app, &o, "entra").await;
    let mut args = vec!["sanity"];
    args.extend_from_slice(profile);
    let (_, text) = run(&app, &d, &args).await;
    let start = text.find('{').unwrap_or_else(|| panic!("no JSON report: {text}"));
    let report: Value = serde_json::Deserializer::from_str(&text[start..])
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("no JSON report: {text}"));
    let results = report["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {text}"));
    assert!(results.len() >= 15, "the probe ran its checks: {text}");
    let failed: Vec<&Value> = results
        .iter()
        .filter(|r| matches!(r["status"].as_str(), Some("fail" | "error" | "FAIL" | "ERROR")))
        .filter(|r| !deviation("scim-sanity", r["name"].as_str().unwrap_or_default()))
        .collect();
    assert!(
        failed.is_empty(),
        "scim-sanity failures: {failed:#?}\n\nfull output:\n{text}"
    );
}

#[tokio::test]
async fn scim_sanity_probe_strict_has_no_failures() {
    sanity(&["--strict"]).await;
}

#[tokio::test]
async fn scim_sanity_probe_with_the_entra_profile_has_no_failures() {
    sanity(&["--strict", "--profile", "entra"]).await;
}
