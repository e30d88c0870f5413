//! A real headless Chromium (Debian `chromium`, driven by `playwright-core` from npm with
//! `executablePath: /usr/bin/chromium`) signs a person into an application through Portico:
//! the app (`openid-client`, public client, code + PKCE) → Portico's sign-in page (work email) →
//! the organization's IdP (the harness `oidc-provider`) → Portico → the app's callback; once with
//! JavaScript on, once off (the pages are plain forms). With JavaScript on, the app's page also
//! calls Portico cross-origin (userinfo by Bearer, `/api/user/me` with the session cookie) and a
//! page on an unregistered origin is refused both. An error page is screenshotted into
//! `target/test-artifacts/` and checked to be HTML.
//!
//! One browser for the whole test (three contexts), to keep the suite's time small.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{json, Value};

use crate::provider::{cache, configure, run_ok};
use crate::support::TestApp;
use portico_server::services::provider::clients::{self, NewClient};

const CHROMIUM: &str = "/usr/bin/chromium";

/// `playwright-core` and `openid-client` installed once under the test cache.
async fn browser_rp() -> PathBuf {
    let dir = cache().join("browser-npm");
    let have = |p: &str| dir.join("node_modules").join(p).join("package.json").exists();
    if !have("playwright-core") || !have("openid-client") {
        std::fs::create_dir_all(&dir).unwrap();
        run_ok(
            tokio::process::Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
                .arg(&dir)
                .args(["playwright-core@1", "openid-client@6"]),
        )
        .await;
    }
    let script = dir.join("browser.mjs");
    std::fs::copy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/integration/provider_rp/browser.mjs"),
        &script,
    )
    .unwrap();
    script
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn artifacts() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn assert_walk(w: &Value, app: &TestApp, app_origin: &str, idp: &str) {
    let what = format!("JavaScript {}", w["javaScriptEnabled"]);
    assert_eq!(w["email"], "alice@example.com", "{what}: {w}");
    assert_eq!(w["landed"], format!("{app_origin}/callback"), "{what}");
    assert_eq!(w["signInPage"]["title"], "Sign in · Portico", "{what}: {w}");
    assert!(
        w["signInPage"]["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/oauth2/authorize", app.base)),
        "{what}: {w}"
    );
    // The browser really went through the IdP and Portico's callback and resume step.
    let seen: Vec<&str> = w["seen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(seen.iter().any(|u| u.starts_with(idp)), "{what}: {seen:?}");
    assert!(
        seen.iter()
            .any(|u| u.starts_with(&format!("{}/oauth2/authorize", app.base))),
        "{what}: {seen:?}"
    );
}

#[tokio::test]
async fn chromium_signs_in_through_the_sign_in_page_with_javascript_on_and_off() {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} missing: scripts/test installs Debian's chromium and chromium-driver"
    );
    let script = browser_rp().await;
    let (app_port, other_port) = (free_port(), free_port());
    let app_origin = format!("http://127.0.0.1:{app_port}");
    let cors_origin = app_origin.clone();
    let app = TestApp::start_with(move |s| s.server.cors_allowed_origins = vec![cors_origin]).await;
    let o = app.owner("acme").await;
    configure(&app, &o).await;
    // The work email routes by the connection's domain.
    sqlx::query("UPDATE sso_connections SET domains = ARRAY['example.com'] WHERE organization_id = $1")
        .bind(&o.org_id)
        .execute(&app.db)
        .await
        .unwrap();
    let (c, _) = clients::add(
        &app.db,
        NewClient {
            name: "Browser app".into(),
            redirect_uris: vec![format!("{app_origin}/callback")],
            post_logout_redirect_uris: vec![],
            public: true,
            id_token_alg: "ES256".into(),
        },
        true,
    )
    .await
    .unwrap();
    let artifacts = artifacts();
    let shot = artifacts.join("provider-error-page.png");
    let _ = std::fs::remove_file(&shot);
    let cfg = json!({
        "portico": app.base, "clientId": c.id, "appPort": app_port, "otherPort": other_port,
        "artifacts": artifacts, "email": "alice@example.com", "login": "alice", "password": "alice-password",
    });
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(180),
        tokio::process::Command::new("node")
            .arg(&script)
            .arg(cfg.to_string())
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser walk finished within 180 s")
    .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no report: {stdout}"));
    assert!(
        report["failed"].is_null(),
        "{}",
        report["failed"].as_str().unwrap_or_default()
    );

    let idp = crate::support::oidc::provider().await.issuer.clone();
    assert_walk(&report["withJs"], &app, &app_origin, &idp);
    assert_walk(&report["withoutJs"], &app, &app_origin, &idp);

    // What the application's library validated, both times: the same person, from this issuer.
    let user_id: String = sqlx::query_scalar("SELECT id FROM users WHERE email = 'alice@example.com'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let rp = report["rp"].as_array().unwrap();
    assert_eq!(rp.len(), 2, "{rp:?}");
    for r in rp {
        assert_eq!(r["claims"]["sub"], user_id.as_str(), "{r}");
        assert_eq!(r["claims"]["iss"], app.base, "{r}");
        assert_eq!(r["claims"]["aud"], c.id.as_str(), "{r}");
        assert_eq!(r["claims"]["org_slug"], "acme", "{r}");
        assert_eq!(r["iss"], app.base, "RFC 9207 iss on the authorization response: {r}");
        assert_eq!(r["userinfo"]["email"], "alice@example.com", "{r}");
    }
    let sessions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = 'alice@example.com' AND s.method <> 'password'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(
        sessions >= 2,
        "one SSO session per browser (and derived access-token sessions): {sessions}"
    );

    // CORS from the app's page: userinfo by Bearer (a registered redirect origin) and the
    // Organization API with the session cookie (server.cors_allowed_origins).
    let from_app = &report["withJs"]["fromApp"];
    assert_eq!(from_app["userinfo"]["status"], 200, "{from_app}");
    assert_eq!(from_app["userinfo"]["body"]["email"], "alice@example.com", "{from_app}");
    assert_eq!(from_app["me"]["status"], 200, "{from_app}");
    assert!(
        from_app["me"]["body"].to_string().contains("alice@example.com"),
        "{from_app}"
    );
    // An origin nobody registered: the browser refuses to hand over either answer.
    let from_other = &report["withJs"]["fromOther"];
    assert!(from_other["userinfo"]["refused"].is_string(), "{from_other}");
    assert!(from_other["me"]["refused"].is_string(), "{from_other}");

    // The error page: HTML a person can read, never JSON; the screenshot is kept to look at.
    let e = &report["error"];
    assert_eq!(e["status"], 400, "{e}");
    assert!(e["contentType"].as_str().unwrap().starts_with("text/html"), "{e}");
    assert!(e["csp"].as_str().unwrap().contains("default-src 'none'"), "{e}");
    assert_eq!(e["heading"], "Unknown application", "{e}");
    let text = e["text"].as_str().unwrap();
    assert!(
        text.contains("Request id:") && !text.trim_start().starts_with('{'),
        "{text}"
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 2_000, "a real screenshot");
}
