//! Credentials: API keys, sessions, revocation and expiry, and secrets kept out of responses and logs.

use reqwest::Method;
use serde_json::json;

use crate::support::{assert_envelope_error, logs, TestApp};

#[tokio::test]
async fn revoked_keys_and_sessions_fail_on_the_very_next_request() {
    let app = TestApp::start().await;
    let o = app.owner("revoke").await;
    // Mint a second key through the API (shown once), use it, revoke it, and it is dead.
    let r = app
        .call(
            Method::POST,
            "/api/user/tokens",
            Some(&o.key),
            Some(json!({"name": "ci", "organizationId": o.org_id})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.body["data"]["token"].as_str().unwrap().to_owned();
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ptk_"));
    let r = app.call(Method::GET, "/api/user/tokens", Some(&o.key), None).await;
    assert!(!r.text.contains(&token), "token listed after creation");
    assert_eq!(
        app.call(Method::GET, "/api/user/me", Some(&token), None).await.status,
        200
    );
    let r = app
        .call(Method::DELETE, &format!("/api/user/tokens/{id}"), Some(&o.key), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_envelope_error(
        &app.call(Method::GET, "/api/user/me", Some(&token), None).await,
        401,
        "UNAUTHORIZED",
    );
    // Bearer works the same as X-Api-Key.
    let r = app
        .http
        .get(format!("{}/api/user/me", app.base))
        .bearer_auth(&o.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Password sign-in: cookie and bearer token both work; sign-out kills both at once.
    let r = app
        .call(
            Method::POST,
            "/api/auth/sign-in/password",
            None,
            Some(json!({"email": o.email, "password": "owner-password-1"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let cookie = r.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("portico_session=pss_") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "http public URL: no Secure flag");
    let session_token = r.body["data"]["token"].as_str().unwrap().to_owned();
    let cookie_pair = cookie.split(';').next().unwrap().to_owned();
    let me = app
        .http
        .get(format!("{}/api/user/me", app.base))
        .header("cookie", &cookie_pair)
        .send()
        .await
        .unwrap();
    let me = TestApp::read(me).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["data"]["authentication"]["method"], "password");
    assert_eq!(me.body["data"]["user"]["email"], o.email.as_str());
    let r = app
        .http
        .post(format!("{}/api/auth/sign-out", app.base))
        .bearer_auth(&session_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me = app
        .http
        .get(format!("{}/api/user/me", app.base))
        .header("cookie", &cookie_pair)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    let revoked: bool = sqlx::query_scalar("SELECT revoked_at IS NOT NULL FROM sessions WHERE method = 'password'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(revoked);
}

#[tokio::test]
async fn expired_sessions_and_keys_and_disabled_users_are_refused() {
    let app = TestApp::start().await;
    let o = app.owner("expire").await;
    let r = app
        .call(
            Method::POST,
            "/api/auth/sign-in/password",
            None,
            Some(json!({"email": o.email, "password": "owner-password-1"})),
        )
        .await;
    let token = r.body["data"]["token"].as_str().unwrap().to_owned();
    let r = app
        .http
        .get(format!("{}/api/user/me", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sqlx::query(
        "UPDATE sessions SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 second'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let r = TestApp::read(
        app.http
            .get(format!("{}/api/user/me", app.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_envelope_error(&r, 401, "UNAUTHORIZED");
    // The purge job removes it.
    portico_server::jobs::purge_once(&app.db).await;
    assert_eq!(app.count("sessions").await, 0);

    sqlx::query("UPDATE api_tokens SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_envelope_error(
        &app.call(Method::GET, "/api/user/me", Some(&o.key), None).await,
        401,
        "UNAUTHORIZED",
    );
    sqlx::query("UPDATE api_tokens SET expires_at = NULL")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(
        app.call(Method::GET, "/api/user/me", Some(&o.key), None).await.status,
        200
    );
    portico_store::users::set_status(&app.db, &o.user_id, portico_core::account::UserStatus::Disabled)
        .await
        .unwrap();
    assert_envelope_error(
        &app.call(Method::GET, "/api/user/me", Some(&o.key), None).await,
        401,
        "UNAUTHORIZED",
    );
    let r = app
        .call(
            Method::POST,
            "/api/auth/sign-in/password",
            None,
            Some(json!({"email": o.email, "password": "owner-password-1"})),
        )
        .await;
    assert_envelope_error(&r, 401, "UNAUTHORIZED");
}

#[tokio::test]
async fn secrets_never_appear_in_responses_or_logs() {
    let app = TestApp::start().await;
    let o = app.owner("secrets").await;
    let password = "owner-password-1";
    let mut bodies = Vec::new();
    // Wrong and right passwords, unknown user, junk bodies carrying the secret.
    for body in [
        json!({"email": o.email, "password": "wrong-password-xyz"}),
        json!({"email": "nobody@secrets.example", "password": password}),
        json!({"email": o.email, "password": password, "extra": password}),
        json!({"email": o.email, "password": 12345}),
        json!({"email": o.email, "password": password}),
    ] {
        bodies.push(
            app.call(Method::POST, "/api/auth/sign-in/password", None, Some(body))
                .await
                .text,
        );
    }
    bodies.push(app.call(Method::GET, "/api/user/me", Some(&o.key), None).await.text);
    bodies.push(
        app.call(
            Method::GET,
            &format!("/api/user/organizations/{}/audit-events", o.org_id),
            Some(&o.key),
            None,
        )
        .await
        .text,
    );
    bodies.push(app.call(Method::GET, "/api/user/tokens", Some(&o.key), None).await.text);
    for b in &bodies {
        assert!(!b.contains(password), "password leaked in {b}");
        assert!(!b.contains("wrong-password-xyz"), "password leaked in {b}");
        assert!(!b.contains(&o.key), "API key leaked in {b}");
        assert!(!b.contains("argon2"), "hash leaked in {b}");
    }
    // The failed attempts are audited with reasons but no password.
    let reasons: Vec<Option<String>> =
        sqlx::query_scalar("SELECT reason FROM audit_events WHERE action = 'sign_in.password' ORDER BY id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(reasons.contains(&Some("bad_password".into())));
    assert!(reasons.contains(&Some("unknown_user".into())));
    let logs = logs::captured();
    assert!(
        !logs.contains(password) && !logs.contains("wrong-password-xyz"),
        "password in logs"
    );
    assert!(!logs.contains(&o.key), "API key in logs");
    // Debug output of settings and of the secret box redacts.
    let dbg = format!("{:?} {:?}", app.state.settings, app.state.secrets);
    assert!(!dbg.contains("t1:"), "{dbg}");
}

#[tokio::test]
async fn public_sign_in_routes_are_throttled_with_retry_after() {
    let app = TestApp::start_with(|s| s.rate_limit.sign_in_per_ip_per_minute = 3).await;
    let o = app.owner("throttle").await;
    for _ in 0..3 {
        let r = app
            .call(
                Method::POST,
                "/api/auth/sign-in/password",
                None,
                Some(json!({"email": o.email, "password": "wrong-password-1"})),
            )
            .await;
        assert_eq!(r.status, 401);
    }
    let r = app
        .call(
            Method::POST,
            "/api/auth/sign-in/password",
            None,
            Some(json!({"email": o.email, "password": "owner-password-1"})),
        )
        .await;
    assert_envelope_error(&r, 429, "RATE_LIMITED");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(app.count("sessions").await, 0, "a throttled attempt creates nothing");
    // Authenticated API traffic is not throttled by the sign-in budget.
    assert_eq!(
        app.call(Method::GET, "/api/user/me", Some(&o.key), None).await.status,
        200
    );
}
