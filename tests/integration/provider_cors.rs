//! CORS (SPEC §3, §6): credentialed CORS on the Organization API for `server.cors_allowed_origins`
//! only; CORS without credentials on the provider's back-channel routes for the origins of
//! registered redirect URIs only; nothing on browser routes; never `*`.

use reqwest::Method;
use serde_json::json;

use crate::support::{Resp, TestApp};
use portico_server::services::provider::clients::{self, NewClient};

const SPA: &str = "http://spa.example.test";
const APP: &str = "http://app.example.test";
const EVIL: &str = "http://evil.example.test";

async fn start() -> TestApp {
    TestApp::start_with(|s| s.server.cors_allowed_origins = vec![SPA.into()]).await
}

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str, headers: &str) -> Resp {
    let r = app
        .http
        .request(Method::OPTIONS, format!("{}{path}", app.base))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers)
        .send()
        .await
        .unwrap();
    TestApp::read(r).await
}

fn header<'a>(r: &'a Resp, name: &str) -> Option<&'a str> {
    r.headers.get(name).map(|v| v.to_str().unwrap())
}

/// No CORS at all: no allow-origin, no credentials flag.
fn assert_no_cors(r: &Resp, what: &str) {
    assert_eq!(
        header(r, "access-control-allow-origin"),
        None,
        "{what}: {:?}",
        r.headers
    );
    assert_eq!(header(r, "access-control-allow-credentials"), None, "{what}");
}

fn assert_cors(r: &Resp, origin: &str, credentials: bool, what: &str) {
    assert_eq!(
        header(r, "access-control-allow-origin"),
        Some(origin),
        "{what}: {:?}",
        r.headers
    );
    assert_eq!(
        header(r, "access-control-allow-credentials"),
        credentials.then_some("true"),
        "{what}"
    );
    let vary = r
        .headers
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap().to_lowercase())
        .collect::<Vec<_>>();
    assert!(
        vary.iter().any(|v| v.contains("origin")),
        "{what}: Vary: Origin missing: {vary:?}"
    );
}

async fn password_cookie(app: &TestApp, email: &str) -> String {
    let r = app
        .call(
            Method::POST,
            "/api/auth/sign-in/password",
            None,
            Some(json!({"email": email, "password": "owner-password-1"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    crate::support::session_cookie(&r).expect("session cookie")
}

#[tokio::test]
async fn the_organization_api_answers_credentialed_cors_to_configured_origins_only() {
    let app = start().await;
    let o = app.owner("cors").await;
    let cookie = password_cookie(&app, &o.email).await;
    let org_path = format!("/api/user/organizations/{}", o.org_id);

    // Preflight for a cookie-authenticated JSON write from the configured SPA.
    let r = preflight(&app, &org_path, SPA, "PATCH", "content-type").await;
    assert!(r.status.is_success(), "{} {}", r.status, r.text);
    assert_cors(&r, SPA, true, "preflight from the SPA");
    let methods = header(&r, "access-control-allow-methods")
        .unwrap_or_default()
        .to_uppercase();
    assert!(methods.contains("PATCH") && methods.contains("DELETE"), "{methods}");
    let allowed = header(&r, "access-control-allow-headers")
        .unwrap_or_default()
        .to_lowercase();
    assert!(allowed.contains("content-type"), "{allowed}");
    assert!(header(&r, "access-control-max-age").is_some());

    // The actual credentialed requests: a read, and a write that passes the CSRF rule too.
    let me = app
        .http
        .get(format!("{}/api/user/me", app.base))
        .header("cookie", &cookie)
        .header("origin", SPA)
        .send()
        .await
        .unwrap();
    let me = TestApp::read(me).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_cors(&me, SPA, true, "GET /api/user/me from the SPA");
    let exposed = header(&me, "access-control-expose-headers")
        .unwrap_or_default()
        .to_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    let w = app
        .http
        .patch(format!("{}{org_path}", app.base))
        .header("cookie", &cookie)
        .header("origin", SPA)
        .json(&json!({"name": "Renamed by the SPA"}))
        .send()
        .await
        .unwrap();
    let w = TestApp::read(w).await;
    assert_eq!(w.status, 200, "{}", w.text);
    assert_cors(&w, SPA, true, "PATCH from the SPA");
    // An error answer is readable by the SPA too (401 without a cookie).
    let r = app
        .http
        .get(format!("{}/api/user/me", app.base))
        .header("origin", SPA)
        .send()
        .await
        .unwrap();
    let r = TestApp::read(r).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_cors(&r, SPA, true, "401 from the SPA");

    // Another origin, a sibling, `null`, and a client's redirect origin (not an org-API origin):
    // no CORS headers on preflight or actual requests, and writes stay refused (CSRF rule).
    client(&app, &format!("{APP}/callback")).await;
    for origin in [
        EVIL,
        "http://other.spa.example.test",
        "null",
        APP,
        "http://spa.example.test:8080",
    ] {
        let r = preflight(&app, &org_path, origin, "PATCH", "content-type").await;
        assert_no_cors(&r, &format!("preflight from {origin}"));
        let me = app
            .http
            .get(format!("{}/api/user/me", app.base))
            .header("cookie", &cookie)
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_no_cors(&TestApp::read(me).await, &format!("GET from {origin}"));
    }
    let w = app
        .http
        .patch(format!("{}{org_path}", app.base))
        .header("cookie", &cookie)
        .header("origin", EVIL)
        .json(&json!({"name": "Pwned"}))
        .send()
        .await
        .unwrap();
    let w = TestApp::read(w).await;
    assert_eq!(w.status, 403, "{}", w.text);
    assert_no_cors(&w, "PATCH from another origin");
    let name: String = sqlx::query_scalar("SELECT name FROM organizations WHERE id = $1")
        .bind(&o.org_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(name, "Renamed by the SPA");

    // Routes outside the Organization API never answer CORS, even to the configured origin.
    for path in [
        "/api/auth/sso/cors/login".to_owned(),
        "/api/auth/sso/callback".to_owned(),
        "/oauth2/authorize".to_owned(),
        "/oauth2/logout".to_owned(),
        "/v1/sso/connections".to_owned(),
        "/healthz".to_owned(),
    ] {
        let r = preflight(&app, &path, SPA, "GET", "content-type").await;
        assert_no_cors(&r, &format!("preflight {path}"));
        let r = app
            .http
            .get(format!("{}{path}", app.base))
            .header("origin", SPA)
            .send()
            .await
            .unwrap();
        assert_no_cors(&TestApp::read(r).await, &format!("GET {path}"));
    }
}

async fn client(app: &TestApp, redirect: &str) -> String {
    let (c, _) = clients::add(
        &app.db,
        NewClient {
            name: "SPA".into(),
            redirect_uris: vec![redirect.into()],
            post_logout_redirect_uris: vec![],
            public: true,
            id_token_alg: "ES256".into(),
        },
        true,
    )
    .await
    .unwrap();
    c.id
}

#[tokio::test]
async fn provider_routes_answer_cors_to_registered_redirect_origins_without_credentials() {
    let app = start().await;
    let back_channel = [
        ("/.well-known/openid-configuration", "GET"),
        ("/oauth2/jwks", "GET"),
        ("/oauth2/token", "POST"),
        ("/oauth2/userinfo", "GET"),
        ("/oauth2/revoke", "POST"),
    ];
    // Before any client names APP as a redirect origin, APP gets nothing.
    for (path, m) in back_channel {
        assert_no_cors(&preflight(&app, path, APP, m, "authorization").await, path);
    }
    let client_id = client(&app, &format!("{APP}/callback")).await;
    // Registered at once on every replica: the origin is read from the database per request.
    for (path, m) in back_channel {
        let r = preflight(&app, path, APP, m, "authorization,content-type").await;
        assert!(r.status.is_success(), "{path}: {} {}", r.status, r.text);
        assert_cors(&r, APP, false, path);
        let allowed = header(&r, "access-control-allow-headers")
            .unwrap_or_default()
            .to_lowercase();
        assert!(
            allowed.contains("authorization") && allowed.contains("content-type"),
            "{path}: {allowed}"
        );
    }
    // Actual requests: discovery and JWKS documents, a token error the SPA must be able to read,
    // and userinfo's 401.
    for path in ["/.well-known/openid-configuration", "/oauth2/jwks"] {
        let r = app
            .http
            .get(format!("{}{path}", app.base))
            .header("origin", APP)
            .send()
            .await
            .unwrap();
        let r = TestApp::read(r).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_cors(&r, APP, false, path);
    }
    let r = app
        .http
        .post(format!("{}/oauth2/token", app.base))
        .header("origin", APP)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "not-a-code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", &format!("{APP}/callback")),
            ("code_verifier", "x".repeat(43).as_str()),
        ])
        .send()
        .await
        .unwrap();
    let r = TestApp::read(r).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error"], "invalid_grant", "{}", r.text);
    assert_cors(&r, APP, false, "token error");
    let r = app
        .http
        .get(format!("{}/oauth2/userinfo", app.base))
        .header("origin", APP)
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    let r = TestApp::read(r).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_cors(&r, APP, false, "userinfo 401");

    // Another origin, the org-API SPA origin (no client registered there), a different port or
    // scheme of APP: nothing. Authorize never answers CORS, not even to APP.
    for origin in [
        EVIL,
        SPA,
        "http://app.example.test:8080",
        "https://app.example.test",
        "null",
    ] {
        for (path, m) in back_channel {
            assert_no_cors(
                &preflight(&app, path, origin, m, "authorization").await,
                &format!("{path} from {origin}"),
            );
        }
        let r = app
            .http
            .get(format!("{}/oauth2/jwks", app.base))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_no_cors(&TestApp::read(r).await, &format!("jwks from {origin}"));
    }
    for path in ["/oauth2/authorize", "/oauth2/authorize/resume", "/oauth2/logout"] {
        assert_no_cors(&preflight(&app, path, APP, "GET", "authorization").await, path);
    }

    // Removing the client withdraws its origin at once.
    sqlx::query("DELETE FROM oauth_clients WHERE id = $1")
        .bind(&client_id)
        .execute(&app.db)
        .await
        .unwrap();
    assert_no_cors(
        &preflight(&app, "/oauth2/token", APP, "POST", "content-type").await,
        "after the client is removed",
    );
}
