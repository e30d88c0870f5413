//! Verified domains over a real DNS server (hickory-server on loopback, queried over the wire by
//! the production resolver code), sign-in discovery, auto-join with and without approval, the
//! organization security policy cell by cell (against the real OIDC provider for SSO sessions),
//! and TOTP: enrolment, wrong and replayed codes, single-use recovery codes.
//!
//! This file holds the helpers the topics share; the tests are in:
//! - `domains`: adding, verifying (live TXT lookups), claiming once, DNS errors;
//! - `discovery`: sign-in discovery and login routing by verified domain;
//! - `autojoin`: auto-join, join requests, and another organization's IdP;
//! - `policy_grid`: the security policy, every cell;
//! - `totp`: enrolment, codes, recovery codes, throttling.

mod autojoin;
mod discovery;
mod domains;
mod policy_grid;
mod totp;

use portico_core::ids;
use portico_core::totp::{code_at, current_step, decode_secret};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::dns::DnsServer;
use crate::support::oidc::{self, browser};
use crate::support::{session_cookie, Owner, Resp, TestApp};

const PASSWORD: &str = "user-password-1";

fn org_path(o: &Owner, rest: &str) -> String {
    format!("/api/user/organizations/{}{rest}", o.org_id)
}

/// Calls the organization route `rest` of `o` with the owner's API key.
async fn org_call(app: &TestApp, o: &Owner, method: Method, rest: &str, body: Option<Value>) -> Resp {
    app.call(method, &org_path(o, rest), Some(&o.key), body).await
}

async fn app_with_dns(dns: &DnsServer) -> TestApp {
    let ns = dns.nameserver();
    TestApp::start_with(move |s| s.dns.nameservers = vec![ns]).await
}

/// `POST …/domains` with `{"domain": domain}`.
async fn add_domain(app: &TestApp, o: &Owner, domain: &str) -> Resp {
    org_call(app, o, Method::POST, "/domains", Some(json!({ "domain": domain }))).await
}

/// `POST …/domains/{id}/verify`.
async fn verify_domain(app: &TestApp, o: &Owner, id: &str) -> Resp {
    org_call(app, o, Method::POST, &format!("/domains/{id}/verify"), None).await
}

/// `PATCH …/domains/{id}` with `body`.
async fn patch_domain(app: &TestApp, o: &Owner, id: &str, body: Value) -> Resp {
    org_call(app, o, Method::PATCH, &format!("/domains/{id}"), Some(body)).await
}

/// Adds `domain`, publishes its record and verifies it; returns the domain's id.
async fn verified_domain(app: &TestApp, dns: &DnsServer, o: &Owner, domain: &str) -> String {
    let r = add_domain(app, o, domain).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v = &r.body["data"]["verification"];
    dns.set_txt(v["name"].as_str().unwrap(), &[v["value"].as_str().unwrap()])
        .await;
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = verify_domain(app, o, &id).await;
    assert_eq!(r.body["data"]["result"], "verified", "{}", r.text);
    id
}

/// A password user, optionally a member of `org` with `role`.
async fn password_user(app: &TestApp, email: &str, org: Option<(&str, &str)>) -> String {
    let id = ids::prefixed(ids::USER);
    let hash = portico_core::password::hash(PASSWORD).unwrap();
    portico_store::users::insert(&app.db, &id, email, None, Some(&hash))
        .await
        .unwrap();
    if let Some((org_id, role)) = org {
        portico_store::orgs::add_member(&app.db, org_id, &id, role)
            .await
            .unwrap();
    }
    id
}

async fn password_sign_in(app: &TestApp, email: &str, totp_code: Option<&str>) -> Resp {
    // Owners come from `TestApp::owner` (bootstrap) with their own password.
    let password = if email.starts_with("owner@") {
        "owner-password-1"
    } else {
        PASSWORD
    };
    let mut body = json!({ "email": email, "password": password });
    if let Some(c) = totp_code {
        body["totpCode"] = json!(c);
    }
    app.call(Method::POST, "/api/auth/sign-in/password", None, Some(body))
        .await
}

async fn session_token(app: &TestApp, email: &str, totp_code: Option<&str>) -> String {
    let r = password_sign_in(app, email, totp_code).await;
    assert_eq!(r.status, 200, "{email}: {}", r.text);
    r.body["data"]["token"].as_str().unwrap().to_owned()
}

async fn with_bearer(app: &TestApp, m: Method, path: &str, token: &str, body: Option<Value>) -> Resp {
    let mut rb = app.http.request(m, format!("{}{path}", app.base)).bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    TestApp::read(rb.send().await.unwrap()).await
}

async fn with_cookie(app: &TestApp, path: &str, cookie: &str) -> Resp {
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

/// Signs `user` in through the organization's OIDC connection in a fresh browser; the session cookie.
async fn sso_cookie(app: &TestApp, slug: &str, user: &str) -> String {
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

async fn configure_oidc(app: &TestApp, o: &Owner, issuer: &str) {
    let body =
        json!({"provider": "oidc", "issuerUrl": issuer, "clientId": "test-client", "clientSecret": "test-secret"});
    let r = org_call(app, o, Method::PUT, "/settings/sso", Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn role_in(app: &TestApp, org_id: &str, user_id: &str) -> Option<String> {
    portico_store::orgs::role_of(&app.db, org_id, user_id).await.unwrap()
}

/// The TOTP code of a base32 secret at time step `step`.
fn code_at_step(secret_b32: &str, step: i64) -> String {
    let secret = decode_secret(secret_b32).unwrap();
    code_at(&secret, step)
}

/// The current TOTP code of a base32 secret, `offset` steps from now.
fn code(secret_b32: &str, offset: i64) -> String {
    code_at_step(secret_b32, current_step() + offset)
}

/// `POST /api/user/mfa/totp/confirm` with `code`, as the user of `session`.
async fn confirm_totp(app: &TestApp, session: &str, code: &str) -> Resp {
    with_bearer(
        app,
        Method::POST,
        "/api/user/mfa/totp/confirm",
        session,
        Some(json!({ "code": code })),
    )
    .await
}

/// The `recoveryCodes` of a confirmation's response.
fn recovery_codes(r: &Resp) -> Vec<String> {
    r.body["data"]["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// Enrols and confirms TOTP for the user of `session`, with the code of the current step;
/// returns the base32 secret and the recovery codes.
async fn enable_totp(app: &TestApp, session: &str) -> (String, Vec<String>) {
    let r = with_bearer(app, Method::POST, "/api/user/mfa/totp", session, None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.body["data"]["secret"].as_str().unwrap().to_owned();
    let r = confirm_totp(app, session, &code(&secret, 0)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let codes = recovery_codes(&r);
    (secret, codes)
}
