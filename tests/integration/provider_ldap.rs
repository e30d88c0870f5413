//! The provider's directory-password step against the real OpenLDAP `slapd`: an authorization
//! routed to an LDAP connection shows Portico's form, the POST signs in through the one LDAP path
//! (throttle, generic refusal, admission), then the code redirect with `iss`. The attacks on the
//! step (no handle, another request's handle, another browser, a taken request, a request of
//! another protocol, a throttled username) are refused with no session.

use reqwest::Method;
use serde_json::json;

use crate::provider::{authorize_url, client, configure, query, REDIRECT};
use crate::support::ldap::{self, browser_sign_in, connection_body, create_connection};
use crate::support::oidc::browser;
use crate::support::{Owner, Resp, TestApp};

pub(crate) const STEP: &str = "/oauth2/authorize/credentials";
const WRONG: &str = "The username or password is incorrect.";

/// An app whose organization `acme` signs in through the shared directory (`extra` overrides
/// connection fields).
pub(crate) async fn setup(extra: serde_json::Value) -> (TestApp, Owner, String) {
    let dir = ldap::shared().await;
    let app = TestApp::start().await;
    let o = app.owner("acme").await;
    let id = create_connection(&app, &o, connection_body(dir, extra)).await;
    (app, o, id)
}

/// The hidden handle of a credential form.
pub(crate) fn handle_of(html: &str) -> String {
    let at = html.find("name=\"h\" value=\"").expect("the form's handle") + 16;
    html[at..].split('"').next().unwrap().to_owned()
}

/// Opens the authorization `url` in `b`: the credential form (200) and its handle.
pub(crate) async fn open_form(b: &reqwest::Client, url: &str) -> (Resp, String) {
    let r = TestApp::read(b.get(url).send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains(&format!("action=\"{STEP}\"")), "{}", r.text);
    let h = handle_of(&r.text);
    (r, h)
}

/// Posts the credential form from `b`.
pub(crate) async fn post(app: &TestApp, b: &reqwest::Client, form: &[(&str, &str)]) -> Resp {
    TestApp::read(b.post(format!("{}{STEP}", app.base)).form(form).send().await.unwrap()).await
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

fn form<'a>(f: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    f.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn assert_page(r: &Resp, status: u16, text: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(
        r.headers["content-type"].to_str().unwrap().starts_with("text/html"),
        "{:?}",
        r.headers
    );
    assert!(r.text.contains(text), "{text:?} in {}", r.text);
    assert_eq!(r.body, serde_json::Value::Null, "never raw JSON");
}

/// The plain refusal note of a page.
fn note(html: &str) -> &str {
    let at = html.find("role=\"alert\"").expect("a note");
    let rest = &html[at..];
    &rest[rest.find('>').unwrap() + 1..rest.find("</p>").unwrap()]
}

#[tokio::test]
async fn the_form_signs_in_through_the_directory_and_redirects_with_a_code() {
    let (app, o, conn_id) = setup(json!({})).await;
    let (id, secret) = client(&app, false, "ES256").await;
    let b = browser();
    let (r, h) = open_form(&b, &authorize_url(&app, &id, "")).await;
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(!r.text.contains("<script"), "no JavaScript needed");
    assert!(r.text.contains("type=\"password\""), "{}", r.text);
    let set: Vec<&str> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        set.iter().any(|c| c.starts_with("portico_authz_")
            && c.contains("HttpOnly")
            && c.contains("SameSite=Lax")
            && c.contains("Path=/oauth2/authorize;")),
        "{set:?}"
    );

    // A wrong password and an unknown user: the form again, the same plain message.
    let wrong_pw = "Wr0ng-ldapstep-secret-8841";
    let r1 = post(&app, &b, &[("h", &h), ("username", "alice"), ("password", wrong_pw)]).await;
    assert_page(&r1, 401, WRONG);
    assert_eq!(handle_of(&r1.text), h, "the same pending request");
    assert!(r1.text.contains("value=\"alice\""), "the username is kept");
    let r2 = post(&app, &b, &[("h", &h), ("username", "nobody"), ("password", wrong_pw)]).await;
    assert_page(&r2, 401, WRONG);
    assert_eq!(note(&r1.text), note(&r2.text), "no user enumeration");
    assert!(!r1.text.contains(wrong_pw) && !r2.text.contains(wrong_pw));
    // An empty password is refused like a wrong one (before any bind).
    let r3 = post(&app, &b, &[("h", &h), ("username", "alice"), ("password", "")]).await;
    assert_page(&r3, 401, WRONG);
    assert_eq!(count(&app, "SELECT count(*) FROM sessions").await, 0);

    // The right password: the code redirect with state and iss, and the Portico session cookie.
    let r = post(
        &app,
        &b,
        &[("h", &h), ("username", "alice"), ("password", "alice-password")],
    )
    .await;
    assert_eq!(r.status, 302, "{}", r.text);
    let back = r.headers["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with(REDIRECT), "{back}");
    let q = query(&back);
    assert_eq!(q["iss"], app.base);
    assert_eq!(q["state"], "st");
    let t = TestApp::read(
        app.http
            .post(format!("{}/oauth2/token", app.base))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("redirect_uri", REDIRECT),
                ("client_id", &id),
                ("client_secret", secret.as_deref().unwrap()),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(t.status, 200, "{}", t.text);
    let ui = TestApp::read(
        app.http
            .get(format!("{}/oauth2/userinfo", app.base))
            .bearer_auth(t.body["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ui.status, 200, "{}", ui.text);
    assert_eq!(ui.body["email"], "alice@example.com");
    assert_eq!(ui.body["idp_protocol"], "ldap");
    assert_eq!(ui.body["connection_id"], conn_id.as_str());
    let (method, org): (String, String) =
        sqlx::query_as("SELECT method, organization_id FROM sessions WHERE revoked_at IS NULL")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((method.as_str(), org.as_str()), ("ldap", o.org_id.as_str()));
    assert_eq!(
        count(&app, "SELECT count(*) FROM oauth_pending").await,
        0,
        "the request is taken"
    );

    // The taken request cannot be posted again (a replayed form), even with the right password.
    let sessions_before = count(&app, "SELECT count(*) FROM sessions").await;
    let again = post(
        &app,
        &b,
        &[("h", &h), ("username", "alice"), ("password", "alice-password")],
    )
    .await;
    assert_page(&again, 400, "already completed or has expired");
    assert_eq!(count(&app, "SELECT count(*) FROM sessions").await, sessions_before);

    // The live LDAP session answers the next authorization of the same organization.
    let r = TestApp::read(b.get(authorize_url(&app, &id, "")).send().await.unwrap()).await;
    assert_eq!(r.status, 302, "{}", r.text);
    assert!(r.headers["location"].to_str().unwrap().starts_with(REDIRECT));

    // The password is in no log line and no audit event.
    let logs = crate::support::logs::captured();
    assert!(!logs.contains(wrong_pw) && !logs.contains("alice-password"));
    let audit: String =
        sqlx::query_scalar("SELECT coalesce(string_agg(to_jsonb(a)::text, ' '), '') FROM audit_events a")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!audit.contains(wrong_pw) && !audit.contains("alice-password"));
    assert!(audit.contains("SSO_AUTH_FAILED"), "the failures are audited");
}

#[tokio::test]
async fn the_step_refuses_posts_not_bound_to_its_pending_request() {
    let (app, _o, _conn) = setup(json!({})).await;
    let (id, _) = client(&app, false, "ES256").await;
    let victim = browser();
    let (_, h) = open_form(&victim, &authorize_url(&app, &id, "")).await;
    let attacker = browser();
    let (_, attackers_h) = open_form(&attacker, &authorize_url(&app, &id, "")).await;
    let right = [("username", "alice"), ("password", "alice-password")];
    let with = |h: &str| {
        let mut f = vec![("h", h.to_owned())];
        f.extend(right.iter().map(|(k, v)| (*k, (*v).to_owned())));
        f
    };

    // No handle, an unknown one, an oversized one.
    let r = post(&app, &victim, &form(&with(""))[1..]).await;
    assert_page(&r, 400, "already completed or has expired");
    for h in ["", "not-a-handle", &"x".repeat(65)] {
        let r = post(&app, &victim, &form(&with(h))).await;
        assert_page(&r, 400, "already completed or has expired");
    }
    // The attacker's own request posted from the victim's browser (login CSRF): no binding cookie.
    let r = post(&app, &victim, &form(&with(&attackers_h))).await;
    assert_page(&r, 400, "started in another browser");
    // The victim's request from another browser.
    let r = post(&app, &attacker, &form(&with(&h))).await;
    assert_page(&r, 400, "started in another browser");
    // Not a form at all.
    let r = TestApp::read(
        victim
            .post(format!("{}{STEP}", app.base))
            .json(&json!({"h": h, "username": "alice", "password": "alice-password"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_page(&r, 400, "could not be read");
    assert_eq!(count(&app, "SELECT count(*) FROM sessions").await, 0);
    let audited = count(&app, "SELECT count(*) FROM audit_events WHERE action = 'sign_in.sso'").await;
    assert_eq!(audited, 0, "refused before any directory traffic");
    assert_eq!(
        count(&app, "SELECT count(*) FROM oauth_pending").await,
        2,
        "nothing taken"
    );

    // The bound POST still works afterwards.
    let r = post(&app, &victim, &form(&with(&h))).await;
    assert_eq!(r.status, 302, "{}", r.text);
}

#[tokio::test]
async fn the_step_is_not_for_a_request_routed_to_another_protocol() {
    let app = TestApp::start().await;
    let o = app.owner("acme").await;
    configure(&app, &o).await;
    let (id, _) = client(&app, false, "ES256").await;
    let b = browser();
    let r = TestApp::read(b.get(authorize_url(&app, &id, "")).send().await.unwrap()).await;
    assert_eq!(r.status, 302, "to the OIDC IdP: {}", r.text);
    // The attacker holds the handle and the binding cookie of their own OIDC request (the handle
    // is read from the stored return target: a fixture).
    let set = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("portico_authz_"))
        .expect("the request's binding cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let return_to: String = sqlx::query_scalar("SELECT return_to FROM login_transactions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let h = query(&return_to)["h"].clone();
    let r = TestApp::read(
        app.http
            .post(format!("{}{STEP}", app.base))
            .header("cookie", set)
            .form(&[("h", h.as_str()), ("username", "alice"), ("password", "alice-password")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_page(&r, 400, "does not take a directory password");
    assert_eq!(count(&app, "SELECT count(*) FROM oauth_pending").await, 1, "not taken");
    assert_eq!(count(&app, "SELECT count(*) FROM sessions").await, 0);
}

#[tokio::test]
async fn a_throttled_username_stays_throttled_through_the_step() {
    let (app, _o, _conn) = setup(json!({})).await;
    let (id, _) = client(&app, false, "ES256").await;
    let b = browser();
    let (_, h) = open_form(&b, &authorize_url(&app, &id, "")).await;
    // Four failures through the JSON route, the fifth through the form: the username is locked.
    for _ in 0..4 {
        let r = browser_sign_in(&app, "acme", "alice", "not-her-password").await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = post(
        &app,
        &b,
        &[("h", &h), ("username", "alice"), ("password", "not-her-password")],
    )
    .await;
    assert_page(&r, 401, WRONG);
    // The right password now: refused without a bind, on a page with Retry-After.
    let r = post(
        &app,
        &b,
        &[("h", &h), ("username", "ALICE"), ("password", "alice-password")],
    )
    .await;
    assert_page(&r, 429, "Too many failed sign-ins");
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=5).contains(&wait), "{wait}");
    // ... and through the JSON route too: one throttle.
    let r = browser_sign_in(&app, "acme", "alice", "alice-password").await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(count(&app, "SELECT count(*) FROM sessions").await, 0);
    assert_eq!(
        count(&app, "SELECT count(*) FROM oauth_pending").await,
        1,
        "the request waits"
    );
    // Another user of the same directory is not locked out.
    let r = post(
        &app,
        &b,
        &[("h", &h), ("username", "bob"), ("password", "bob-password")],
    )
    .await;
    assert_eq!(r.status, 302, "{}", r.text);
}

#[tokio::test]
async fn admission_and_policy_apply_to_the_step() {
    // alice's email is outside the connection's domains: after a good bind, she is answered
    // exactly like a wrong password (no oracle), and no session exists.
    let (app, o, _conn) = setup(json!({"domains": ["elsewhere.test"]})).await;
    let (id, _) = client(&app, false, "ES256").await;
    let b = browser();
    let (_, h) = open_form(&b, &authorize_url(&app, &id, "")).await;
    let r = post(
        &app,
        &b,
        &[("h", &h), ("username", "alice"), ("password", "alice-password")],
    )
    .await;
    assert_page(&r, 401, WRONG);
    assert_eq!(count(&app, "SELECT count(*) FROM sessions").await, 0);
    drop(o);

    // The organization wants MFA: an LDAP login asserts one factor, so its token is refused on the
    // Organization API exactly as its session is.
    let (app, o, _conn) = setup(json!({})).await;
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
    let b = browser();
    let (_, h) = open_form(&b, &authorize_url(&app, &id, "")).await;
    let r = post(
        &app,
        &b,
        &[("h", &h), ("username", "alice"), ("password", "alice-password")],
    )
    .await;
    assert_eq!(r.status, 302, "{}", r.text);
    let code = query(r.headers["location"].to_str().unwrap())["code"].clone();
    let t = TestApp::read(
        app.http
            .post(format!("{}/oauth2/token", app.base))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", &id),
                ("client_secret", secret.as_deref().unwrap()),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(t.status, 200, "{}", t.text);
    let route = format!("{}/api/user/organizations/{}", app.base, o.org_id);
    let at = t.body["access_token"].as_str().unwrap();
    let r = TestApp::read(app.http.get(&route).bearer_auth(at).send().await.unwrap()).await;
    crate::support::assert_envelope_error(&r, 403, "MFA_REQUIRED");
}
