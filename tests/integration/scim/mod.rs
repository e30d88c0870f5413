//! Directory sync (SCIM 2.0): the Organization API for directories, the SCIM service driven by
//! the third-party conformance suites and by Entra's and Okta's documented requests, and the
//! effects on memberships and sessions.
//!
//! - `directories`: the Organization API, tokens (shown once, hashed, rotated), isolation;
//! - `protocol`: filters, paging, projection, ETags, uniqueness, caps, errors, concurrency;
//! - `vendors`: Entra ID and Okta requests as their documentation shows them (fixtures);
//! - `effects`: linking, roles from groups, suspension of a live OIDC session, reactivation;
//! - `required_group`: `requireMappedGroup` (removal from every mapped group suspends);
//! - `conformance`: `scim2-tester` and `scim-sanity`, unmodified.

mod conformance;
mod directories;
mod effects;
mod protocol;
mod required_group;
mod vendors;

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::dns::DnsServer;
use crate::support::{Owner, Resp, TestApp};

/// A directory created through the Organization API.
pub struct Dir {
    pub id: String,
    pub base: String,
    /// The SCIM path prefix (`/scim/v2/dir_…`).
    pub path: String,
    pub token: String,
}

/// Creates a directory of `o` named `name`.
pub async fn directory(app: &TestApp, o: &Owner, provider: &str) -> Dir {
    let r = app
        .call(
            Method::POST,
            &format!("/api/user/organizations/{}/directories", o.org_id),
            Some(&o.key),
            Some(json!({ "name": format!("{provider} directory"), "provider": provider })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let d = &r.body["data"];
    let id = d["id"].as_str().unwrap().to_owned();
    Dir {
        base: d["scimBaseUrl"].as_str().unwrap().to_owned(),
        path: format!("/scim/v2/{id}"),
        token: d["token"].as_str().unwrap().to_owned(),
        id,
    }
}

/// A SCIM request with the directory's bearer token.
pub async fn scim(app: &TestApp, d: &Dir, method: Method, rest: &str, body: Option<Value>) -> Resp {
    scim_with(app, &d.path, Some(&d.token), method, rest, body, &[]).await
}

/// A SCIM request with any token and extra headers.
pub async fn scim_with(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    method: Method,
    rest: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Resp {
    let mut rb = app.http.request(method, format!("{}{path}{rest}", app.base));
    if let Some(t) = token {
        rb = rb.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        rb = rb
            .header("content-type", "application/scim+json")
            .body(serde_json::to_vec(&b).unwrap());
    }
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    TestApp::read(rb.send().await.expect("send")).await
}

/// Asserts a SCIM error body.
pub fn assert_scim_error(r: &Resp, status: u16, scim_type: Option<&str>) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    assert_eq!(
        r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{}",
        r.text
    );
    assert_eq!(r.body["status"], status.to_string(), "{}", r.text);
    assert_eq!(r.body["scimType"].as_str(), scim_type, "{}", r.text);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/scim+json"));
}

/// A user body.
pub fn user(user_name: &str, email: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "externalId": format!("ext-{user_name}"),
        "name": { "givenName": "Given", "familyName": "Family" },
        "emails": [{ "value": email, "type": "work", "primary": true }],
        "active": true
    })
}

/// Creates a user; its id.
pub async fn create_user(app: &TestApp, d: &Dir, user_name: &str, email: &str) -> String {
    let r = scim(app, d, Method::POST, "/Users", Some(user(user_name, email))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_owned()
}

/// Creates a group with members; its id.
pub async fn create_group(app: &TestApp, d: &Dir, name: &str, members: &[&str]) -> String {
    let members: Vec<Value> = members.iter().map(|m| json!({ "value": m })).collect();
    let r = scim(
        app,
        d,
        Method::POST,
        "/Groups",
        Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_owned()
}

/// An app whose DNS is `dns`, with `domain` verified by `o` through it.
pub async fn verify(app: &TestApp, dns: &DnsServer, o: &Owner, domain: &str) {
    let r = app
        .call(
            Method::POST,
            &format!("/api/user/organizations/{}/domains", o.org_id),
            Some(&o.key),
            Some(json!({ "domain": domain })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v = &r.body["data"]["verification"];
    dns.set_txt(v["name"].as_str().unwrap(), &[v["value"].as_str().unwrap()])
        .await;
    let id = r.body["data"]["id"].as_str().unwrap();
    let r = app
        .call(
            Method::POST,
            &format!("/api/user/organizations/{}/domains/{id}/verify", o.org_id),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.body["data"]["result"], "verified", "{}", r.text);
}

/// The app started with `dns` as its nameserver.
pub async fn app_with_dns(dns: &DnsServer) -> TestApp {
    let ns = dns.nameserver();
    TestApp::start_with(move |s| s.dns.nameservers = vec![ns]).await
}

/// The membership `(role, status)` of `user_id` in `org_id`.
pub async fn membership(app: &TestApp, org_id: &str, user_id: &str) -> Option<(String, String)> {
    sqlx::query_as("SELECT role, status FROM memberships WHERE organization_id = $1 AND user_id = $2")
        .bind(org_id)
        .bind(user_id)
        .fetch_optional(&app.db)
        .await
        .unwrap()
}

/// The Portico user a SCIM user is linked to.
pub async fn linked(app: &TestApp, scim_id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT user_id FROM scim_users WHERE id = $1")
        .bind(scim_id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}
