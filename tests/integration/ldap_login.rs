//! LDAP sign-in end to end against a real OpenLDAP `slapd`: connections made through
//! `POST /v1/sso/connections`, sign-in through `POST /sso/callback/ldap` and
//! `POST /api/auth/sso/{slug}/ldap`, provisioning, one generic refusal with the precise reason in
//! the audit log, injection, TLS modes, a dead directory, throttling — and no session for any
//! refusal.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::ldap::{self, browser_sign_in, connection_body, create_connection, sdk_sign_in, Private};
use crate::support::{assert_envelope_error, Owner, Resp, TestApp};

async fn ldap_sessions(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sessions WHERE method = 'ldap'")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// The precise reasons audited for failed LDAP sign-ins, oldest first: (code, detail).
async fn failure_reasons(app: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT coalesce(reason, ''), coalesce(details->>'detail', '') FROM audit_events
         WHERE action = 'sign_in.sso' AND outcome = 'failure' ORDER BY id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// Asserts the SDK family's generic failure.
fn assert_sdk_auth_failed(r: &Resp) {
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.body["code"], "SSO_AUTH_FAILED", "{}", r.text);
    assert_eq!(r.body["message"], "authentication failed", "{}", r.text);
}

async fn setup(slug: &str, extra: Value) -> (TestApp, Owner, String) {
    let dir = ldap::shared().await;
    let app = TestApp::start().await;
    let o = app.owner(slug).await;
    let id = create_connection(&app, &o, connection_body(dir, extra)).await;
    (app, o, id)
}

#[tokio::test]
async fn alice_signs_in_through_both_routes_with_groups_scopes_and_role() {
    let dir = ldap::shared().await;
    let (app, o, conn_id) = setup("dirco", json!({})).await;

    // The connection as stored: no secret comes back, the test passes every step.
    let got = app
        .call(
            Method::GET,
            &format!("/v1/sso/connections/{conn_id}"),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body["protocol"], "ldap");
    assert!(!got.text.contains(&dir.bind_password));
    let t = app
        .call(
            Method::POST,
            &format!("/v1/sso/connections/{conn_id}/test"),
            Some(&o.key),
            Some(json!({})),
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(t.body["success"], true, "{}", t.text);
    assert!(!t.text.contains(&dir.bind_password));

    // /sso/login: credentials are collected by the app; the LDAP URL is never revealed.
    let l = app
        .call(
            Method::GET,
            &format!("/sso/login?org={}&domain=example.com", o.org_id),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(l.status, 200, "{}", l.text);
    assert!(l.body.get("authorizeUrl").is_some_and(Value::is_null), "{}", l.text);
    assert_eq!(l.body["protocol"], "ldap");
    assert_eq!(l.body["connectionId"], conn_id.as_str());
    let host_port = dir.url.trim_start_matches("ldap://");
    assert!(!l.text.contains(host_port) && !l.text.contains("ldap://"), "{}", l.text);
    assert_eq!(app.count("login_transactions").await, 0);

    // Server to server, with the organization's API key.
    let r = sdk_sign_in(&app, &o, &conn_id, "alice", "alice-password").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = &r.body;
    assert_eq!(b["email"], "alice@example.com");
    assert_eq!(b["name"], "Alice Example");
    assert_eq!(b["groups"], json!(["admins", "developers", "users"]));
    assert_eq!(b["mappedScopes"], json!(["code:write", "sso:admin", "users:write"]));
    assert_eq!(b["provisioned"], true);
    assert_eq!(b["connectionId"], conn_id.as_str());
    assert_eq!(b["developerId"], o.org_id.as_str());
    assert!(b["sessionToken"].as_str().is_some_and(|t| !t.is_empty()));
    let sub = b["sub"].as_str().unwrap().to_owned();
    assert_eq!(sub.len(), 36, "entryUUID subject: {sub}");
    assert!(!r.text.contains("alice-password"));
    let user_id = b["principalId"].as_str().unwrap().to_owned();
    let role: String = sqlx::query_scalar("SELECT role FROM memberships WHERE user_id = $1 AND organization_id = $2")
        .bind(&user_id)
        .bind(&o.org_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(role, "engineer", "the connection's defaultRole");
    let (subject, conn): (String, String) =
        sqlx::query_as("SELECT subject, connection_id FROM external_identities WHERE user_id = $1")
            .bind(&user_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((subject.as_str(), conn.as_str()), (sub.as_str(), conn_id.as_str()));
    let (groups, scopes): (Value, Value) =
        sqlx::query_as("SELECT to_jsonb(groups), to_jsonb(mapped_scopes) FROM sessions WHERE method = 'ldap'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(groups, json!(["admins", "developers", "users"]));
    assert_eq!(scopes, json!(["code:write", "sso:admin", "users:write"]));
    // The token works as a bearer.
    let me = TestApp::read(
        app.http
            .get(format!("{}/api/user/me", app.base))
            .bearer_auth(b["sessionToken"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["data"]["authentication"]["method"], "ldap");

    // The browser-facing route: same identity, same user, a session cookie.
    let r = browser_sign_in(&app, &o.slug, "Alice", "alice-password").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["data"]["userId"], user_id.as_str());
    assert_eq!(r.body["data"]["provisioned"], false);
    assert_eq!(r.body["data"]["session"]["method"], "ldap");
    let cookie = r
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("portico_session="));
    assert!(cookie.is_some_and(|c| c.contains("HttpOnly")), "{:?}", r.headers);
    assert_eq!(ldap_sessions(&app).await, 2);
    assert_eq!(app.count("external_identities").await, 1);

    // bob: no displayName (cn), only "users": no mapping matched -> defaultScopes.
    let r = sdk_sign_in(&app, &o, &conn_id, "bob", "bob-password").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Bob Example");
    assert_eq!(r.body["groups"], json!(["users"]));
    assert_eq!(r.body["mappedScopes"], json!(["profile:read"]));

    // The SDK callback is server to server: no key, no login.
    let r = app
        .call(
            Method::POST,
            "/sso/callback/ldap",
            None,
            Some(json!({"username": "alice", "password": "alice-password", "connectionId": conn_id, "org": o.org_id})),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(ldap_sessions(&app).await, 3);
    let ok: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'sign_in.sso' AND outcome = 'success'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(ok, 3);
}

#[tokio::test]
async fn refusals_are_one_generic_error_with_the_precise_reason_audited() {
    let dir = ldap::shared().await;
    assert!(
        dir.unauth_bind_allowed,
        "the shared slapd must allow unauthenticated binds (LDAP_ALLOW_UNAUTH_BIND=1)"
    );
    let (app, o, conn_id) = setup("refuse", json!({})).await;
    let users_before = app.count("users").await;

    let wrong = sdk_sign_in(&app, &o, &conn_id, "alice", "not-her-password").await;
    let unknown = sdk_sign_in(&app, &o, &conn_id, "nobody", "whatever-1").await;
    let twins = sdk_sign_in(&app, &o, &conn_id, "twin", "twin-password").await;
    let empty = sdk_sign_in(&app, &o, &conn_id, "alice", "").await;
    for r in [&wrong, &unknown, &twins, &empty] {
        assert_sdk_auth_failed(r);
    }
    // Nothing distinguishes them for the caller.
    let strip = |r: &Resp| {
        let mut b = r.body.clone();
        b.as_object_mut().unwrap().remove("requestId");
        b
    };
    assert_eq!(strip(&wrong), strip(&unknown));
    assert_eq!(strip(&wrong), strip(&twins));
    assert_eq!(strip(&wrong), strip(&empty));
    // The browser route answers the same in its envelope.
    let r = browser_sign_in(&app, &o.slug, "nobody", "whatever-2").await;
    assert_envelope_error(&r, 401, "SSO_AUTH_FAILED");
    let r = browser_sign_in(&app, &o.slug, "alice", "").await;
    assert_envelope_error(&r, 401, "SSO_AUTH_FAILED");

    let reasons = failure_reasons(&app).await;
    assert_eq!(reasons.len(), 6, "{reasons:?}");
    assert!(reasons.iter().all(|(code, _)| code == "SSO_AUTH_FAILED"), "{reasons:?}");
    let detail = |i: usize| reasons[i].1.clone();
    assert!(detail(0).contains("wrong password for uid=alice"), "{}", detail(0));
    assert!(detail(1).contains("no directory entry matches"), "{}", detail(1));
    assert!(detail(2).contains("2 or more directory entries"), "{}", detail(2));
    assert!(detail(3).contains("before any bind"), "{}", detail(3));
    for (_, d) in &reasons {
        for secret in ["not-her-password", "whatever", "twin-password"] {
            assert!(!d.contains(secret), "{d}");
        }
    }
    assert_eq!(ldap_sessions(&app).await, 0);
    assert_eq!(app.count("users").await, users_before);
    assert_eq!(app.count("external_identities").await, 0);
    // The throttle holds opaque keys only.
    let leaked: i64 = sqlx::query_scalar("SELECT count(*) FROM ldap_throttle WHERE position('alice'::bytea in subject_key) > 0 OR length(subject_key) NOT IN (0, 32)")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(leaked, 0);
}

#[tokio::test]
async fn injection_usernames_sign_nobody_in() {
    let (app, o, conn_id) = setup("inject", json!({})).await;
    for user in ["*", "alice*", "*)(uid=*", "alice)(|(uid=*", "\\2a"] {
        let r = sdk_sign_in(&app, &o, &conn_id, user, "alice-password").await;
        assert_sdk_auth_failed(&r);
        let r = browser_sign_in(&app, &o.slug, user, "bob-password").await;
        assert_envelope_error(&r, 401, "SSO_AUTH_FAILED");
    }
    let huge = "a".repeat(10 * 1024);
    assert_sdk_auth_failed(&sdk_sign_in(&app, &o, &conn_id, &huge, "alice-password").await);
    assert_envelope_error(
        &browser_sign_in(&app, &o.slug, &format!("alice{huge}"), "alice-password").await,
        401,
        "SSO_AUTH_FAILED",
    );
    let reasons = failure_reasons(&app).await;
    assert_eq!(reasons.len(), 12);
    for (_, d) in &reasons[..10] {
        assert!(d.contains("no directory entry matches"), "treated literally: {d}");
    }
    for (_, d) in &reasons[10..] {
        assert!(d.contains("username empty or over 256 bytes"), "{d}");
    }
    assert_eq!(ldap_sessions(&app).await, 0);
    assert_eq!(app.count("external_identities").await, 0);
    // alice herself is not locked out by any of this.
    assert_eq!(
        sdk_sign_in(&app, &o, &conn_id, "alice", "alice-password").await.status,
        200
    );
}

#[tokio::test]
async fn tls_modes_ldaps_wrong_ca_and_plain_text_rules() {
    let dir = ldap::shared().await;
    let app = TestApp::start().await;
    let o = app.owner("tlsco").await;

    // LDAPS with the directory's CA.
    let ldaps = create_connection(
        &app,
        &o,
        connection_body(
            dir,
            json!({"name": "LDAPS", "ldapUrl": dir.ldaps_url.clone().unwrap(), "ldapStartTls": false, "domains": []}),
        ),
    )
    .await;
    let r = sdk_sign_in(&app, &o, &ldaps, "alice", "alice-password").await;
    assert_eq!(r.status, 200, "{}", r.text);

    // A CA that did not sign the server's certificate: refused, for LDAPS and StartTLS alike.
    for (name, url, start_tls) in [
        ("wrong-ca-ldaps", dir.ldaps_url.clone().unwrap(), false),
        ("wrong-ca-starttls", dir.url.clone(), true),
    ] {
        let id = create_connection(
            &app,
            &o,
            connection_body(dir, json!({"name": name, "ldapUrl": url, "ldapStartTls": start_tls, "ldapCaCertificate": dir.other_ca_pem, "domains": []})),
        )
        .await;
        let before = ldap_sessions(&app).await;
        let r = sdk_sign_in(&app, &o, &id, "alice", "alice-password").await;
        assert_eq!(r.status, 502, "{}", r.text);
        assert_eq!(r.body["code"], "IDP_UNAVAILABLE");
        assert_eq!(ldap_sessions(&app).await, before);
        let t = app
            .call(
                Method::POST,
                &format!("/v1/sso/connections/{id}/test"),
                Some(&o.key),
                Some(json!({})),
            )
            .await;
        assert_eq!(t.status, 200, "{}", t.text);
        assert_eq!(t.body["success"], false, "{}", t.text);
        let (_, d) = failure_reasons(&app).await.pop().unwrap();
        assert!(d.contains("TLS handshake") && d.contains("certificate"), "{d}");
    }

    // Plain ldap:// when TLS is required: refused when the connection is made...
    let r = app
        .call(
            Method::POST,
            "/v1/sso/connections",
            Some(&o.key),
            Some(connection_body(
                dir,
                json!({"name": "plain", "ldapStartTls": false, "ldapTlsEnabled": false, "domains": []}),
            )),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["code"], "VALIDATION_ERROR");
    assert!(r.text.contains("ldapAllowPlaintext"), "{}", r.text);
    assert!(
        app.call(
            Method::POST,
            "/v1/sso/connections",
            Some(&o.key),
            Some(connection_body(
                dir,
                json!({"name": "bad-ca", "ldapCaCertificate": "not a certificate", "domains": []})
            ))
        )
        .await
        .status
            == 400
    );

    // ...and against a directory that cannot do TLS, StartTLS (the default for ldap://) fails
    // instead of falling back; only an explicit ldapAllowPlaintext talks to it in clear.
    let plain_dir = Private::start("notls", &[("LDAP_TLS", "0")]).await;
    let d = &plain_dir.dir_info;
    let id = create_connection(
        &app,
        &o,
        connection_body(
            d,
            json!({"name": "notls", "ldapStartTls": null, "ldapCaCertificate": null, "domains": []}),
        ),
    )
    .await;
    let r = sdk_sign_in(&app, &o, &id, "alice", "alice-password").await;
    assert_eq!(r.status, 502, "{}", r.text);
    assert_eq!(r.body["code"], "IDP_UNAVAILABLE");
    let (_, reason) = failure_reasons(&app).await.pop().unwrap();
    assert!(
        reason.contains("refused StartTLS") && reason.contains("never used instead"),
        "{reason}"
    );
    let id = create_connection(
        &app,
        &o,
        connection_body(d, json!({"name": "plain-allowed", "ldapStartTls": false, "ldapTlsEnabled": false, "ldapAllowPlaintext": true, "ldapCaCertificate": null, "domains": []})),
    )
    .await;
    // (bob: alice already has an identity on the LDAPS connection, and another connection's
    // identity is never linked to it by email alone.)
    let r = sdk_sign_in(&app, &o, &id, "bob", "bob-password").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        ldap_sessions(&app).await,
        2,
        "LDAPS and the explicit plain-text connection only"
    );
}

#[tokio::test]
async fn private_network_targets_are_refused_unless_allowed() {
    let dir = ldap::shared().await;
    let app = TestApp::start_with(|s| s.outbound.allow_private_networks = false).await;
    let o = app.owner("guarded").await;
    let id = create_connection(&app, &o, connection_body(dir, json!({}))).await;
    let r = sdk_sign_in(&app, &o, &id, "alice", "alice-password").await;
    assert_eq!(r.status, 502, "{}", r.text);
    let (_, reason) = failure_reasons(&app).await.pop().unwrap();
    assert!(reason.contains("private networks are not allowed"), "{reason}");
    assert_eq!(ldap_sessions(&app).await, 0);
}

#[tokio::test]
async fn a_stopped_directory_is_reported_within_seconds_and_sign_in_recovers() {
    let private = Private::start("outage", &[]).await;
    let app = TestApp::start().await;
    let o = app.owner("outage").await;
    let id = create_connection(&app, &o, connection_body(&private.dir_info, json!({}))).await;
    let r = sdk_sign_in(&app, &o, &id, "alice", "alice-password").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let user = r.body["principalId"].clone();

    private.stop().await;
    let t = Instant::now();
    let r = sdk_sign_in(&app, &o, &id, "alice", "alice-password").await;
    let down_ms = t.elapsed().as_millis();
    assert_eq!(r.status, 502, "{}", r.text);
    assert_eq!(r.body["code"], "IDP_UNAVAILABLE");
    assert_eq!(r.body["message"], "the identity provider could not be reached");
    assert!(down_ms < 3000, "answered in {down_ms} ms");
    let (code, reason) = failure_reasons(&app).await.pop().unwrap();
    assert_eq!(code, "IDP_UNAVAILABLE");
    assert!(reason.contains("cannot connect"), "{reason}");
    let t = Instant::now();
    let test = app
        .call(
            Method::POST,
            &format!("/v1/sso/connections/{id}/test"),
            Some(&o.key),
            Some(json!({})),
        )
        .await;
    let test_ms = t.elapsed().as_millis();
    assert_eq!(test.body["success"], false, "{}", test.text);
    assert!(test_ms < 3000, "{test_ms} ms");
    // Outages are not counted as failed passwords: several attempts, no lock.
    for _ in 0..6 {
        assert_eq!(sdk_sign_in(&app, &o, &id, "alice", "alice-password").await.status, 502);
    }
    assert_eq!(ldap_sessions(&app).await, 1);

    private.restart().await;
    let t = Instant::now();
    let r = sdk_sign_in(&app, &o, &id, "alice", "alice-password").await;
    let back_ms = t.elapsed().as_millis();
    assert_eq!(r.status, 200, "recovered: {}", r.text);
    assert_eq!(r.body["principalId"], user);
    assert_eq!(ldap_sessions(&app).await, 2);
    eprintln!("LDAP outage: refused in {down_ms} ms, test connection failed in {test_ms} ms, first sign-in after restart {back_ms} ms");
}

fn retry_after(r: &Resp) -> u64 {
    assert_eq!(r.status, 429, "{}", r.text);
    r.headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After")
}

#[tokio::test]
async fn a_burst_of_wrong_passwords_locks_the_username_for_a_growing_delay() {
    let (app, o, conn_id) = setup("throttle", json!({})).await;
    for i in 0..5 {
        let r = sdk_sign_in(&app, &o, &conn_id, "alice", &format!("guess-{i}")).await;
        assert_sdk_auth_failed(&r);
    }
    // Locked: even the right password is refused, without a bind, on both routes, any case.
    let r = sdk_sign_in(&app, &o, &conn_id, "alice", "alice-password").await;
    let wait = retry_after(&r);
    assert!((1..=5).contains(&wait), "{wait}");
    assert_eq!(r.body["code"], "RATE_LIMITED");
    let r = browser_sign_in(&app, &o.slug, " ALICE ", "alice-password").await;
    assert_envelope_error(&r, 429, "RATE_LIMITED");
    assert!(retry_after(&r) <= 5);
    assert_eq!(ldap_sessions(&app).await, 0);
    // Another username is not affected.
    assert_eq!(sdk_sign_in(&app, &o, &conn_id, "bob", "bob-password").await.status, 200);
    let (code, reason) = failure_reasons(&app).await.pop().unwrap();
    assert_eq!(code, "RATE_LIMITED");
    assert!(reason.contains("without a bind"), "{reason}");

    // Once the delay has passed, the right password works and clears the count.
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(200)).await;
    let r = sdk_sign_in(&app, &o, &conn_id, "alice", "alice-password").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_sdk_auth_failed(&sdk_sign_in(&app, &o, &conn_id, "alice", "wrong-again").await);

    // The delay grows: 5 failures lock for 5 s, the next failure for 10 s.
    for i in 0..4 {
        assert_sdk_auth_failed(&sdk_sign_in(&app, &o, &conn_id, "alice", &format!("again-{i}")).await);
    }
    let first = retry_after(&sdk_sign_in(&app, &o, &conn_id, "alice", "alice-password").await);
    tokio::time::sleep(Duration::from_secs(first) + Duration::from_millis(200)).await;
    assert_sdk_auth_failed(&sdk_sign_in(&app, &o, &conn_id, "alice", "one-more").await);
    let second = retry_after(&sdk_sign_in(&app, &o, &conn_id, "alice", "alice-password").await);
    assert!(second > first && second <= 10, "{first} then {second}");
    assert_eq!(ldap_sessions(&app).await, 2, "bob and alice once");
}

#[tokio::test]
async fn password_spraying_across_usernames_locks_the_connection() {
    let (app, o, conn_id) = setup("spray", json!({})).await;
    // 100 failures over 100 usernames, in parallel batches (attempts are counted before the bind).
    for batch in 0..10 {
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let (http, url, key) = (app.http.clone(), format!("{}/sso/callback/ldap", app.base), o.key.clone());
                let body = json!({"username": format!("sprayed-{batch}-{i}"), "password": "Winter2024!", "connectionId": conn_id, "org": o.org_id});
                tokio::spawn(async move { http.post(url).header("x-api-key", key).json(&body).send().await.unwrap().status().as_u16() })
            })
            .collect();
        for t in tasks {
            let status = t.await.unwrap();
            assert!(status == 401 || status == 429, "{status}");
        }
    }
    let r = sdk_sign_in(&app, &o, &conn_id, "alice", "alice-password").await;
    let wait = retry_after(&r);
    assert!((1..=60).contains(&wait), "{wait}");
    let (_, reason) = failure_reasons(&app).await.pop().unwrap();
    assert!(reason.contains("on this connection"), "{reason}");
    assert_eq!(ldap_sessions(&app).await, 0);
    // Other connections are not affected.
    let other = create_connection(
        &app,
        &o,
        connection_body(ldap::shared().await, json!({"name": "other", "domains": []})),
    )
    .await;
    assert_eq!(
        sdk_sign_in(&app, &o, &other, "alice", "alice-password").await.status,
        200
    );
}
