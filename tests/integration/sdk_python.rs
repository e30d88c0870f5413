//! Runs the Python suite in `tests/sdk/` — the real `grantex==0.7.2` SDK — against a Portico
//! started here and the real oidc-provider. The interpreter is `PORTICO_TEST_PYTHON` (a venv made
//! by `scripts/test`), or a venv this test makes once under `target/test-cache/sdk-venv`.

use std::path::PathBuf;

use crate::support::{oidc, TestApp};

async fn python() -> PathBuf {
    if let Ok(p) = std::env::var("PORTICO_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = root.join("target/test-cache/sdk-venv");
    let py = venv.join("bin/python");
    let ok = tokio::process::Command::new(&py)
        .args(["-c", "import grantex"])
        .output()
        .await
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        let out = tokio::process::Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .output()
            .await
            .expect("python3 -m venv");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = tokio::process::Command::new(&py)
            .args(["-m", "pip", "install", "-q", "grantex==0.7.2"])
            .output()
            .await
            .expect("pip");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    py
}

#[tokio::test]
async fn the_real_grantex_sdk_drives_every_sso_method() {
    let p = oidc::provider().await;
    let app = TestApp::start().await;
    let o = app.owner("gx").await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk/test_grantex_sso.py");
    let out = tokio::process::Command::new(python().await)
        .arg(&script)
        .env("PORTICO_URL", &app.base)
        .env("PORTICO_API_KEY", &o.key)
        .env("PORTICO_ORG_ID", &o.org_id)
        .env("PORTICO_ORG_SLUG", &o.slug)
        .env("PORTICO_OIDC_ISSUER", &p.issuer)
        .env("PORTICO_DEAD_URL", format!("http://127.0.0.1:{dead}"))
        .output()
        .await
        .expect("run python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "grantex SDK suite failed:\n{text}");
    assert!(text.contains("OK") && !text.contains("FAILED"), "{text}");
    let ran: usize = text.lines().filter(|l| l.ends_with("... ok")).count();
    assert!(ran >= 6, "expected every SDK test to run:\n{text}");
}
