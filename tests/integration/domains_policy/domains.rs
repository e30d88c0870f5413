//! Domains: validation, live TXT verification, one verified claim per domain, tenancy, listing,
//! removal, and an unreachable nameserver.

use portico_core::ids;
use reqwest::Method;
use serde_json::{json, Value};

use super::{add_domain, app_with_dns, org_call, org_path, verify_domain};
use crate::support::dns::{dead_nameserver, DnsServer};
use crate::support::{assert_envelope_error, TestApp};

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
        let r = add_domain(&app, &a, bad).await;
        assert_envelope_error(&r, 400, "VALIDATION_ERROR");
        assert_eq!(r.body["details"][0]["field"], "domain", "{bad}: {}", r.text);
    }
    let r = org_call(
        &app,
        &a,
        Method::POST,
        "/domains",
        Some(json!({ "domain": "x.example", "autoJoin": true })),
    )
    .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    assert_eq!(app.count("organization_domains").await, 0);

    // Added in any spelling: one normalised domain, pending, with the exact record to publish.
    let r = add_domain(&app, &a, " ExAmple.COM. ").await;
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
    let r = add_domain(&app, &a, "example.COM").await;
    assert_envelope_error(&r, 409, "CONFLICT");
    assert_eq!(app.count("organization_domains").await, 1);

    // No record yet.
    let r = verify_domain(&app, &a, &id).await;
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
    let r = verify_domain(&app, &a, &id).await;
    assert_eq!(r.body["data"]["result"], "record_mismatch", "{}", r.text);
    assert_eq!(r.body["data"]["status"], "pending");
    // The right value next to others: verified.
    dns.set_txt("_portico-verification.example.com", &["v=spf1 -all", &value])
        .await;
    let r = verify_domain(&app, &a, &id).await;
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
    let r = verify_domain(&app, &a, &id).await;
    assert_eq!(r.body["data"]["result"], "verified");

    // A second organization may claim it, but never verify it: 409, nothing changes, even with
    // its own record published; the database refuses a direct write too.
    let r = add_domain(&app, &b, "EXAMPLE.com").await;
    assert_eq!(r.status, 201, "{}", r.text);
    let b_id = r.body["data"]["id"].as_str().unwrap().to_owned();
    let b_value = r.body["data"]["verification"]["value"].as_str().unwrap().to_owned();
    dns.set_txt("_portico-verification.example.com", &[&b_value]).await;
    let before = domain_rows(&app).await;
    let r = verify_domain(&app, &b, &b_id).await;
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
        &org_call(&app, &a, Method::GET, "/domains/not-an-id", None).await,
        404,
        "NOT_FOUND",
    );

    // List (paginated) and read.
    add_domain(&app, &a, "second.example").await;
    let r = org_call(&app, &a, Method::GET, "/domains?limit=1", None).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1, "{}", r.text);
    let cursor = r.body["pagination"]["nextCursor"].as_str().unwrap().to_owned();
    let r = org_call(
        &app,
        &a,
        Method::GET,
        &format!("/domains?limit=1&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(r.body["data"][0]["domain"], "second.example");
    assert!(r.body["pagination"]["nextCursor"].is_null());
    let r = org_call(&app, &a, Method::GET, &format!("/domains/{id}"), None).await;
    assert_eq!(r.body["data"]["status"], "verified");

    // Removing A's claim frees the domain: B verifies with its record.
    let r = org_call(&app, &a, Method::DELETE, &format!("/domains/{id}"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = verify_domain(&app, &b, &b_id).await;
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
    let r = add_domain(&app, &o, "unreachable.example").await;
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    let r = verify_domain(&app, &o, &id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["result"], "dns_error");
    assert_eq!(r.body["data"]["status"], "pending");
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}
