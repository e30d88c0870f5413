//! Browsers and transport: the client address behind proxies, cross-site request forgery on
//! cookie-authenticated writes, empty bodies.

use reqwest::Method;
use serde_json::json;

use super::{owner_session, sign_in};
use crate::support::{assert_envelope_error, Resp, TestApp};

/// The IPs recorded on failed password sign-ins, oldest first.
async fn audit_ips(app: &TestApp) -> Vec<Option<String>> {
    sqlx::query_scalar("SELECT ip FROM audit_events WHERE action LIKE 'sign_in%' ORDER BY id")
        .fetch_all(&app.db)
        .await
        .unwrap()
}

async fn wrong_password_from(app: &TestApp, email: &str, xff: &str) -> Resp {
    TestApp::read(
        app.http
            .post(format!("{}/api/auth/sign-in/password", app.base))
            .header("x-forwarded-for", xff)
            .json(&json!({ "email": email, "password": "wrong-password-1" }))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Attack: behind a proxy, the client writes a fresh left-most `X-Forwarded-For` value per
/// request to escape the per-IP limit and to forge the audit IP. The proxy appends the address
/// it saw; only that one counts.
#[tokio::test]
async fn a_client_written_forwarded_for_escapes_no_limit_and_forges_no_audit_ip() {
    let app = TestApp::start_with(|s| {
        s.server.trust_forwarded_for = true;
        s.rate_limit.sign_in_per_ip_per_minute = 3;
    })
    .await;
    let o = app.owner("xff").await;
    for i in 0..3 {
        let r = wrong_password_from(&app, &o.email, &format!("6.6.6.{i}, 203.0.113.7")).await;
        assert_envelope_error(&r, 401, "UNAUTHORIZED");
    }
    let r = wrong_password_from(&app, &o.email, "6.6.6.99, 203.0.113.7").await;
    assert_envelope_error(&r, 429, "RATE_LIMITED");
    let ips = audit_ips(&app).await;
    assert_eq!(ips.len(), 3, "the throttled attempt wrote nothing: {ips:?}");
    assert!(
        ips.iter().all(|ip| ip.as_deref() == Some("203.0.113.7")),
        "audit IPs come from the proxy's entry: {ips:?}"
    );
    // Another client behind the same proxy has its own budget.
    let r = wrong_password_from(&app, &o.email, "203.0.113.8").await;
    assert_envelope_error(&r, 401, "UNAUTHORIZED");
}

#[tokio::test]
async fn trusted_proxies_are_skipped_right_to_left_and_only_a_trusted_peer_is_believed() {
    let app = TestApp::start_with(|s| {
        s.server.trust_forwarded_for = true;
        s.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
    })
    .await;
    let o = app.owner("xff-chain").await;
    wrong_password_from(&app, &o.email, "6.6.6.6, 198.51.100.4, 10.1.2.3").await;
    assert_eq!(audit_ips(&app).await, [Some("198.51.100.4".to_owned())]);

    // The test client (127.0.0.1) is not a trusted proxy here: the header is not read at all.
    let app = TestApp::start_with(|s| {
        s.server.trust_forwarded_for = true;
        s.server.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    let o = app.owner("xff-untrusted").await;
    wrong_password_from(&app, &o.email, "198.51.100.4").await;
    assert_eq!(audit_ips(&app).await, [Some("127.0.0.1".to_owned())]);
}

async fn org_name_and_updated(app: &TestApp, org_id: &str) -> (String, chrono::DateTime<chrono::Utc>) {
    sqlx::query_as("SELECT name, updated_at FROM organizations WHERE id = $1")
        .bind(org_id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Attack: a page on a sibling subdomain (same site, so the `SameSite=Lax` cookie is sent)
/// renames the organization with a form post / `text/plain` fetch / a foreign `Origin`.
#[tokio::test]
async fn cookie_writes_need_json_and_an_allowed_origin() {
    let app =
        TestApp::start_with(|s| s.server.cors_allowed_origins = vec!["https://console.example.test".into()]).await;
    let o = app.owner("csrf").await;
    let (_, cookie) = owner_session(&app, &o).await;
    let path = format!("{}/api/user/organizations/{}", app.base, o.org_id);
    let before = org_name_and_updated(&app, &o.org_id).await;
    let body = r#"{"name":"Pwned"}"#;
    let send = |ct: Option<&'static str>, origin: Option<&'static str>, extra: Option<(&'static str, &'static str)>| {
        let mut rb = app.http.patch(&path).header("cookie", &cookie).body(body);
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        if let Some(origin) = origin {
            rb = rb.header("origin", origin);
        }
        if let Some((k, v)) = extra {
            rb = rb.header(k, v);
        }
        async move { TestApp::read(rb.send().await.unwrap()).await }
    };
    // Form posts and Blob/text fetches: no preflight, so no JSON content type.
    for ct in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let r = send(ct, None, None).await;
        assert_envelope_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE");
    }
    // A foreign or sibling origin, even with JSON.
    for origin in ["http://evil.example.test", "http://other.app.example.test", "null"] {
        let r = send(Some("application/json"), Some(origin), None).await;
        assert_envelope_error(&r, 403, "FORBIDDEN");
    }
    let r = send(Some("application/json"), None, Some(("sec-fetch-site", "cross-site"))).await;
    assert_envelope_error(&r, 403, "FORBIDDEN");
    assert_eq!(org_name_and_updated(&app, &o.org_id).await, before, "nothing written");
    // DELETE of a token by cookie without JSON: refused, the token lives.
    let r = app
        .http
        .delete(format!("{}/api/user/tokens/nope", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    // The application's own origins pass: app.url, public_url and cors_allowed_origins.
    for origin in ["http://app.example.test", "https://console.example.test"] {
        let r = send(Some("application/json"), Some(origin), None).await;
        assert_eq!(r.status, 200, "{origin}: {}", r.text);
    }
    let own = app.base.clone();
    let r = TestApp::read(
        app.http
            .patch(&path)
            .header("cookie", &cookie)
            .header("origin", own)
            .header("content-type", "application/json; charset=utf-8")
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Same-origin without Origin (older browsers, curl with the cookie) is fine with JSON.
    assert_eq!(send(Some("application/json"), None, None).await.status, 200);
    // API keys are not cookies: no Origin rule for them.
    let r = TestApp::read(
        app.http
            .patch(&path)
            .header("x-api-key", &o.key)
            .header("origin", "http://evil.example.test")
            .json(&json!({"name": "By key"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// An empty body is not `{}`: an empty PATCH used to be a 200 that rewrote `updatedAt`.
#[tokio::test]
async fn an_empty_body_is_refused_and_writes_nothing() {
    let app = TestApp::start().await;
    let o = app.owner("empty").await;
    let before = org_name_and_updated(&app, &o.org_id).await;
    let path = format!("/api/user/organizations/{}", o.org_id);
    let r = app
        .raw(Method::PATCH, &path, Some(&o.key), "application/json", Vec::new())
        .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    assert_eq!(r.body["details"][0]["field"], "body", "{}", r.text);
    let r = app
        .raw(
            Method::PUT,
            &format!("{path}/settings/security"),
            Some(&o.key),
            "application/json",
            Vec::new(),
        )
        .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    assert_eq!(org_name_and_updated(&app, &o.org_id).await, before);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action <> 'organization.bootstrap'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(events, 0);
    // A password sign-in with no body at all is a 400 too, not a 401 for an empty email.
    let r = app
        .raw(
            Method::POST,
            "/api/auth/sign-in/password",
            None,
            "application/json",
            Vec::new(),
        )
        .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    let _ = sign_in;
}
