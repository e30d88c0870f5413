//! OIDC sign-in end to end against the real `oidc-provider`: settings, the browser flow with the
//! binding cookie, sessions, provisioning and linking rules, and every refusal leaving no session.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::oidc::{self, browser};
use crate::support::{assert_envelope_error, error_of, session_cookie, sessions_by_method, Owner, TestApp};

async fn configure(app: &TestApp, o: &Owner, issuer: &str, client_id: &str, secret: &str) -> Value {
    let r = app
        .call(
            Method::PUT,
            &format!("/api/user/organizations/{}/settings/sso", o.org_id),
            Some(&o.key),
            Some(json!({"provider": "oidc", "issuerUrl": issuer, "clientId": client_id, "clientSecret": secret})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].clone()
}

async fn sign_in(app: &TestApp, slug: &str, user: &str, password: &str) -> crate::support::Resp {
    let b = browser();
    let cb = oidc::to_callback(app, &b, &format!("/api/auth/sso/{slug}/login"), user, password).await;
    oidc::finish(&b, &cb).await
}

#[tokio::test]
async fn browser_flow_rs256_provisions_a_member_and_sets_a_session() {
    let p = oidc::provider().await;
    let app =
        TestApp::start_with(|s| s.app.allowed_return_urls = vec!["http://app.example.test/dashboard".into()]).await;
    let o = app.owner("acme").await;
    let settings = configure(&app, &o, &p.issuer, "test-client", "test-secret").await;
    assert!(settings.get("clientSecret").is_none() && settings["clientSecretSet"] == true);
    assert_eq!(settings["callbackUrl"], format!("{}/api/auth/sso/callback", app.base));
    let r = app
        .call(
            Method::POST,
            &format!("/api/user/organizations/{}/settings/sso/test", o.org_id),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["success"], true, "{}", r.text);
    assert_eq!(r.body["message"], "SSO configuration is valid");

    let b = browser();
    let cb = oidc::to_callback(
        &app,
        &b,
        "/api/auth/sso/acme/login?returnTo=http%3A%2F%2Fapp.example.test%2Fdashboard",
        "alice",
        "alice-password",
    )
    .await;
    let r = oidc::finish(&b, &cb).await;
    assert_eq!(r.status, 302, "{}", r.text);
    assert_eq!(r.headers["location"], "http://app.example.test/dashboard");
    let cookie = session_cookie(&r).expect("session cookie");
    let me = app.me_with_cookie(&cookie).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["data"]["user"]["email"], "alice@example.com");
    assert_eq!(me.body["data"]["user"]["name"], "Alice Example");
    assert_eq!(me.body["data"]["authentication"]["method"], "oidc");
    assert_eq!(me.body["data"]["authentication"]["mfa"], false);
    assert_eq!(me.body["data"]["authentication"]["organizationId"], o.org_id.as_str());
    let ms = me.body["data"]["memberships"].as_array().unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0]["id"], o.org_id.as_str());
    assert_eq!(ms[0]["role"], "member");
    let (subject, conn): (String, String) = sqlx::query_as("SELECT subject, connection_id FROM external_identities")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(subject, "alice");
    assert_eq!(conn, settings["connectionId"].as_str().unwrap());
    let outcome: String = sqlx::query_scalar("SELECT outcome FROM audit_events WHERE action = 'sign_in.sso'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(outcome, "success");

    // A second login reuses the identity; the callback URL cannot be replayed.
    let r2 = sign_in(&app, "acme", "alice", "alice-password").await;
    assert!(session_cookie(&r2).is_some());
    assert_eq!(app.count("users").await, 2);
    let replay = oidc::finish(&b, &cb).await;
    assert_eq!(error_of(&replay), "INVALID_STATE");
    assert!(session_cookie(&replay).is_none());
    assert_eq!(sessions_by_method(&app, "oidc").await, 2);
    // An open redirect is refused: the fallback is app.url.
    let b = browser();
    let cb = oidc::to_callback(
        &app,
        &b,
        "/api/auth/sso/acme/login?returnTo=https%3A%2F%2Fevil.example%2F",
        "alice",
        "alice-password",
    )
    .await;
    let r = oidc::finish(&b, &cb).await;
    assert_eq!(r.headers["location"], "http://app.example.test/");
}

#[tokio::test]
async fn browser_flow_es256_with_client_secret_post_and_mfa_from_amr() {
    let p = oidc::provider().await;
    let app = TestApp::start().await;
    let o = app.owner("es").await;
    configure(&app, &o, &p.issuer, "test-client-es256", "test-secret").await;
    sqlx::query(
        "UPDATE sso_connections SET config = config || '{\"tokenEndpointAuthMethod\": \"client_secret_post\"}'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let r = sign_in(&app, "es", "carol", "carol-password").await;
    let cookie = session_cookie(&r).unwrap_or_else(|| panic!("no session: {:?}", r.headers));
    let me = app.me_with_cookie(&cookie).await;
    assert_eq!(me.body["data"]["user"]["email"], "carol@example.com");
    assert_eq!(
        me.body["data"]["authentication"]["mfa"], true,
        "amr [pwd, mfa] means MFA"
    );
}

#[tokio::test]
async fn state_and_binding_refusals_create_no_session() {
    let p = oidc::provider().await;
    let app = TestApp::start().await;
    let o = app.owner("refuse").await;
    configure(&app, &o, &p.issuer, "test-client", "test-secret").await;

    // Completed in another browser (no binding cookie): login CSRF refused.
    let victim = browser();
    let cb = oidc::to_callback(
        &app,
        &browser(),
        "/api/auth/sso/refuse/login",
        "alice",
        "alice-password",
    )
    .await;
    let r = oidc::finish(&victim, &cb).await;
    assert_eq!(error_of(&r), "LOGIN_BINDING_MISMATCH");
    assert!(session_cookie(&r).is_none());
    // Unknown state.
    let r = oidc::finish(
        &victim,
        &format!("{}/api/auth/sso/callback?code=abc&state=not-a-real-state", app.base),
    )
    .await;
    assert_eq!(error_of(&r), "INVALID_STATE");
    let r = oidc::finish(&victim, &format!("{}/api/auth/sso/callback?code=abc", app.base)).await;
    assert_eq!(error_of(&r), "INVALID_STATE");
    // Expired state.
    let b = browser();
    let cb = oidc::to_callback(&app, &b, "/api/auth/sso/refuse/login", "alice", "alice-password").await;
    sqlx::query("UPDATE login_transactions SET created_at = now() - interval '20 minutes', expires_at = now() - interval '11 minutes'").execute(&app.db).await.unwrap();
    let r = oidc::finish(&b, &cb).await;
    assert_eq!(error_of(&r), "EXPIRED_STATE");
    // The IdP's error response.
    let b = browser();
    let r = b
        .get(format!("{}/api/auth/sso/refuse/login", app.base))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let state = url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let r = oidc::finish(
        &b,
        &format!("{}/api/auth/sso/callback?error=access_denied&state={state}", app.base),
    )
    .await;
    assert_eq!(error_of(&r), "IDP_DENIED");
    assert_eq!(sessions_by_method(&app, "oidc").await, 0);
    assert_eq!(
        app.count("login_transactions").await,
        0,
        "every presented state was consumed"
    );
    let reasons: Vec<String> =
        sqlx::query_scalar("SELECT reason FROM audit_events WHERE action = 'sign_in.sso' AND outcome = 'failure'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    for code in ["LOGIN_BINDING_MISMATCH", "INVALID_STATE", "EXPIRED_STATE", "IDP_DENIED"] {
        assert!(reasons.iter().any(|r| r == code), "{code} not audited: {reasons:?}");
    }
}

#[tokio::test]
async fn wrong_secret_unverified_email_and_linking_rules() {
    let p = oidc::provider().await;
    let app = TestApp::start().await;
    let o = app.owner("linking").await;
    // Wrong client secret: the token endpoint refuses.
    configure(&app, &o, &p.issuer, "test-client", "not-the-secret").await;
    let r = sign_in(&app, "linking", "alice", "alice-password").await;
    assert_eq!(error_of(&r), "TOKEN_EXCHANGE_FAILED");
    configure(&app, &o, &p.issuer, "test-client", "test-secret").await;

    // bob@example.com exists and is a member; the IdP says his email is unverified: refused.
    let bob = portico_core::ids::prefixed(portico_core::ids::USER);
    portico_store::users::insert(&app.db, &bob, "bob@example.com", None, None)
        .await
        .unwrap();
    portico_store::orgs::add_member(&app.db, &o.org_id, &bob, "member")
        .await
        .unwrap();
    let r = sign_in(&app, "linking", "bob", "bob-password").await;
    assert_eq!(error_of(&r), "EMAIL_NOT_VERIFIED");
    // alice@example.com exists (another org's user); verified email but the domain is not
    // verified by this organization: not linked.
    let alice = portico_core::ids::prefixed(portico_core::ids::USER);
    portico_store::users::insert(&app.db, &alice, "Alice@Example.com", None, None)
        .await
        .unwrap();
    let r = sign_in(&app, "linking", "alice", "alice-password").await;
    assert_eq!(error_of(&r), "ACCOUNT_LINK_REFUSED");
    assert_eq!(sessions_by_method(&app, "oidc").await, 0);
    assert_eq!(app.count("external_identities").await, 0);
    // Once the organization has verified example.com, the verified email links to the account.
    sqlx::query("INSERT INTO organization_domains (id, organization_id, domain, status, verification_token, verified_at) VALUES ($1, $2, 'example.com', 'verified', 'tok-0123456789abcdef', now())")
        .bind(portico_core::ids::bare()).bind(&o.org_id).execute(&app.db).await.unwrap();
    let r = sign_in(&app, "linking", "alice", "alice-password").await;
    assert!(session_cookie(&r).is_some(), "{:?}", r.headers);
    let linked: String = sqlx::query_scalar("SELECT user_id FROM external_identities WHERE subject = 'alice'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(linked, alice);
    // A disabled user never gets a session.
    portico_store::users::set_status(&app.db, &alice, portico_core::account::UserStatus::Disabled)
        .await
        .unwrap();
    let r = sign_in(&app, "linking", "alice", "alice-password").await;
    assert_eq!(error_of(&r), "USER_DISABLED");
    assert_eq!(sessions_by_method(&app, "oidc").await, 1);
}

#[tokio::test]
async fn settings_secret_is_sealed_and_never_returned() {
    let p = oidc::provider().await;
    let app = TestApp::start().await;
    let o = app.owner("sealed").await;
    let secret = "a-very-secret-client-secret-42";
    configure(&app, &o, &p.issuer, "test-client", secret).await;
    let r = app
        .call(
            Method::GET,
            &format!("/api/user/organizations/{}/settings/sso", o.org_id),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(!r.text.contains(secret));
    assert_eq!(r.body["data"]["issuerUrl"], p.issuer.as_str());
    let stored: String = sqlx::query_scalar("SELECT client_secret FROM sso_connections")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(stored.starts_with("v1:t1:") && !stored.contains(secret), "{stored}");
    let row = sqlx::query_scalar::<_, Value>("SELECT to_jsonb(c) FROM sso_connections c")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!row.to_string().contains(secret));
    let audit: Vec<Value> = sqlx::query_scalar("SELECT to_jsonb(a) FROM audit_events a")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(!audit.iter().any(|a| a.to_string().contains(secret)));
    assert!(!crate::support::logs::captured().contains(secret));
    // Only exactly the four fields; non-owners are refused.
    let r = app.call(Method::PUT, &format!("/api/user/organizations/{}/settings/sso", o.org_id), Some(&o.key),
        Some(json!({"provider": "oidc", "issuerUrl": p.issuer, "clientId": "x", "clientSecret": "y", "domain": "x.com"}))).await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    let r = app
        .call(
            Method::PUT,
            &format!("/api/user/organizations/{}/settings/sso", o.org_id),
            Some(&o.key),
            Some(json!({"provider": "keycloak", "issuerUrl": p.issuer, "clientId": "x", "clientSecret": "y"})),
        )
        .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    let r = app
        .call(
            Method::PUT,
            &format!("/api/user/organizations/{}/settings/sso", o.org_id),
            Some(&o.key),
            Some(json!({"provider": "oidc", "issuerUrl": "ftp://x", "clientId": "x", "clientSecret": "y"})),
        )
        .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/user/organizations/{}/settings/sso", o.org_id),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(app.count("sso_connections").await, 0);
    let r = app
        .call(
            Method::GET,
            &format!("/api/user/organizations/{}/settings/sso", o.org_id),
            Some(&o.key),
            None,
        )
        .await;
    assert_envelope_error(&r, 404, "NOT_FOUND");
}

#[tokio::test]
async fn issuer_mismatch_and_provider_down_fail_clearly_and_quickly() {
    let p = oidc::provider().await;
    let app = TestApp::start().await;
    let o = app.owner("mismatch").await;
    // The provider's discovery says issuer = p.issuer, not p.issuer + "/tenant".
    configure(&app, &o, &format!("{}/tenant", p.issuer), "test-client", "test-secret").await;
    let r = app
        .call(
            Method::POST,
            &format!("/api/user/organizations/{}/settings/sso/test", o.org_id),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["success"], false, "{}", r.text);
    let last: Option<bool> = sqlx::query_scalar("SELECT last_test_success FROM sso_connections")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(last, Some(false));
    let r = app
        .http
        .get(format!("{}/api/auth/sso/mismatch/login", app.base))
        .send()
        .await
        .unwrap();
    let r = TestApp::read(r).await;
    assert!(r.status.is_client_error() || r.status.is_server_error(), "{}", r.text);
    assert_ne!(r.status, 302);

    // Provider down: a closed port answers quickly with a clear failure.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    configure(
        &app,
        &o,
        &format!("http://127.0.0.1:{dead}"),
        "test-client",
        "test-secret",
    )
    .await;
    let t = std::time::Instant::now();
    let r = app
        .call(
            Method::POST,
            &format!("/api/user/organizations/{}/settings/sso/test", o.org_id),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.body["data"]["success"], false);
    assert_eq!(r.body["data"]["checks"][0]["name"], "discovery");
    let r = TestApp::read(
        app.http
            .get(format!("{}/api/auth/sso/mismatch/login", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.body["code"], "IDP_UNAVAILABLE", "{}", r.text);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(8),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(sessions_by_method(&app, "oidc").await, 0);
}

#[tokio::test]
async fn key_rotation_at_the_provider_between_two_logins() {
    let p = oidc::provider().await;
    let app = TestApp::start().await;
    let o = app.owner("rotation").await;
    configure(&app, &o, &p.issuer, "test-client", "test-secret").await;
    assert!(session_cookie(&sign_in(&app, "rotation", "alice", "alice-password").await).is_some());
    oidc::rotate().await;
    let r = sign_in(&app, "rotation", "alice", "alice-password").await;
    assert!(
        session_cookie(&r).is_some(),
        "login after rotation: {:?}",
        r.headers.get("location")
    );
}

#[tokio::test]
async fn a_browser_login_cannot_be_finished_at_the_sdk_callback() {
    let p = oidc::provider().await;
    let app = TestApp::start().await;
    let o = app.owner("modes").await;
    configure(&app, &o, &p.issuer, "test-client", "test-secret").await;
    let b = browser();
    let cb = oidc::to_callback(&app, &b, "/api/auth/sso/modes/login", "alice", "alice-password").await;
    let q: std::collections::HashMap<String, String> =
        url::Url::parse(&cb).unwrap().query_pairs().into_owned().collect();
    let r = app
        .http
        .post(format!("{}/sso/callback/oidc", app.base))
        .bearer_auth(&o.key)
        .json(&json!({"code": q["code"], "state": q["state"]}))
        .send()
        .await
        .unwrap();
    let r = TestApp::read(r).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["code"], "LOGIN_MODE_MISMATCH");
    assert_eq!(sessions_by_method(&app, "oidc").await, 0);
    // The transaction was consumed: the browser cannot finish it afterwards either.
    assert_eq!(error_of(&oidc::finish(&b, &cb).await), "INVALID_STATE");
}
