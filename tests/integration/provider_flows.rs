//! Provider logins that do not go straight through: an IdP refusal goes back to the client's
//! `redirect_uri` with `error=` and `state` (RFC 6749 §4.1.2.1); `prompt=login` and `max_age`
//! make the organization's IdP authenticate the person again (the real `oidc-provider` shows its
//! login form although its own session is live); the organization's policy applies to what a
//! provider login yields exactly as to any other SSO session.

use reqwest::Method;
use serde_json::json;

use crate::provider::{authorize_url, client, configure, query, REDIRECT};
use crate::support::{oidc, Resp, TestApp};

fn location(r: &Resp, base: &str) -> String {
    let l = r.headers["location"].to_str().unwrap();
    if l.starts_with('/') {
        format!("{base}{l}")
    } else {
        l.to_owned()
    }
}

fn origin(u: &str) -> String {
    url::Url::parse(u).unwrap().origin().ascii_serialization()
}

async fn get(b: &reqwest::Client, u: &str) -> Resp {
    TestApp::read(b.get(u).send().await.unwrap()).await
}

/// What a walk through the IdP saw.
struct Walk {
    /// The IdP authorization URL Portico sent the browser to.
    idp_authorize: String,
    /// Whether the IdP asked for the password.
    login_form: bool,
    /// Where Portico finally sent the browser (the client's redirect_uri).
    back: String,
}

/// Walks from Portico's authorize through the IdP (logging in as `user` when asked, aborting
/// at the IdP when `abort`) and Portico's callback and resume step, back to the client.
async fn walk(app: &TestApp, b: &reqwest::Client, authorize: &str, user: &str, abort: bool) -> Walk {
    let r = get(b, authorize).await;
    assert_eq!(r.status, 302, "{}", r.text);
    let idp_authorize = location(&r, &app.base);
    let mut next = idp_authorize.clone();
    let mut login_form = false;
    for _ in 0..30 {
        if next.starts_with(REDIRECT) {
            return Walk {
                idp_authorize,
                login_form,
                back: next,
            };
        }
        let r = get(b, &next).await;
        if r.status.is_redirection() {
            next = location(&r, &origin(&next));
            continue;
        }
        assert_eq!(r.status, 200, "{next}: {}", r.text);
        let base = origin(&next);
        let action = r.text.split("action=\"").nth(1).and_then(|s| s.split('"').next());
        let action = format!(
            "{base}{}",
            action.unwrap_or_else(|| panic!("no form at {next}: {}", r.text))
        );
        let uid = action
            .trim_end_matches("/login")
            .trim_end_matches("/confirm")
            .to_owned();
        let r = if abort {
            get(b, &format!("{uid}/abort")).await
        } else if action.ends_with("/login") {
            login_form = true;
            let pw = format!("{user}-password");
            TestApp::read(
                b.post(&action)
                    .form(&[("login", user), ("password", &pw)])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        } else {
            TestApp::read(b.post(&action).send().await.unwrap()).await
        };
        assert!(r.status.is_redirection(), "{action}: {} {}", r.status, r.text);
        next = location(&r, &base);
    }
    panic!("never came back to the client");
}

async fn exchange(app: &TestApp, id: &str, secret: &str, back: &str) -> Resp {
    let code = query(back)["code"].clone();
    TestApp::read(
        app.http
            .post(format!("{}/oauth2/token", app.base))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", id),
                ("client_secret", secret),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn claims(id_token: &str) -> serde_json::Value {
    use base64::Engine;
    let part = id_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn an_idp_refusal_returns_to_the_client_with_error_state_and_iss() {
    let app = TestApp::start().await;
    let o = app.owner("acme").await;
    configure(&app, &o).await;
    let (id, _) = client(&app, false, "ES256").await;
    let b = oidc::browser();
    let w = walk(&app, &b, &authorize_url(&app, &id, ""), "alice", true).await;
    let q = query(&w.back);
    assert_eq!(q["error"], "access_denied", "{}", w.back);
    assert_eq!(q["state"], "st");
    assert_eq!(q["iss"], app.base);
    assert!(q["error_description"].contains("IDP_DENIED"), "{}", w.back);
    assert!(!q.contains_key("code"));
    assert_eq!(count(&app, "SELECT count(*) FROM oauth_codes").await, 0);
    assert_eq!(
        count(&app, "SELECT count(*) FROM oauth_pending").await,
        0,
        "the pending request is used up"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM sessions").await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM audit_events WHERE action = 'sign_in.sso' AND outcome = 'failure' AND reason = 'IDP_DENIED'"
        )
        .await,
        1,
        "the refusal is audited once"
    );

    // A forged error on someone's resume URL, from a browser without the resume cookie: a page,
    // no redirect (and the victim's pending request is not reachable by its digest anyway).
    let r = app
        .call(
            Method::GET,
            "/oauth2/authorize/resume?h=forged-handle&error=access_denied&error_code=X",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.headers.get("location").is_none());
}

#[tokio::test]
async fn prompt_login_and_max_age_make_the_idp_authenticate_again() {
    let app = TestApp::start().await;
    let o = app.owner("acme").await;
    configure(&app, &o).await;
    let (id, secret) = client(&app, false, "ES256").await;
    let secret = secret.unwrap();
    let b = oidc::browser();
    // First login: the IdP asks for the password (no IdP session yet); no re-auth demanded.
    let w = walk(&app, &b, &authorize_url(&app, &id, ""), "alice", false).await;
    assert!(w.login_form);
    let first = query(&w.idp_authorize);
    assert!(
        !first.contains_key("prompt") && !first.contains_key("max_age"),
        "{}",
        w.idp_authorize
    );
    let t1 = exchange(&app, &id, &secret, &w.back).await;
    assert_eq!(t1.status, 200, "{}", t1.text);

    // With a live Portico session, a plain request answers at once; max_age within the session's
    // age too (the fresh local check).
    for extra in ["", "&max_age=3600"] {
        let r = get(&b, &authorize_url(&app, &id, extra)).await;
        assert_eq!(r.status, 302, "{}", r.text);
        assert!(
            location(&r, &app.base).starts_with(REDIRECT),
            "{extra}: answered by the live session"
        );
    }
    // The IdP's own session is live too: with Portico's session gone, the IdP answers silently.
    sqlx::query("UPDATE sessions SET revoked_at = now()")
        .execute(&app.db)
        .await
        .unwrap();
    let w = walk(&app, &b, &authorize_url(&app, &id, ""), "alice", false).await;
    assert!(
        !w.login_form,
        "the IdP reused its session (so the next step proves something)"
    );
    assert!(query(&w.back).contains_key("code"), "{}", w.back);

    // prompt=login: Portico skips its session and the IdP must ask for the password again.
    let w = walk(&app, &b, &authorize_url(&app, &id, "&prompt=login"), "alice", false).await;
    let sent = query(&w.idp_authorize);
    assert_eq!(sent["prompt"], "login", "{}", w.idp_authorize);
    assert_eq!(sent["max_age"], "0", "{}", w.idp_authorize);
    assert!(
        w.login_form,
        "prompt=login reaches the IdP: it asked for the password again"
    );
    let t = exchange(&app, &id, &secret, &w.back).await;
    assert_eq!(t.status, 200, "{}", t.text);
    let c = claims(t.body["id_token"].as_str().unwrap());
    let auth_time = c["auth_time"].as_i64().unwrap();
    assert!(
        auth_time >= chrono::Utc::now().timestamp() - 60,
        "a fresh auth_time: {c}"
    );

    // max_age shorter than the live session's age: not answered locally, the IdP re-authenticates.
    sqlx::query("UPDATE sessions SET created_at = created_at - interval '10 minutes'")
        .execute(&app.db)
        .await
        .unwrap();
    let w = walk(&app, &b, &authorize_url(&app, &id, "&max_age=300"), "alice", false).await;
    assert_eq!(query(&w.idp_authorize)["prompt"], "login", "{}", w.idp_authorize);
    assert!(w.login_form);
    let t = exchange(&app, &id, &secret, &w.back).await;
    assert_eq!(t.status, 200, "{}", t.text);

    // A malformed max_age is the client's error, on its redirect_uri.
    let r = get(&b, &authorize_url(&app, &id, "&max_age=soon")).await;
    assert_eq!(query(&location(&r, &app.base))["error"], "invalid_request");
}

#[tokio::test]
async fn the_organization_policy_applies_to_provider_logins() {
    let app = TestApp::start().await;
    let o = app.owner("acme").await;
    configure(&app, &o).await;
    let r = app
        .call(
            Method::PUT,
            &format!("/api/user/organizations/{}/settings/security", o.org_id),
            Some(&o.key),
            Some(json!({"authRequired": "any", "requireMfa": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (id, secret) = client(&app, false, "ES256").await;
    let secret = secret.unwrap();
    let org_route = format!("{}/api/user/organizations/{}", app.base, o.org_id);
    // alice's IdP asserts one factor: her token is refused where the policy wants MFA, exactly as
    // her SSO session would be; carol's IdP asserts MFA: her token passes and says so.
    for (user, mfa) in [("alice", false), ("carol", true)] {
        let b = oidc::browser();
        let w = walk(&app, &b, &authorize_url(&app, &id, ""), user, false).await;
        let t = exchange(&app, &id, &secret, &w.back).await;
        assert_eq!(t.status, 200, "{}", t.text);
        let c = claims(t.body["id_token"].as_str().unwrap());
        let amr: Vec<&str> = c["amr"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(amr.contains(&"mfa"), mfa, "{user}: {c}");
        let at = t.body["access_token"].as_str().unwrap();
        let r = TestApp::read(app.http.get(&org_route).bearer_auth(at).send().await.unwrap()).await;
        if mfa {
            assert_eq!(r.status, 200, "{user}: {}", r.text);
        } else {
            crate::support::assert_envelope_error(&r, 403, "MFA_REQUIRED");
        }
        // The same answer for the person's own Portico session (the cookie the login set).
        let cookie = b.get(format!("{}/api/user/me", app.base)).send().await.unwrap();
        assert_eq!(cookie.status(), 200, "{user}: the SSO session is live");
    }
    // A password session never stands in for the organization's IdP: prompt=none with it is
    // login_required, and a plain request goes to the IdP rather than minting a code.
    let r = app
        .call(
            Method::POST,
            "/api/auth/sign-in/password",
            None,
            Some(json!({"email": o.email, "password": "owner-password-1"})),
        )
        .await;
    let cookie = crate::support::session_cookie(&r).expect("password session");
    for (extra, want) in [("&prompt=none", "login_required"), ("", "")] {
        let r = TestApp::read(
            app.http
                .get(authorize_url(&app, &id, extra))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 302, "{}", r.text);
        let to = location(&r, &app.base);
        if want.is_empty() {
            assert!(to.starts_with(&oidc::provider().await.issuer), "to the IdP: {to}");
        } else {
            assert_eq!(query(&to)["error"], want, "{to}");
        }
    }
}
