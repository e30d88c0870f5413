//! Verified domains are authoritative, and linking follows SPEC §3 rules (a)/(b).
//!
//! Attacks (each succeeded on the old code): a tenant whose IdP has JIT and no domain list
//! asserts `alice@example.com`, a domain another organization verified: it created the global
//! user row and locked the real Alice out of the verifying organization (`ACCOUNT_LINK_REFUSED`).
//! And a member of one organization was locked out the same way when an admin recreated the
//! organization's connection.

use reqwest::Method;
use serde_json::json;

use crate::support::ldap::{self, connection_body, create_connection, sdk_sign_in};
use crate::support::oidc::{self, browser};
use crate::support::{error_of, session_cookie, sessions_by_method, Owner, Resp, TestApp};

/// `o` has verified `domain` (a fixture row: DNS verification is tested in `domains_policy`).
async fn verified(app: &TestApp, o: &Owner, domain: &str) {
    sqlx::query(
        "INSERT INTO organization_domains (id, organization_id, domain, status, verification_token, verified_at)
         VALUES ($1, $2, $3, 'verified', 'tok-0123456789abcdef', now())",
    )
    .bind(portico_core::ids::bare())
    .bind(&o.org_id)
    .bind(domain)
    .execute(&app.db)
    .await
    .unwrap();
}

/// The organization's default OIDC connection (seed-004 settings, JIT on, no domain list).
async fn oidc_settings(app: &TestApp, o: &Owner, issuer: &str) {
    let r = app
        .call(
            Method::PUT,
            &format!("/api/user/organizations/{}/settings/sso", o.org_id),
            Some(&o.key),
            Some(json!({"provider": "oidc", "issuerUrl": issuer, "clientId": "test-client", "clientSecret": "test-secret"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn oidc_sign_in(app: &TestApp, slug: &str) -> Resp {
    let b = browser();
    let cb = oidc::to_callback(
        app,
        &b,
        &format!("/api/auth/sso/{slug}/login"),
        "alice",
        "alice-password",
    )
    .await;
    oidc::finish(&b, &cb).await
}

async fn alice(app: &TestApp) -> Option<String> {
    sqlx::query_scalar("SELECT id FROM users WHERE email = 'alice@example.com'")
        .fetch_optional(&app.db)
        .await
        .unwrap()
}

async fn orgs_of(app: &TestApp, user: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT organization_id FROM memberships WHERE user_id = $1 ORDER BY organization_id")
        .bind(user)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn another_tenants_idp_cannot_squat_or_lock_out_a_verified_domain() {
    let p = oidc::provider().await;
    let app = TestApp::start().await;
    let victim = app.owner("victim").await;
    let squatter = app.owner("squatter").await;
    verified(&app, &victim, "example.com").await;
    oidc_settings(&app, &squatter, &p.issuer).await;

    let r = oidc_sign_in(&app, "squatter").await;
    assert_eq!(error_of(&r), "EMAIL_DOMAIN_CLAIMED", "{:?}", r.headers.get("location"));
    assert!(session_cookie(&r).is_none());
    assert_eq!(alice(&app).await, None, "no user row squatted");
    assert_eq!(app.count("external_identities").await, 0);
    assert_eq!(sessions_by_method(&app, "oidc").await, 0);
    let reason: String = sqlx::query_scalar(
        "SELECT details->>'detail' FROM audit_events WHERE action = 'sign_in.sso' AND reason = 'EMAIL_DOMAIN_CLAIMED'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(reason.contains(&victim.org_id), "{reason}");

    // The real Alice signs in through the organization that verified her domain.
    oidc_settings(&app, &victim, &p.issuer).await;
    let r = oidc_sign_in(&app, "victim").await;
    assert!(session_cookie(&r).is_some(), "{:?}", r.headers.get("location"));
    let id = alice(&app).await.expect("alice");
    assert_eq!(orgs_of(&app, &id).await, vec![victim.org_id.clone()]);
    // And the squatter still cannot, now that the account exists.
    let r = oidc_sign_in(&app, "squatter").await;
    assert_eq!(error_of(&r), "EMAIL_DOMAIN_CLAIMED");
    assert_eq!(app.count("external_identities").await, 1);
    assert_eq!(sessions_by_method(&app, "oidc").await, 1);
}

#[tokio::test]
async fn an_identity_made_before_the_domain_was_verified_stops_signing_in() {
    let p = oidc::provider().await;
    let app = TestApp::start().await;
    let victim = app.owner("victim2").await;
    let squatter = app.owner("squatter2").await;
    oidc_settings(&app, &squatter, &p.issuer).await;
    // Before anyone verified example.com, the squatter's IdP signs "alice" in.
    let r = oidc_sign_in(&app, "squatter2").await;
    assert!(session_cookie(&r).is_some(), "{:?}", r.headers.get("location"));
    let squatted = alice(&app).await.expect("row");

    verified(&app, &victim, "example.com").await;
    // A returning identity is refused too (the fast path of admission).
    let r = oidc_sign_in(&app, "squatter2").await;
    assert_eq!(error_of(&r), "EMAIL_DOMAIN_CLAIMED");
    assert_eq!(sessions_by_method(&app, "oidc").await, 1);

    // The verifying organization's IdP vouches for the email on its verified domain (rule a):
    // the account is linked, not refused.
    oidc_settings(&app, &victim, &p.issuer).await;
    let r = oidc_sign_in(&app, "victim2").await;
    assert!(session_cookie(&r).is_some(), "{:?}", r.headers.get("location"));
    assert_eq!(alice(&app).await.as_deref(), Some(squatted.as_str()));
    assert!(orgs_of(&app, &squatted).await.contains(&victim.org_id));
    assert_eq!(sessions_by_method(&app, "oidc").await, 2);
}

#[tokio::test]
async fn recreating_a_connection_does_not_lock_members_out() {
    let dir = ldap::shared().await;
    let app = TestApp::start().await;
    let o = app.owner("recreate").await;
    // No verified domain: rule (b), everything Alice has lies inside this organization.
    let body = connection_body(dir, json!({"domains": null, "groupMappings": {}, "defaultRole": null}));
    let first = create_connection(&app, &o, body.clone()).await;
    let r = sdk_sign_in(&app, &o, &first, "alice", "alice-password").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = alice(&app).await.expect("alice");

    // The admin deletes the connection and creates it again; and adds a second one to the same
    // directory. The same person signs in through both, as the same user.
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/sso/connections/{first}"),
            Some(&o.key),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let second = create_connection(&app, &o, body.clone()).await;
    let third = create_connection(&app, &o, body.clone()).await;
    for conn in [&second, &third] {
        let r = sdk_sign_in(&app, &o, conn, "alice", "alice-password").await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(alice(&app).await.as_deref(), Some(id.as_str()));
    assert_eq!(app.count("external_identities").await, 2);
    assert_eq!(orgs_of(&app, &id).await, vec![o.org_id.clone()]);

    // Once Alice is also a member elsewhere, a new connection here cannot take her account.
    let other = app.owner("elsewhere").await;
    portico_store::orgs::add_member(&app.db, &other.org_id, &id, "member")
        .await
        .unwrap();
    let fourth = create_connection(&app, &o, body).await;
    let r = sdk_sign_in(&app, &o, &fourth, "alice", "alice-password").await;
    assert_eq!(r.status, 401, "{}", r.text);
    let refused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE action = 'sign_in.sso' AND connection_id = $1
         AND details->>'detail' LIKE 'ACCOUNT_LINK_REFUSED%'",
    )
    .bind(&fourth)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(refused, 1);
    assert_eq!(app.count("external_identities").await, 2, "nothing linked");
}

#[tokio::test]
async fn linking_ends_what_the_squatters_idp_signed_in() {
    // Attack: before victim verified example.com, the squatter's IdP signed "alice" in and the
    // squatter kept that session and a token minted from it. Once victim verified the domain
    // and its IdP linked the account (rule a), they reached the real Alice's user-level routes.
    let p = oidc::provider().await;
    let app = TestApp::start().await;
    let victim = app.owner("victim3").await;
    let squatter = app.owner("squatter3").await;
    oidc_settings(&app, &squatter, &p.issuer).await;
    let r = oidc_sign_in(&app, "squatter3").await;
    let cookie = session_cookie(&r).expect("squatter session");
    let session = cookie.trim_start_matches("portico_session=").to_owned();
    let pat = crate::security::bearer(
        &app,
        Method::POST,
        "/api/user/tokens",
        &session,
        Some(json!({"name": "kept", "organizationId": squatter.org_id})),
    )
    .await;
    assert_eq!(pat.status, 201, "{}", pat.text);
    let pat = pat.body["data"]["token"].as_str().unwrap().to_owned();

    verified(&app, &victim, "example.com").await;
    oidc_settings(&app, &victim, &p.issuer).await;
    let r = oidc_sign_in(&app, "victim3").await;
    let own = session_cookie(&r).expect("victim's IdP signs the real Alice in");

    for cred in [&session, &pat] {
        let me = crate::security::bearer(&app, Method::GET, "/api/user/me", cred, None).await;
        assert_eq!(me.status, 401, "the squatter's credential still works: {}", me.text);
    }
    let revoked: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL)
              + (SELECT count(*) FROM api_tokens WHERE revoked_at IS NOT NULL AND name = 'kept')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(revoked, 2);
    let me = app.me_with_cookie(&own).await;
    assert_eq!(me.status, 200, "{}", me.text);
}
