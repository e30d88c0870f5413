//! Tenancy, roles, validation and error shapes.

use reqwest::Method;
use serde_json::json;

use crate::support::{assert_envelope_error, TestApp};

async fn add_member(app: &TestApp, org_id: &str, email: &str, role: &str) -> (String, String) {
    let uid = portico_core::ids::prefixed(portico_core::ids::USER);
    portico_store::users::insert(&app.db, &uid, email, None, None)
        .await
        .unwrap();
    portico_store::orgs::add_member(&app.db, org_id, &uid, role)
        .await
        .unwrap();
    let (_, key) =
        portico_server::services::tokens::create(&app.db, &uid, Some(org_id), "k", None, &Default::default())
            .await
            .unwrap();
    use secrecy::ExposeSecret;
    (uid, key.expose_secret().to_owned())
}

#[tokio::test]
async fn cross_tenant_keys_see_nothing_of_other_orgs() {
    let app = TestApp::start().await;
    let a = app.owner("alpha").await;
    let b = app.owner("bravo").await;
    let before: (String, String) = sqlx::query_as("SELECT name, slug FROM organizations WHERE id = $1")
        .bind(&b.org_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let members_before = app.count("memberships").await;
    let routes = [
        (Method::GET, format!("/api/user/organizations/{}", b.org_id), None),
        (
            Method::PATCH,
            format!("/api/user/organizations/{}", b.org_id),
            Some(json!({"name": "pwned"})),
        ),
        (Method::DELETE, format!("/api/user/organizations/{}", b.org_id), None),
        (
            Method::GET,
            format!("/api/user/organizations/{}/members", b.org_id),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/user/organizations/{}/members/{}", b.org_id, b.user_id),
            Some(json!({"role": "member"})),
        ),
        (
            Method::DELETE,
            format!("/api/user/organizations/{}/members/{}", b.org_id, b.user_id),
            None,
        ),
        (
            Method::GET,
            format!("/api/user/organizations/{}/sessions", b.org_id),
            None,
        ),
        (
            Method::GET,
            format!("/api/user/organizations/{}/audit-events", b.org_id),
            None,
        ),
    ];
    for (m, path, body) in routes {
        let r = app.call(m.clone(), &path, Some(&a.key), body).await;
        assert_envelope_error(&r, 404, "NOT_FOUND");
    }
    let after: (String, String) = sqlx::query_as("SELECT name, slug FROM organizations WHERE id = $1")
        .bind(&b.org_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(before, after);
    assert_eq!(members_before, app.count("memberships").await);
    // A's key lists only A.
    let r = app
        .call(Method::GET, "/api/user/organizations", Some(&a.key), None)
        .await;
    assert_eq!(r.status, 200);
    let ids: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a.org_id.as_str()]);
}

#[tokio::test]
async fn a_key_pinned_to_one_org_cannot_act_on_another_org_of_the_same_user() {
    let app = TestApp::start().await;
    let a = app.owner("pin-a").await;
    // The same owner bootstraps a second organization: same user, a key pinned to B.
    let b = portico_server::cli::bootstrap::run(&app.db, "B", "pin-b", &a.email, None)
        .await
        .unwrap();
    assert_eq!(b.user_id, a.user_id);
    let r = app
        .call(
            Method::GET,
            &format!("/api/user/organizations/{}", b.organization_id),
            Some(&a.key),
            None,
        )
        .await;
    assert_envelope_error(&r, 404, "NOT_FOUND");
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/user/organizations/{}", b.organization_id),
            Some(&a.key),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_envelope_error(&r, 404, "NOT_FOUND");
    let name: String = sqlx::query_scalar("SELECT name FROM organizations WHERE id = $1")
        .bind(&b.organization_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(name, "B");
    // A pinned key cannot mint an unpinned or differently pinned key.
    let r = app
        .call(
            Method::POST,
            "/api/user/tokens",
            Some(&a.key),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_envelope_error(&r, 403, "FORBIDDEN");
    let r = app
        .call(
            Method::POST,
            "/api/user/tokens",
            Some(&a.key),
            Some(json!({"name": "x", "organizationId": b.organization_id})),
        )
        .await;
    assert_envelope_error(&r, 403, "FORBIDDEN");
    // ...nor create organizations.
    let r = app
        .call(
            Method::POST,
            "/api/user/organizations",
            Some(&a.key),
            Some(json!({"name": "New"})),
        )
        .await;
    assert_envelope_error(&r, 403, "FORBIDDEN");
    // /me with the pinned key shows only A.
    let r = app.call(Method::GET, "/api/user/me", Some(&a.key), None).await;
    assert_eq!(r.body["data"]["memberships"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["data"]["authentication"]["organizationId"], a.org_id.as_str());
}

#[tokio::test]
async fn last_owner_cannot_leave_or_be_demoted_and_members_cannot_change_roles() {
    let app = TestApp::start().await;
    let o = app.owner("roles").await;
    let (mid, mkey) = add_member(&app, &o.org_id, "m@roles.example", "member").await;
    let (aid, akey) = add_member(&app, &o.org_id, "a@roles.example", "admin").await;
    let base = format!("/api/user/organizations/{}", o.org_id);

    let r = app
        .call(
            Method::PATCH,
            &format!("{base}/members/{}", o.user_id),
            Some(&o.key),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_envelope_error(&r, 409, "CONFLICT");
    let r = app
        .call(
            Method::DELETE,
            &format!("{base}/members/{}", o.user_id),
            Some(&o.key),
            None,
        )
        .await;
    assert_envelope_error(&r, 409, "CONFLICT");
    assert_eq!(
        portico_store::orgs::role_of(&app.db, &o.org_id, &o.user_id)
            .await
            .unwrap()
            .as_deref(),
        Some("owner")
    );

    // A member cannot change roles (not even their own) nor list members.
    let r = app
        .call(
            Method::PATCH,
            &format!("{base}/members/{mid}"),
            Some(&mkey),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_envelope_error(&r, 403, "FORBIDDEN");
    let r = app
        .call(
            Method::PATCH,
            &format!("{base}/members/{aid}"),
            Some(&mkey),
            Some(json!({"role": "member"})),
        )
        .await;
    assert_envelope_error(&r, 403, "FORBIDDEN");
    let r = app
        .call(Method::GET, &format!("{base}/members"), Some(&mkey), None)
        .await;
    assert_envelope_error(&r, 403, "FORBIDDEN");
    // An admin cannot make owners or touch the owner.
    let r = app
        .call(
            Method::PATCH,
            &format!("{base}/members/{mid}"),
            Some(&akey),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_envelope_error(&r, 403, "FORBIDDEN");
    let r = app
        .call(
            Method::DELETE,
            &format!("{base}/members/{}", o.user_id),
            Some(&akey),
            None,
        )
        .await;
    assert_envelope_error(&r, 403, "FORBIDDEN");
    // An admin manages members; a custom role is member-level.
    let r = app
        .call(
            Method::PATCH,
            &format!("{base}/members/{mid}"),
            Some(&akey),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        portico_store::orgs::role_of(&app.db, &o.org_id, &mid)
            .await
            .unwrap()
            .as_deref(),
        Some("viewer")
    );
    // Once there is a second owner, the first may step down.
    let r = app
        .call(
            Method::PATCH,
            &format!("{base}/members/{aid}"),
            Some(&o.key),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .call(
            Method::DELETE,
            &format!("{base}/members/{}", o.user_id),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The remaining single owner cannot leave.
    let r = app
        .call(Method::DELETE, &format!("{base}/members/{aid}"), Some(&akey), None)
        .await;
    assert_envelope_error(&r, 409, "CONFLICT");
    // Every change was audited.
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE organization_id = $1 AND action LIKE 'membership.%'",
    )
    .bind(&o.org_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(n, 3);
}

#[tokio::test]
async fn bad_input_is_a_validation_envelope_and_writes_nothing() {
    let app = TestApp::start().await;
    let o = app.owner("inputs").await;
    // An unpinned key for the same user (pinned keys cannot create orgs).
    let (_, free) =
        portico_server::services::tokens::create(&app.db, &o.user_id, None, "free", None, &Default::default())
            .await
            .unwrap();
    use secrecy::ExposeSecret;
    let free = free.expose_secret().to_owned();
    let orgs_before = app.count("organizations").await;
    let audit_before = app.count("audit_events").await;
    let cases = [
        (json!({"name": 42}), "name"),
        (json!({"name": "ok", "bogus": 1}), "bogus"),
        (json!({"name": ["x"]}), "name"),
        (json!({}), "name"),
        (json!({"name": "ok", "slug": "Not A Slug"}), "slug"),
        (json!({"name": ""}), "name"),
    ];
    for (body, field) in cases {
        let r = app
            .call(Method::POST, "/api/user/organizations", Some(&free), Some(body.clone()))
            .await;
        assert_envelope_error(&r, 400, "VALIDATION_ERROR");
        assert!(
            r.body["message"].as_str().unwrap().contains(field),
            "{body} -> {}",
            r.text
        );
    }
    let r = app
        .raw(
            Method::POST,
            "/api/user/organizations",
            Some(&free),
            "application/json",
            b"{\"name\": ".to_vec(),
        )
        .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    let r = app
        .raw(
            Method::POST,
            "/api/user/organizations",
            Some(&free),
            "text/plain",
            b"{\"name\":\"x\"}".to_vec(),
        )
        .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    let big = format!("{{\"name\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let r = app
        .raw(
            Method::POST,
            "/api/user/organizations",
            Some(&free),
            "application/json",
            big.into_bytes(),
        )
        .await;
    assert_envelope_error(&r, 413, "VALIDATION_ERROR");
    let r = app
        .call(Method::GET, "/api/user/organizations?limit=abc", Some(&free), None)
        .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    let r = app
        .call(Method::GET, "/api/user/organizations?limit=500", Some(&free), None)
        .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/user/organizations/{}/members/{}", o.org_id, o.user_id),
            Some(&o.key),
            Some(json!({"role": "Bad Role!"})),
        )
        .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    assert_eq!(orgs_before, app.count("organizations").await);
    assert_eq!(audit_before, app.count("audit_events").await);
    // A duplicate slug is a 409 naming the field, and nothing half-written.
    let r = app
        .call(
            Method::POST,
            "/api/user/organizations",
            Some(&free),
            Some(json!({"name": "Dup", "slug": "inputs"})),
        )
        .await;
    assert_envelope_error(&r, 409, "CONFLICT");
    assert!(r.body["message"].as_str().unwrap().contains("slug"));
    assert_eq!(orgs_before, app.count("organizations").await);
    // And a good one works.
    let r = app
        .call(
            Method::POST,
            "/api/user/organizations",
            Some(&free),
            Some(json!({"name": "Fine Org"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["data"]["slug"], "fine-org");
    assert_eq!(r.body["data"]["role"], "owner");
}

#[tokio::test]
async fn public_error_bodies_are_pinned_for_both_families() {
    let app = TestApp::start().await;
    let r = app
        .http
        .get(format!("{}/api/nope", app.base))
        .header("x-request-id", "req-123")
        .send()
        .await
        .unwrap();
    let r = TestApp::read(r).await;
    assert_eq!(r.headers["x-request-id"], "req-123");
    assert_eq!(
        r.body,
        json!({"success": false, "status": 404, "code": "NOT_FOUND", "message": "route not found", "data": null, "requestId": "req-123"})
    );
    let r = app
        .http
        .get(format!("{}/api/user/me", app.base))
        .header("x-request-id", "req-124")
        .send()
        .await
        .unwrap();
    let r = TestApp::read(r).await;
    assert_eq!(
        r.body,
        json!({"success": false, "status": 401, "code": "UNAUTHORIZED", "message": "authentication required", "data": null, "requestId": "req-124"})
    );
    let r = app
        .http
        .get(format!("{}/api/user/me", app.base))
        .header("x-api-key", "ptk_bogus_bogus")
        .header("x-request-id", "req-125")
        .send()
        .await
        .unwrap();
    let r = TestApp::read(r).await;
    assert_eq!(
        r.body,
        json!({"success": false, "status": 401, "code": "UNAUTHORIZED", "message": "invalid credentials", "data": null, "requestId": "req-125"})
    );
    let r = app
        .http
        .put(format!("{}/api/user/me", app.base))
        .header("x-request-id", "req-126")
        .send()
        .await
        .unwrap();
    let r = TestApp::read(r).await;
    assert_eq!(
        r.body,
        json!({"success": false, "status": 405, "code": "METHOD_NOT_ALLOWED", "message": "method not allowed on this route", "data": null, "requestId": "req-126"})
    );
    // SDK family: bare {message, code, requestId}.
    let r = app
        .http
        .get(format!("{}/v1/sso/nothing-here", app.base))
        .header("x-request-id", "req-127")
        .send()
        .await
        .unwrap();
    let r = TestApp::read(r).await;
    assert_eq!(
        r.body,
        json!({"message": "route not found", "code": "NOT_FOUND", "requestId": "req-127"})
    );
    // An insane request id is replaced by a ULID.
    let r = app
        .http
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(rid.len(), 26);
}
