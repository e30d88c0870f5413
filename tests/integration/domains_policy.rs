//! Verified domains over a real DNS server (hickory-server on loopback, queried over the wire by
//! the production resolver code), sign-in discovery, auto-join with and without approval, the
//! organization security policy cell by cell (against the real OIDC provider for SSO sessions),
//! and TOTP: enrolment, wrong and replayed codes, single-use recovery codes.

use portico_core::ids;
use portico_server::services::totp;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::dns::{dead_nameserver, DnsServer};
use crate::support::oidc::{self, browser};
use crate::support::{assert_envelope_error, Owner, Resp, TestApp};

const PASSWORD: &str = "user-password-1";

fn org_path(o: &Owner, rest: &str) -> String {
    format!("/api/user/organizations/{}{rest}", o.org_id)
}

async fn app_with_dns(dns: &DnsServer) -> TestApp {
    let ns = dns.nameserver();
    TestApp::start_with(move |s| s.dns.nameservers = vec![ns]).await
}

/// Adds `domain`, publishes its record and verifies it; returns the domain's id.
async fn verified_domain(app: &TestApp, dns: &DnsServer, o: &Owner, domain: &str) -> String {
    let r = app
        .call(
            Method::POST,
            &org_path(o, "/domains"),
            Some(&o.key),
            Some(json!({ "domain": domain })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v = &r.body["data"]["verification"];
    dns.set_txt(v["name"].as_str().unwrap(), &[v["value"].as_str().unwrap()])
        .await;
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            Method::POST,
            &org_path(o, &format!("/domains/{id}/verify")),
            Some(&o.key),
            None,
        )
        .await;
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
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("portico_session=pss_"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("{user}: no session: {:?}", r.headers.get("location")))
}

async fn configure_oidc(app: &TestApp, o: &Owner, issuer: &str) {
    let body =
        json!({"provider": "oidc", "issuerUrl": issuer, "clientId": "test-client", "clientSecret": "test-secret"});
    let r = app
        .call(Method::PUT, &org_path(o, "/settings/sso"), Some(&o.key), Some(body))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn domain_rows(app: &TestApp) -> Value {
    sqlx::query_scalar("SELECT coalesce(jsonb_agg(to_jsonb(d) ORDER BY id), '[]') FROM organization_domains d")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn domains_are_verified_by_a_live_txt_lookup_and_claimed_once() {
    let dns = DnsServer::start().await;
    let app = app_with_dns(&dns).await;
    let a = app.owner("dom-a").await;
    let b = app.owner("dom-b").await;

    for bad in [
        "gmail.com",
        "co.uk",
        "com",
        "github.io",
        "127.0.0.1",
        "localhost",
        "exa mple.com",
        "Mail.Proton.me",
    ] {
        let r = app
            .call(
                Method::POST,
                &org_path(&a, "/domains"),
                Some(&a.key),
                Some(json!({ "domain": bad })),
            )
            .await;
        assert_envelope_error(&r, 400, "VALIDATION_ERROR");
        assert_eq!(r.body["details"][0]["field"], "domain", "{bad}: {}", r.text);
    }
    let r = app
        .call(
            Method::POST,
            &org_path(&a, "/domains"),
            Some(&a.key),
            Some(json!({ "domain": "x.example", "autoJoin": true })),
        )
        .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    assert_eq!(app.count("organization_domains").await, 0);

    // Added in any spelling: one normalised domain, pending, with the exact record to publish.
    let r = app
        .call(
            Method::POST,
            &org_path(&a, "/domains"),
            Some(&a.key),
            Some(json!({ "domain": " ExAmple.COM. " })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let d = r.body["data"].clone();
    let id = d["id"].as_str().unwrap().to_owned();
    assert!(ids::is_ulid(&id));
    assert_eq!(d["domain"], "example.com");
    assert_eq!(d["status"], "pending");
    assert_eq!(d["verification"]["type"], "TXT");
    assert_eq!(d["verification"]["name"], "_portico-verification.example.com");
    let value = d["verification"]["value"].as_str().unwrap().to_owned();
    let token: String = sqlx::query_scalar("SELECT verification_token FROM organization_domains WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(value, format!("portico-verification={token}"));
    assert!(token.len() >= 40);
    assert_eq!(
        d["autoJoin"],
        json!({"enabled": false, "requireApproval": false, "role": "member"})
    );
    let r = app
        .call(
            Method::POST,
            &org_path(&a, "/domains"),
            Some(&a.key),
            Some(json!({ "domain": "example.COM" })),
        )
        .await;
    assert_envelope_error(&r, 409, "CONFLICT");
    assert_eq!(app.count("organization_domains").await, 1);

    let verify = |o: &Owner, id: &str| {
        let (path, key) = (org_path(o, &format!("/domains/{id}/verify")), o.key.clone());
        let app = &app;
        async move { app.call(Method::POST, &path, Some(&key), None).await }
    };
    // No record yet.
    let r = verify(&a, &id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["result"], "record_not_found");
    assert_eq!(r.body["data"]["status"], "pending");
    let (status, err): (String, Option<String>) =
        sqlx::query_as("SELECT status, last_error FROM organization_domains WHERE id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), err.as_deref()), ("pending", Some("record_not_found")));
    // Wrong values at the name (another token, an unrelated record).
    dns.set_txt(
        "_portico-verification.example.com",
        &["portico-verification=not-the-token", "v=spf1 -all"],
    )
    .await;
    let r = verify(&a, &id).await;
    assert_eq!(r.body["data"]["result"], "record_mismatch", "{}", r.text);
    assert_eq!(r.body["data"]["status"], "pending");
    // The right value next to others: verified.
    dns.set_txt("_portico-verification.example.com", &["v=spf1 -all", &value])
        .await;
    let r = verify(&a, &id).await;
    assert_eq!(r.body["data"]["result"], "verified", "{}", r.text);
    assert_eq!(r.body["data"]["status"], "verified");
    assert!(r.body["data"]["verifiedAt"].is_string());
    let verified_at: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT verified_at FROM organization_domains WHERE id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(verified_at.is_some());
    // Verified stays verified, even once the record is gone.
    dns.remove_txt("_portico-verification.example.com").await;
    let r = verify(&a, &id).await;
    assert_eq!(r.body["data"]["result"], "verified");

    // A second organization may claim it, but never verify it: 409, nothing changes, even with
    // its own record published; the database refuses a direct write too.
    let r = app
        .call(
            Method::POST,
            &org_path(&b, "/domains"),
            Some(&b.key),
            Some(json!({ "domain": "EXAMPLE.com" })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let b_id = r.body["data"]["id"].as_str().unwrap().to_owned();
    let b_value = r.body["data"]["verification"]["value"].as_str().unwrap().to_owned();
    dns.set_txt("_portico-verification.example.com", &[&b_value]).await;
    let before = domain_rows(&app).await;
    let r = verify(&b, &b_id).await;
    assert_envelope_error(&r, 409, "CONFLICT");
    assert!(
        r.body["message"].as_str().unwrap().contains("another organization"),
        "{}",
        r.text
    );
    assert_eq!(domain_rows(&app).await, before);
    let direct = sqlx::query("UPDATE organization_domains SET status = 'verified', verified_at = now() WHERE id = $1")
        .bind(&b_id)
        .execute(&app.db)
        .await;
    assert!(direct
        .unwrap_err()
        .to_string()
        .contains("organization_domains_verified_once"));
    // Tenancy: B cannot see or touch A's domain.
    for (m, path) in [
        (Method::GET, org_path(&b, &format!("/domains/{id}"))),
        (Method::POST, org_path(&b, &format!("/domains/{id}/verify"))),
        (Method::DELETE, org_path(&b, &format!("/domains/{id}"))),
    ] {
        assert_envelope_error(&app.call(m, &path, Some(&b.key), None).await, 404, "NOT_FOUND");
    }
    assert_envelope_error(
        &app.call(Method::GET, &org_path(&a, "/domains/not-an-id"), Some(&a.key), None)
            .await,
        404,
        "NOT_FOUND",
    );

    // List (paginated) and read.
    app.call(
        Method::POST,
        &org_path(&a, "/domains"),
        Some(&a.key),
        Some(json!({ "domain": "second.example" })),
    )
    .await;
    let r = app
        .call(Method::GET, &org_path(&a, "/domains?limit=1"), Some(&a.key), None)
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1, "{}", r.text);
    let cursor = r.body["pagination"]["nextCursor"].as_str().unwrap().to_owned();
    let r = app
        .call(
            Method::GET,
            &org_path(&a, &format!("/domains?limit=1&cursor={cursor}")),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(r.body["data"][0]["domain"], "second.example");
    assert!(r.body["pagination"]["nextCursor"].is_null());
    let r = app
        .call(
            Method::GET,
            &org_path(&a, &format!("/domains/{id}")),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(r.body["data"]["status"], "verified");

    // Removing A's claim frees the domain: B verifies with its record.
    let r = app
        .call(
            Method::DELETE,
            &org_path(&a, &format!("/domains/{id}")),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = verify(&b, &b_id).await;
    assert_eq!(r.body["data"]["result"], "verified", "{}", r.text);

    let actions: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT action, outcome, reason FROM audit_events WHERE action LIKE 'domain.%' ORDER BY id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    for expected in [
        ("domain.create", "success", None),
        ("domain.verify", "failure", Some("record_not_found")),
        ("domain.verify", "failure", Some("record_mismatch")),
        ("domain.verify", "success", None),
        ("domain.verify", "failure", Some("claimed_by_another_organization")),
        ("domain.delete", "success", None),
    ] {
        let e = (
            expected.0.to_owned(),
            expected.1.to_owned(),
            expected.2.map(str::to_owned),
        );
        assert!(actions.contains(&e), "{e:?} not audited: {actions:?}");
    }
}

#[tokio::test]
async fn an_unreachable_nameserver_is_a_dns_error() {
    let dead = dead_nameserver();
    let app = TestApp::start_with(move |s| {
        s.dns.nameservers = vec![dead];
        s.outbound.timeout_secs = 1;
    })
    .await;
    let o = app.owner("dns-err").await;
    let r = app
        .call(
            Method::POST,
            &org_path(&o, "/domains"),
            Some(&o.key),
            Some(json!({ "domain": "unreachable.example" })),
        )
        .await;
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    let r = app
        .call(
            Method::POST,
            &org_path(&o, &format!("/domains/{id}/verify")),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["result"], "dns_error");
    assert_eq!(r.body["data"]["status"], "pending");
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}

#[tokio::test]
async fn discovery_and_login_routing_use_verified_domains_only() {
    let p = oidc::provider().await;
    let dns = DnsServer::start().await;
    let app = app_with_dns(&dns).await;
    let o = app.owner("disc").await;
    let plain = app.owner("disc-plain").await;
    let discover = |email: &str| {
        let body = json!({ "email": email });
        let app = &app;
        async move {
            app.call(Method::POST, "/api/auth/sign-in/discover", None, Some(body))
                .await
        }
    };
    assert_envelope_error(&discover("not-an-email").await, 400, "VALIDATION_ERROR");
    let r = discover("someone@unknown.example").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"], json!({"method": "password"}));

    configure_oidc(&app, &o, &p.issuer).await;
    // A connection's own `domains` list is not proof of ownership: no routing from it.
    let conn = json!({"name": "Listed", "protocol": "oidc", "issuerUrl": p.issuer, "clientId": "test-client", "clientSecret": "test-secret", "domains": ["listed.example"]});
    let r = app
        .http
        .post(format!("{}/v1/sso/connections", app.base))
        .bearer_auth(&o.key)
        .json(&conn)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        discover("x@listed.example").await.body["data"],
        json!({"method": "password"})
    );

    // Pending: still password. Verified by an SSO organization: SSO with its login URL.
    let r = app
        .call(
            Method::POST,
            &org_path(&o, "/domains"),
            Some(&o.key),
            Some(json!({ "domain": "corp-disc.example" })),
        )
        .await;
    let pending_id = r.body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        discover("jane@corp-disc.example").await.body["data"],
        json!({"method": "password"})
    );
    let sdk_login = format!("/sso/login?org={}&domain=corp-disc.example", o.org_id);
    let r = app
        .http
        .get(format!("{}{sdk_login}", app.base))
        .bearer_auth(&o.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "an unverified, unlisted domain is not routed");
    let value: String = sqlx::query_scalar(
        "SELECT 'portico-verification=' || verification_token FROM organization_domains WHERE id = $1",
    )
    .bind(&pending_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    dns.set_txt("_portico-verification.corp-disc.example", &[&value]).await;
    let r = app
        .call(
            Method::POST,
            &org_path(&o, &format!("/domains/{pending_id}/verify")),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.body["data"]["result"], "verified", "{}", r.text);
    let r = discover("Jane@Corp-Disc.Example").await;
    assert_eq!(r.body["data"]["method"], "sso", "{}", r.text);
    assert_eq!(r.body["data"]["protocol"], "oidc");
    let login_url = r.body["data"]["loginUrl"].as_str().unwrap().to_owned();
    assert_eq!(
        login_url,
        format!("{}/api/auth/sso/disc/login?email=Jane%40Corp-Disc.Example", app.base)
    );
    // The login URL picks the organization's connection for that domain and goes to the IdP.
    let b = browser();
    let r = b.get(&login_url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with(&p.issuer), "{to}");
    let q: std::collections::HashMap<String, String> =
        url::Url::parse(&to).unwrap().query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], "test-client");
    assert_eq!(q["login_hint"], "Jane@Corp-Disc.Example");
    let default_id: String = sqlx::query_scalar("SELECT id FROM sso_connections WHERE is_default")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let tx_conn: String = sqlx::query_scalar("SELECT connection_id FROM login_transactions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(tx_conn, default_id);
    // The SDK's domain routing now finds it too.
    let r = TestApp::read(
        app.http
            .get(format!("{}{sdk_login}", app.base))
            .bearer_auth(&o.key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["connectionId"], default_id.as_str());

    // A verified domain of an organization without SSO: password, like any unknown domain.
    verified_domain(&app, &dns, &plain, "nosso.example").await;
    assert_eq!(
        discover("bob@nosso.example").await.body["data"],
        json!({"method": "password"})
    );
    // Once the SSO connection is gone, so is the redirect.
    sqlx::query("DELETE FROM sso_connections")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(
        discover("jane@corp-disc.example").await.body["data"],
        json!({"method": "password"})
    );
}

async fn join_requests(app: &TestApp, o: &Owner, query: &str) -> Vec<Value> {
    let r = app
        .call(
            Method::GET,
            &org_path(o, &format!("/join-requests{query}")),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().clone()
}

async fn role_in(app: &TestApp, org_id: &str, user_id: &str) -> Option<String> {
    portico_store::orgs::role_of(&app.db, org_id, user_id).await.unwrap()
}

#[tokio::test]
async fn auto_join_directly_or_by_approved_request() {
    let dns = DnsServer::start().await;
    let app = app_with_dns(&dns).await;
    let o = app.owner("aj").await;
    let domain_id = verified_domain(&app, &dns, &o, "aj-corp.example").await;
    let patch = |body: Value| {
        let (path, key, app) = (org_path(&o, &format!("/domains/{domain_id}")), o.key.clone(), &app);
        async move { app.call(Method::PATCH, &path, Some(&key), Some(body)).await }
    };
    // Auto-join never grants owner; unknown fields are refused.
    assert_envelope_error(
        &patch(json!({"autoJoin": {"enabled": true, "role": "owner"}})).await,
        400,
        "VALIDATION_ERROR",
    );
    assert_envelope_error(
        &patch(json!({"autoJoin": {"enabled": true, "approve": true}})).await,
        400,
        "VALIDATION_ERROR",
    );

    // Off by default: signing in changes nothing.
    let u0 = password_user(&app, "u0@aj-corp.example", None).await;
    session_token(&app, "u0@aj-corp.example", None).await;
    assert_eq!(role_in(&app, &o.org_id, &u0).await, None);

    // On, without approval: a member at once, with the domain's role.
    let r = patch(json!({"autoJoin": {"enabled": true, "requireApproval": false, "role": "viewer"}})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["data"]["autoJoin"],
        json!({"enabled": true, "requireApproval": false, "role": "viewer"})
    );
    let u1 = password_user(&app, "U1@AJ-Corp.example", None).await;
    session_token(&app, "u1@aj-corp.example", None).await;
    assert_eq!(role_in(&app, &o.org_id, &u1).await.as_deref(), Some("viewer"));
    let joined: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'membership.auto_join' AND target_id = $1 AND organization_id = $2")
        .bind(&u1).bind(&o.org_id).fetch_one(&app.db).await.unwrap();
    assert_eq!(joined, 1);
    // Another domain's users are not concerned.
    let stranger = password_user(&app, "x@elsewhere.example", None).await;
    session_token(&app, "x@elsewhere.example", None).await;
    assert_eq!(role_in(&app, &o.org_id, &stranger).await, None);

    // With approval: a pending request (once, however often the user signs in).
    patch(json!({"autoJoin": {"requireApproval": true, "role": "member"}})).await;
    let u2 = password_user(&app, "u2@aj-corp.example", None).await;
    let u3 = password_user(&app, "u3@aj-corp.example", None).await;
    for email in ["u2@aj-corp.example", "u2@aj-corp.example", "u3@aj-corp.example"] {
        session_token(&app, email, None).await;
    }
    assert_eq!(role_in(&app, &o.org_id, &u2).await, None);
    let pending = join_requests(&app, &o, "").await;
    assert_eq!(pending.len(), 2, "{pending:?}");
    let req = |uid: &str| {
        pending.iter().find(|r| r["userId"] == uid).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (r2, r3) = (req(&u2), req(&u3));
    assert!(r2.starts_with("jrq_"));
    assert_eq!(pending[0]["status"], "pending");
    assert_eq!(pending[0]["domain"], "aj-corp.example");
    assert_eq!(join_requests(&app, &o, "?limit=1").await.len(), 1);

    // Members below admin cannot decide; an admin can.
    let u1_session = session_token(&app, "u1@aj-corp.example", None).await;
    let r = with_bearer(
        &app,
        Method::POST,
        &org_path(&o, &format!("/join-requests/{r2}/approve")),
        &u1_session,
        None,
    )
    .await;
    assert_envelope_error(&r, 403, "FORBIDDEN");
    let r = with_bearer(&app, Method::GET, &org_path(&o, "/join-requests"), &u1_session, None).await;
    assert_envelope_error(&r, 403, "FORBIDDEN");
    let r = with_bearer(&app, Method::GET, &org_path(&o, "/domains"), &u1_session, None).await;
    assert_envelope_error(&r, 403, "FORBIDDEN");
    portico_store::orgs::set_role(&app.db, &o.org_id, &u1, "admin")
        .await
        .unwrap();
    // Admins read domains but only the owner changes them.
    let r = with_bearer(&app, Method::GET, &org_path(&o, "/domains"), &u1_session, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for (m, path) in [
        (Method::POST, org_path(&o, &format!("/domains/{domain_id}/verify"))),
        (Method::DELETE, org_path(&o, &format!("/domains/{domain_id}"))),
        (Method::GET, org_path(&o, "/settings/security")),
    ] {
        assert_envelope_error(&with_bearer(&app, m, &path, &u1_session, None).await, 403, "FORBIDDEN");
    }
    let r = with_bearer(
        &app,
        Method::POST,
        &org_path(&o, &format!("/join-requests/{r2}/approve")),
        &u1_session,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["status"], "approved");
    assert_eq!(r.body["data"]["decidedBy"], u1.as_str());
    assert_eq!(role_in(&app, &o.org_id, &u2).await.as_deref(), Some("member"));
    let r = app
        .call(
            Method::POST,
            &org_path(&o, &format!("/join-requests/{r2}/reject")),
            Some(&o.key),
            None,
        )
        .await;
    assert_envelope_error(&r, 409, "CONFLICT");

    // Rejection: no membership, and the user is not asked about again.
    let r = app
        .call(
            Method::POST,
            &org_path(&o, &format!("/join-requests/{r3}/reject")),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["status"], "rejected");
    session_token(&app, "u3@aj-corp.example", None).await;
    assert_eq!(role_in(&app, &o.org_id, &u3).await, None);
    assert!(join_requests(&app, &o, "").await.is_empty());
    let all = join_requests(&app, &o, "?status=all").await;
    assert_eq!(all.len(), 2);
    let statuses: Vec<(String, String)> = sqlx::query_as("SELECT user_id, status FROM join_requests ORDER BY user_id")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(statuses.len(), 2);
    assert!(statuses.contains(&(u2.clone(), "approved".into())) && statuses.contains(&(u3.clone(), "rejected".into())));
    assert_envelope_error(
        &app.call(
            Method::POST,
            &org_path(&o, "/join-requests/jrq_nope/approve"),
            Some(&o.key),
            None,
        )
        .await,
        404,
        "NOT_FOUND",
    );

    // An organization that demands SSO of the auto-join role is not joined by password.
    sqlx::query("UPDATE organizations SET auth_required = 'sso' WHERE id = $1")
        .bind(&o.org_id)
        .execute(&app.db)
        .await
        .unwrap();
    patch(json!({"autoJoin": {"requireApproval": false}})).await;
    let u4 = password_user(&app, "u4@aj-corp.example", None).await;
    session_token(&app, "u4@aj-corp.example", None).await;
    assert_eq!(role_in(&app, &o.org_id, &u4).await, None);
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_events WHERE organization_id = $1 AND action LIKE 'join_request.%' ORDER BY id",
    )
    .bind(&o.org_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "join_request.create",
            "join_request.create",
            "join_request.approve",
            "join_request.reject"
        ]
    );
}

#[tokio::test]
async fn another_organizations_idp_cannot_auto_join_anyone() {
    // Org "victim" verified example.com with auto-join on; org "idp-owner" runs an IdP that
    // asserts alice@example.com (verified). Signing in there must not make alice a member of victim.
    let p = oidc::provider().await;
    let dns = DnsServer::start().await;
    let app = app_with_dns(&dns).await;
    let victim = app.owner("victim").await;
    let other = app.owner("idp-owner").await;
    let id = verified_domain(&app, &dns, &victim, "example.com").await;
    let r = app
        .call(
            Method::PATCH,
            &org_path(&victim, &format!("/domains/{id}")),
            Some(&victim.key),
            Some(json!({"autoJoin": {"enabled": true, "requireApproval": true}})),
        )
        .await;
    assert_eq!(r.status, 200);
    configure_oidc(&app, &other, &p.issuer).await;
    sso_cookie(&app, "idp-owner", "alice").await;
    let alice: String = sqlx::query_scalar("SELECT id FROM users WHERE email = 'alice@example.com'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(role_in(&app, &other.org_id, &alice).await.as_deref(), Some("member"));
    assert_eq!(role_in(&app, &victim.org_id, &alice).await, None);
    assert_eq!(app.count("join_requests").await, 0);
    // Without approval either.
    app.call(
        Method::PATCH,
        &org_path(&victim, &format!("/domains/{id}")),
        Some(&victim.key),
        Some(json!({"autoJoin": {"requireApproval": false}})),
    )
    .await;
    sso_cookie(&app, "idp-owner", "alice").await;
    assert_eq!(role_in(&app, &victim.org_id, &alice).await, None);

    // Nor is that account merged when victim's own IdP later asserts the same verified email:
    // the account that idp-owner's IdP signs in must not become the one victim's IdP vouches for.
    configure_oidc(&app, &victim, &p.issuer).await;
    let b = browser();
    let cb = oidc::to_callback(&app, &b, "/api/auth/sso/victim/login", "alice", "alice-password").await;
    let r = oidc::finish(&b, &cb).await;
    let location = r.headers["location"].to_str().unwrap();
    assert!(location.ends_with("?error=ACCOUNT_LINK_REFUSED"), "{location}");
    let linked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM external_identities i JOIN sso_connections c ON c.id = i.connection_id WHERE c.organization_id = $1",
    )
    .bind(&victim.org_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(linked, 0);
    assert_eq!(role_in(&app, &victim.org_id, &alice).await, None);
}

/// The current TOTP code of a base32 secret, `offset` steps from now.
fn code(secret_b32: &str, offset: i64) -> String {
    let secret = data_encoding::BASE32_NOPAD.decode(secret_b32.as_bytes()).unwrap();
    totp::code_at(&secret, totp::current_step() + offset)
}

/// Enrols and confirms TOTP for the user of `session`, with the code of the current step;
/// returns the base32 secret and the recovery codes.
async fn enable_totp(app: &TestApp, session: &str) -> (String, Vec<String>) {
    let r = with_bearer(app, Method::POST, "/api/user/mfa/totp", session, None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.body["data"]["secret"].as_str().unwrap().to_owned();
    let r = with_bearer(
        app,
        Method::POST,
        "/api/user/mfa/totp/confirm",
        session,
        Some(json!({ "code": code(&secret, 0) })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let codes = r.body["data"]["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

#[tokio::test]
async fn totp_enrolment_wrong_and_replayed_codes_and_single_use_recovery_codes() {
    let app = TestApp::start().await;
    let o = app.owner("totp").await;
    let s = session_token(&app, &o.email, None).await;
    let r = with_bearer(&app, Method::GET, "/api/user/mfa/totp", &s, None).await;
    assert_eq!(r.body["data"]["enabled"], false, "{}", r.text);
    // Managed from a session only.
    assert_envelope_error(
        &app.call(Method::POST, "/api/user/mfa/totp", Some(&o.key), None).await,
        403,
        "FORBIDDEN",
    );

    let r = with_bearer(&app, Method::POST, "/api/user/mfa/totp", &s, None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.body["data"]["secret"].as_str().unwrap().to_owned();
    let uri = r.body["data"]["otpauthUri"].as_str().unwrap();
    assert_eq!(uri, format!("otpauth://totp/Portico:owner%40totp.example?secret={secret}&issuer=Portico&algorithm=SHA1&digits=6&period=30"));
    let stored: String = sqlx::query_scalar("SELECT totp_secret FROM users WHERE id = $1")
        .bind(&o.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(stored.starts_with("v1:") && !stored.contains(&secret), "sealed at rest");
    // Pending is not enforced yet.
    session_token(&app, &o.email, None).await;

    // A wrong first code does not confirm.
    let now = code(&secret, 0);
    let wrong = (0..1_000_000u32)
        .map(|n| format!("{n:06}"))
        .find(|c| *c != now && *c != code(&secret, -1) && *c != code(&secret, 1))
        .unwrap();
    let r = with_bearer(
        &app,
        Method::POST,
        "/api/user/mfa/totp/confirm",
        &s,
        Some(json!({ "code": wrong })),
    )
    .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    let step = totp::current_step();
    let confirm_code = totp::code_at(&data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).unwrap(), step);
    let r = with_bearer(
        &app,
        Method::POST,
        "/api/user/mfa/totp/confirm",
        &s,
        Some(json!({ "code": confirm_code })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let recovery: Vec<String> = r.body["data"]["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    let hashes: Vec<Vec<u8>> = sqlx::query_scalar("SELECT code_hash FROM mfa_recovery_codes WHERE user_id = $1")
        .bind(&o.user_id)
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 10);
    assert!(hashes.iter().all(|h| h.len() == 32), "stored as digests");

    // Now required at sign-in: missing, wrong, replayed → MFA_REQUIRED and no session.
    let sessions_before = app.count("sessions").await;
    assert_envelope_error(&password_sign_in(&app, &o.email, None).await, 403, "MFA_REQUIRED");
    assert_envelope_error(
        &password_sign_in(&app, &o.email, Some(&wrong)).await,
        403,
        "MFA_REQUIRED",
    );
    assert_envelope_error(
        &password_sign_in(&app, &o.email, Some(&confirm_code)).await,
        403,
        "MFA_REQUIRED",
    );
    assert_eq!(app.count("sessions").await, sessions_before);
    // The next step's code works once (the skew window), and the session has MFA.
    let next = totp::code_at(
        &data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).unwrap(),
        step + 1,
    );
    let r = password_sign_in(&app, &o.email, Some(&next)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["session"]["mfa"], true);
    let me = with_bearer(
        &app,
        Method::GET,
        "/api/user/me",
        r.body["data"]["token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(me.body["data"]["authentication"]["mfa"], true);
    assert_envelope_error(
        &password_sign_in(&app, &o.email, Some(&next)).await,
        403,
        "MFA_REQUIRED",
    );
    // A recovery code works once, in any case and with or without dashes.
    let r = password_sign_in(&app, &o.email, Some(&recovery[0].to_uppercase().replace('-', ""))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["session"]["mfa"], true);
    assert_envelope_error(
        &password_sign_in(&app, &o.email, Some(&recovery[0])).await,
        403,
        "MFA_REQUIRED",
    );
    let used: i64 = sqlx::query_scalar("SELECT count(*) FROM mfa_recovery_codes WHERE used_at IS NOT NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(used, 1);
    let r = with_bearer(&app, Method::GET, "/api/user/mfa/totp", &s, None).await;
    assert_eq!(
        r.body["data"],
        json!({"enabled": true, "pending": false, "enabledAt": r.body["data"]["enabledAt"], "recoveryCodesLeft": 9})
    );
    let reasons: Vec<String> =
        sqlx::query_scalar("SELECT reason FROM audit_events WHERE action = 'sign_in.password' AND outcome = 'failure'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    for reason in ["mfa_required", "mfa_invalid", "mfa_replayed"] {
        assert!(reasons.iter().any(|r| r == reason), "{reason} not audited: {reasons:?}");
    }

    // Enrolling again while on is refused; disabling needs a valid second factor.
    assert_envelope_error(
        &with_bearer(&app, Method::POST, "/api/user/mfa/totp", &s, None).await,
        409,
        "CONFLICT",
    );
    let r = with_bearer(
        &app,
        Method::DELETE,
        "/api/user/mfa/totp",
        &s,
        Some(json!({ "code": recovery[0] })),
    )
    .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    let r = with_bearer(
        &app,
        Method::DELETE,
        "/api/user/mfa/totp",
        &s,
        Some(json!({ "code": recovery[1] })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (secret_col, left): (Option<String>, i64) =
        sqlx::query_as("SELECT totp_secret, (SELECT count(*) FROM mfa_recovery_codes) FROM users WHERE id = $1")
            .bind(&o.user_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((secret_col, left), (None, 0));
    let r = password_sign_in(&app, &o.email, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["session"]["mfa"], false);

    // The sealed column is in the key-rotation registry, and rotation reads it.
    with_bearer(&app, Method::POST, "/api/user/mfa/totp", &s, None).await;
    assert!(portico_store::sealed::SEALED_COLUMNS.contains(&("users", "totp_secret")));
    let mut tx = app.db.begin().await.unwrap();
    let rows = portico_store::sealed::lock_all(&mut *tx, "users", "totp_secret")
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, o.user_id);
    drop(tx);
    assert_eq!(
        portico_server::services::keys::rotate(&app.db, &app.state.secrets)
            .await
            .unwrap(),
        0,
        "already sealed with the current key"
    );
}

#[tokio::test]
async fn repeated_wrong_second_factors_are_throttled() {
    let app = TestApp::start().await;
    let o = app.owner("totp-throttle").await;
    let s = session_token(&app, &o.email, None).await;
    let (secret, _) = enable_totp(&app, &s).await;
    for _ in 0..totp::MAX_FAILURES {
        assert_envelope_error(
            &password_sign_in(&app, &o.email, Some("000000x")).await,
            403,
            "MFA_REQUIRED",
        );
    }
    let r = password_sign_in(&app, &o.email, Some(&code(&secret, 1))).await;
    assert_envelope_error(&r, 429, "RATE_LIMITED");
    assert!(r.headers.contains_key("retry-after"));
}

#[derive(Clone, Copy, Debug)]
enum Expect {
    Ok,
    Mfa,
    Sso,
}

fn check(r: &Resp, want: Expect, cell: &str) {
    match want {
        Expect::Ok => assert_eq!(r.status, 200, "{cell}: {}", r.text),
        Expect::Mfa => {
            assert_envelope_error(r, 403, "MFA_REQUIRED");
        }
        Expect::Sso => {
            assert_envelope_error(r, 403, "SSO_REQUIRED");
            assert!(
                r.body["loginUrl"]
                    .as_str()
                    .unwrap()
                    .ends_with("/api/auth/sso/grid/login"),
                "{cell}: {}",
                r.text
            );
        }
    }
}

#[tokio::test]
async fn every_policy_cell_is_enforced_on_the_organizations_routes() {
    let p = oidc::provider().await;
    let app = TestApp::start().await;
    let o = app.owner("grid").await;
    let security = org_path(&o, "/settings/security");
    let r = app.call(Method::GET, &security, Some(&o.key), None).await;
    assert_eq!(
        r.body["data"],
        json!({"authRequired": "any", "requireMfa": false, "exemptRoles": ["owner"]}),
        "{}",
        r.text
    );
    let r = app
        .call(
            Method::PUT,
            &security,
            Some(&o.key),
            Some(json!({"authRequired": "strict"})),
        )
        .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    let r = app
        .call(
            Method::PUT,
            &security,
            Some(&o.key),
            Some(json!({"authRequired": "any", "exemptRoles": ["Not A Role"]})),
        )
        .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");

    // SSO cannot be required before a connection has passed its test.
    configure_oidc(&app, &o, &p.issuer).await;
    let r = app
        .call(
            Method::PUT,
            &security,
            Some(&o.key),
            Some(json!({"authRequired": "sso"})),
        )
        .await;
    assert_envelope_error(&r, 409, "SSO_NOT_READY");
    let stored: String = sqlx::query_scalar("SELECT auth_required FROM organizations WHERE id = $1")
        .bind(&o.org_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, "any");
    let r = app
        .call(Method::POST, &org_path(&o, "/settings/sso/test"), Some(&o.key), None)
        .await;
    assert_eq!(r.body["data"]["success"], true, "{}", r.text);

    // The callers: password, password + TOTP, SSO without IdP MFA (alice), with (carol), a PAT.
    let pw_user = password_user(&app, "pat@grid.example", Some((&o.org_id, "member"))).await;
    let totp_user = password_user(&app, "tina@grid.example", Some((&o.org_id, "member"))).await;
    let pw_session = session_token(&app, "pat@grid.example", None).await;
    let tina_plain = session_token(&app, "tina@grid.example", None).await;
    let (tina_secret, _) = enable_totp(&app, &tina_plain).await;
    let tina = password_sign_in(&app, "tina@grid.example", Some(&code(&tina_secret, 1))).await;
    assert_eq!(tina.body["data"]["session"]["mfa"], true, "{}", tina.text);
    let totp_session = tina.body["data"]["token"].as_str().unwrap().to_owned();
    let alice = sso_cookie(&app, "grid", "alice").await;
    let carol = sso_cookie(&app, "grid", "carol").await;
    let r = with_bearer(
        &app,
        Method::POST,
        "/api/user/tokens",
        &pw_session,
        Some(json!({"name": "grid-pat", "organizationId": o.org_id})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let pat = r.body["data"]["token"].as_str().unwrap().to_owned();
    let users: Vec<String> =
        sqlx::query_scalar("SELECT user_id FROM memberships WHERE organization_id = $1 AND user_id <> $2")
            .bind(&o.org_id)
            .bind(&o.user_id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(users.len(), 4, "pat, tina, alice, carol");
    assert!(users.contains(&pw_user) && users.contains(&totp_user));

    let read = org_path(&o, "");
    use Expect::*;
    // (authRequired, requireMfa) × role × [password, password+TOTP, SSO, SSO+MFA, PAT]
    let grid: [(&str, bool, &str, [Expect; 5]); 8] = [
        ("any", false, "owner", [Ok, Ok, Ok, Ok, Ok]),
        ("any", false, "member", [Ok, Ok, Ok, Ok, Ok]),
        ("mfa", false, "owner", [Mfa, Ok, Mfa, Ok, Ok]),
        ("mfa", false, "member", [Mfa, Ok, Mfa, Ok, Ok]),
        ("sso", false, "owner", [Ok, Ok, Ok, Ok, Ok]),
        ("sso", false, "member", [Sso, Sso, Ok, Ok, Ok]),
        ("any", true, "member", [Mfa, Ok, Mfa, Ok, Ok]),
        ("sso", true, "member", [Sso, Sso, Mfa, Ok, Ok]),
    ];
    for (auth_required, require_mfa, role, expected) in grid {
        sqlx::query("UPDATE memberships SET role = $2 WHERE organization_id = $1 AND user_id <> $3")
            .bind(&o.org_id)
            .bind(role)
            .bind(&o.user_id)
            .execute(&app.db)
            .await
            .unwrap();
        let r = app
            .call(
                Method::PUT,
                &security,
                Some(&o.key),
                Some(json!({"authRequired": auth_required, "requireMfa": require_mfa})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["data"]["authRequired"], auth_required);
        let cell = |who: &str| format!("{auth_required}/requireMfa={require_mfa}/{role}/{who}");
        check(
            &with_bearer(&app, Method::GET, &read, &pw_session, None).await,
            expected[0],
            &cell("password"),
        );
        check(
            &with_bearer(&app, Method::GET, &read, &totp_session, None).await,
            expected[1],
            &cell("password+totp"),
        );
        check(&with_cookie(&app, &read, &alice).await, expected[2], &cell("sso"));
        check(&with_cookie(&app, &read, &carol).await, expected[3], &cell("sso+mfa"));
        check(
            &app.call(Method::GET, &read, Some(&pat), None).await,
            expected[4],
            &cell("pat"),
        );
    }
    // Password sign-in itself under `sso`: refused for members with the login URL, not for owners.
    sqlx::query("UPDATE memberships SET role = 'member' WHERE organization_id = $1 AND user_id <> $2")
        .bind(&o.org_id)
        .bind(&o.user_id)
        .execute(&app.db)
        .await
        .unwrap();
    let r = password_sign_in(&app, "pat@grid.example", None).await;
    assert_envelope_error(&r, 403, "SSO_REQUIRED");
    assert_eq!(r.body["loginUrl"], format!("{}/api/auth/sso/grid/login", app.base));
    assert_eq!(password_sign_in(&app, &o.email, None).await.status, 200);
    // Under `mfa`, a TOTP user signing in without a code is asked for it.
    app.call(
        Method::PUT,
        &security,
        Some(&o.key),
        Some(json!({"authRequired": "mfa", "requireMfa": false})),
    )
    .await;
    assert_envelope_error(
        &password_sign_in(&app, "tina@grid.example", None).await,
        403,
        "MFA_REQUIRED",
    );
    let changes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE action = 'security_policy.update' AND organization_id = $1",
    )
    .bind(&o.org_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(changes, 9, "every change audited");
}
