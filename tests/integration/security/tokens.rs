//! Enforcement covers tokens, and SSO sessions belong to their organization.
//!
//! Attacks: with `authRequired=sso`, a non-exempt member keeps full access through a personal
//! access token minted from a password session (before or after the policy was raised); a
//! session without MFA mints a token past `requireMfa`; a person signed in through another
//! organization's IdP uses that session — its MFA, tokens minted from it — here.

use reqwest::Method;
use serde_json::{json, Value};

use super::{bearer, sign_in};
use crate::support::oidc::{self, browser};
use crate::support::{assert_envelope_error, session_cookie, Owner, Resp, TestApp};

const PASSWORD: &str = "member-password-1";

async fn org_call(app: &TestApp, o: &Owner, m: Method, rest: &str, body: Option<Value>) -> Resp {
    app.call(
        m,
        &format!("/api/user/organizations/{}{rest}", o.org_id),
        Some(&o.key),
        body,
    )
    .await
}

/// A default OIDC connection to the harness provider that has passed its test.
async fn tested_oidc(app: &TestApp, o: &Owner) {
    let p = oidc::provider().await;
    let body =
        json!({"provider": "oidc", "issuerUrl": p.issuer, "clientId": "test-client", "clientSecret": "test-secret"});
    let r = org_call(app, o, Method::PUT, "/settings/sso", Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = org_call(app, o, Method::POST, "/settings/sso/test", None).await;
    assert_eq!(r.body["data"]["success"], true, "{}", r.text);
}

async fn policy(app: &TestApp, o: &Owner, auth_required: &str, require_mfa: bool) {
    let r = org_call(
        app,
        o,
        Method::PUT,
        "/settings/security",
        Some(json!({"authRequired": auth_required, "requireMfa": require_mfa})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// A password user who is a `member` of `o`.
async fn member(app: &TestApp, o: &Owner, email: &str) -> String {
    let id = portico_core::ids::prefixed(portico_core::ids::USER);
    let hash = portico_core::password::hash(PASSWORD).unwrap();
    portico_store::users::insert(&app.db, &id, email, None, Some(&hash))
        .await
        .unwrap();
    portico_store::orgs::add_member(&app.db, &o.org_id, &id, "member")
        .await
        .unwrap();
    id
}

async fn password_session(app: &TestApp, email: &str) -> String {
    let r = sign_in(app, email, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"]["token"].as_str().unwrap().to_owned()
}

async fn mint(app: &TestApp, cred: &str, org: Option<&str>) -> Resp {
    let mut body = json!({ "name": "pat" });
    if let Some(org) = org {
        body["organizationId"] = json!(org);
    }
    bearer(app, Method::POST, "/api/user/tokens", cred, Some(body)).await
}

fn token_of(r: &Resp) -> String {
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["data"]["token"].as_str().unwrap().to_owned()
}

async fn tokens_of(app: &TestApp, user_id: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM api_tokens WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Signs `user` in through `slug`'s OIDC connection; the session cookie pair.
async fn sso_session(app: &TestApp, slug: &str, user: &str) -> String {
    let b = browser();
    let cb = oidc::to_callback(
        app,
        &b,
        &format!("/api/auth/sso/{slug}/login"),
        user,
        &format!("{user}-password"),
    )
    .await;
    let r = oidc::finish(&b, &cb).await;
    session_cookie(&r).unwrap_or_else(|| panic!("{user}: no session: {:?}", r.headers.get("location")))
}

async fn cookie_get(app: &TestApp, path: &str, cookie: &str) -> Resp {
    TestApp::read(
        app.http
            .get(format!("{}{path}", app.base))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn cookie_mint(app: &TestApp, cookie: &str, org: Option<&str>) -> Resp {
    let mut body = json!({ "name": "from-sso" });
    if let Some(org) = org {
        body["organizationId"] = json!(org);
    }
    TestApp::read(
        app.http
            .post(format!("{}/api/user/tokens", app.base))
            .header("cookie", cookie)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn tokens_from_password_sessions_do_not_get_past_authrequired_sso() {
    let app = TestApp::start().await;
    let o = app.owner("tok-sso").await;
    tested_oidc(&app, &o).await;
    let pat_user = member(&app, &o, "pat@tok-sso.example").await;
    let session = password_session(&app, "pat@tok-sso.example").await;
    // Before enforcement: a pinned and an unpinned token from the password session.
    let pinned = token_of(&mint(&app, &session, Some(&o.org_id)).await);
    let unpinned = token_of(&mint(&app, &session, None).await);
    let r = bearer(&app, Method::GET, "/api/user/tokens", &session, None).await;
    assert_eq!(
        r.body["data"][0]["mintedBy"],
        json!({"method": "password", "organizationId": null, "mfa": false}),
        "{}",
        r.text
    );
    // A token older than the record (no minting record at all).
    let (_, legacy) = portico_server::services::tokens::create(
        &app.db,
        &pat_user,
        Some(&o.org_id),
        "legacy",
        None,
        &Default::default(),
    )
    .await
    .unwrap();
    let legacy = secrecy::ExposeSecret::expose_secret(&legacy).to_owned();
    let read = format!("/api/user/organizations/{}", o.org_id);
    for t in [&pinned, &unpinned, &legacy] {
        assert_eq!(app.call(Method::GET, &read, Some(t), None).await.status, 200);
    }

    policy(&app, &o, "sso", false).await;
    // Every token that did not come from this organization's SSO is refused now.
    for t in [&pinned, &unpinned, &legacy] {
        let r = app.call(Method::GET, &read, Some(t), None).await;
        assert_envelope_error(&r, 403, "SSO_REQUIRED");
        assert!(r.body["loginUrl"]
            .as_str()
            .unwrap()
            .ends_with("/api/auth/sso/tok-sso/login"));
    }
    // …and the pre-enforcement password session cannot mint a fresh one for the organization.
    let before = tokens_of(&app, &pat_user).await;
    let r = mint(&app, &session, Some(&o.org_id)).await;
    assert_envelope_error(&r, 403, "SSO_REQUIRED");
    assert_eq!(tokens_of(&app, &pat_user).await, before, "no token written");
    // Neither can one of its tokens mint a child that escapes.
    let r = mint(&app, &pinned, Some(&o.org_id)).await;
    assert_envelope_error(&r, 403, "SSO_REQUIRED");
    assert_eq!(tokens_of(&app, &pat_user).await, before);
    // The user-level routes still work for it (the user can see and revoke its tokens).
    assert_eq!(
        app.call(Method::GET, "/api/user/me", Some(&pinned), None).await.status,
        200
    );

    // The owner's exempt bootstrap key keeps working, even with MFA required on top.
    policy(&app, &o, "sso", true).await;
    assert_eq!(org_call(&app, &o, Method::GET, "", None).await.status, 200);
}

#[tokio::test]
async fn a_session_without_mfa_cannot_mint_a_token_past_require_mfa() {
    let app = TestApp::start().await;
    let o = app.owner("tok-mfa").await;
    let user = member(&app, &o, "nomfa@tok-mfa.example").await;
    let session = password_session(&app, "nomfa@tok-mfa.example").await;
    let early = token_of(&mint(&app, &session, Some(&o.org_id)).await);
    policy(&app, &o, "any", true).await;
    let read = format!("/api/user/organizations/{}", o.org_id);
    assert_envelope_error(
        &app.call(Method::GET, &read, Some(&early), None).await,
        403,
        "MFA_REQUIRED",
    );
    let before = tokens_of(&app, &user).await;
    assert_envelope_error(&mint(&app, &session, Some(&o.org_id)).await, 403, "MFA_REQUIRED");
    // An unpinned token minted now is no way around it either.
    let loose = token_of(&mint(&app, &session, None).await);
    assert_envelope_error(
        &app.call(Method::GET, &read, Some(&loose), None).await,
        403,
        "MFA_REQUIRED",
    );
    assert_eq!(tokens_of(&app, &user).await, before + 1, "only the unpinned token");
    // `authRequired=mfa` is the same rule.
    policy(&app, &o, "mfa", false).await;
    assert_envelope_error(
        &app.call(Method::GET, &read, Some(&early), None).await,
        403,
        "MFA_REQUIRED",
    );
}

#[tokio::test]
async fn an_sso_session_belongs_to_its_organization() {
    let app = TestApp::start().await;
    // The attacker's organization has its own IdP; carol (IdP MFA) signs in through it.
    let evil = app.owner("tok-evil").await;
    tested_oidc(&app, &evil).await;
    let victim = app.owner("tok-victim").await;
    tested_oidc(&app, &victim).await;
    let carol = sso_session(&app, "tok-evil", "carol").await;
    let me = cookie_get(&app, "/api/user/me", &carol).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["data"]["authentication"]["mfa"], true);
    let carol_id = me.body["data"]["user"]["id"].as_str().unwrap().to_owned();
    // The same person is a member of the victim organization (added by its admin).
    portico_store::orgs::add_member(&app.db, &victim.org_id, &carol_id, "member")
        .await
        .unwrap();
    let victim_read = format!("/api/user/organizations/{}", victim.org_id);
    let evil_read = format!("/api/user/organizations/{}", evil.org_id);

    // The session works on its own organization's routes and the user-level ones…
    assert_eq!(cookie_get(&app, &evil_read, &carol).await.status, 200);
    assert_eq!(cookie_get(&app, "/api/user/organizations", &carol).await.status, 200);
    // …and on no other organization's, whatever its policy.
    for (auth_required, require_mfa) in [("any", false), ("any", true), ("mfa", false)] {
        policy(&app, &victim, auth_required, require_mfa).await;
        let r = cookie_get(&app, &victim_read, &carol).await;
        assert_envelope_error(&r, 403, "FORBIDDEN");
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .contains("another organization's identity provider"),
            "{}",
            r.text
        );
    }
    // Tokens minted from it pin only to its organization.
    let before = tokens_of(&app, &carol_id).await;
    assert_envelope_error(&cookie_mint(&app, &carol, Some(&victim.org_id)).await, 403, "FORBIDDEN");
    assert_envelope_error(&cookie_mint(&app, &carol, None).await, 403, "FORBIDDEN");
    assert_eq!(tokens_of(&app, &carol_id).await, before, "nothing written");
    let r = cookie_mint(&app, &carol, Some(&evil.org_id)).await;
    let t = token_of(&r);
    assert_eq!(
        r.body["data"]["mintedBy"],
        json!({"method": "oidc", "organizationId": evil.org_id, "mfa": true})
    );
    // That token carries the IdP's MFA for its organization only, and reaches nowhere else.
    policy(&app, &evil, "sso", true).await;
    assert_eq!(app.call(Method::GET, &evil_read, Some(&t), None).await.status, 200);
    assert_envelope_error(
        &app.call(Method::GET, &victim_read, Some(&t), None).await,
        404,
        "NOT_FOUND",
    );
    // GET /api/user/tokens/{id}: the caller's own token, 404 for anyone else's.
    let id = r.body["data"]["id"].as_str().unwrap();
    let mine = TestApp::read(
        app.http
            .get(format!("{}/api/user/tokens/{id}", app.base))
            .header("cookie", &carol)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    assert_eq!(mine.body["data"]["id"], id);
    assert!(mine.body["data"].get("token").is_none(), "the secret is shown once");
    assert_envelope_error(
        &app.call(Method::GET, &format!("/api/user/tokens/{id}"), Some(&victim.key), None)
            .await,
        404,
        "NOT_FOUND",
    );
}
