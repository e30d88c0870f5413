//! The SDK-compatible API seen from Rust: wire shapes, tenancy on every `/v1/sso` route, and the
//! provisioning rules (JIT races, identity isolation, domain binding, JIT off, disabled users,
//! group mapping) exercised on the real service with real rows.

use portico_core::idp::ExternalIdentity;
use portico_server::services::signin::admission::provision;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::TestApp;

fn oidc_body(name: &str, issuer: &str, domains: &[&str]) -> Value {
    json!({"name": name, "protocol": "oidc", "issuerUrl": issuer, "clientId": "test-client", "clientSecret": "test-secret",
           "domains": domains, "jitProvisioning": true, "groupMappings": {"Engineering": ["repo:write", "ci:run"], "Everyone": ["repo:read"]},
           "defaultScopes": ["basic"]})
}

async fn sdk(app: &TestApp, m: Method, path: &str, key: &str, body: Option<Value>) -> crate::support::Resp {
    let mut rb = app.http.request(m, format!("{}{path}", app.base)).bearer_auth(key);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    TestApp::read(rb.send().await.unwrap()).await
}

#[tokio::test]
async fn connection_crud_shapes_and_patch_null() {
    let app = TestApp::start().await;
    let o = app.owner("sdk-crud").await;
    let r = sdk(
        &app,
        Method::POST,
        "/v1/sso/connections",
        &o.key,
        Some(oidc_body("Okta", "https://idp.example.com", &["Acme.COM."])),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let c = &r.body;
    let id = c["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sso_"));
    assert_eq!(c["developerId"], o.org_id.as_str());
    assert_eq!(c["domains"], json!(["acme.com"]));
    assert_eq!(c["status"], "active");
    assert_eq!(
        c["redirectUris"],
        json!([format!("{}/api/auth/sso/callback", app.base)])
    );
    assert!(c.get("clientSecret").is_none() && !r.text.contains("test-secret"));
    for k in [
        "createdAt",
        "updatedAt",
        "issuerUrl",
        "clientId",
        "groupMappings",
        "defaultScopes",
        "jitProvisioning",
        "enforce",
    ] {
        assert!(c.get(k).is_some(), "{k} missing");
    }
    let stored: String = sqlx::query_scalar("SELECT client_secret FROM sso_connections")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!stored.contains("test-secret"));
    // PATCH: subset, explicit null clears, protocol immutable, unknown fields refused.
    let r = sdk(
        &app,
        Method::PATCH,
        &format!("/v1/sso/connections/{id}"),
        &o.key,
        Some(json!({"name": "Okta 2", "groupAttribute": "groups", "defaultScopes": null})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Okta 2");
    assert_eq!(r.body["defaultScopes"], json!([]));
    let r = sdk(
        &app,
        Method::PATCH,
        &format!("/v1/sso/connections/{id}"),
        &o.key,
        Some(json!({"groupAttribute": null})),
    )
    .await;
    assert!(r.body["groupAttribute"].is_null());
    let r = sdk(
        &app,
        Method::PATCH,
        &format!("/v1/sso/connections/{id}"),
        &o.key,
        Some(json!({"protocol": "saml"})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["code"], "VALIDATION_ERROR");
    assert!(
        r.body["requestId"].is_string() && r.body.get("success").is_none(),
        "bare SDK error: {}",
        r.text
    );
    let r = sdk(
        &app,
        Method::PATCH,
        &format!("/v1/sso/connections/{id}"),
        &o.key,
        Some(json!({"issuerUrl": 5})),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = sdk(
        &app,
        Method::POST,
        "/v1/sso/connections",
        &o.key,
        Some(json!({"name": "x", "protocol": "oidc", "clientId": "a", "clientSecret": "b"})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.body["message"].as_str().unwrap().contains("issuerUrl"));
    let r = sdk(
        &app,
        Method::POST,
        "/v1/sso/connections",
        &o.key,
        Some(json!({"name": "x", "protocol": "cas"})),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = sdk(&app, Method::POST, "/v1/sso/connections", &o.key, Some(json!({"name": "x", "protocol": "ldap", "ldapUrl": "http://x", "ldapBindDn": "cn=a", "ldapBindPassword": "p", "ldapSearchBase": "dc=x"}))).await;
    assert_eq!(r.status, 400);
    // A domain on at most one active connection.
    let r = sdk(
        &app,
        Method::POST,
        "/v1/sso/connections",
        &o.key,
        Some(oidc_body("Second", "https://idp2.example.com", &["acme.com"])),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(app.count("sso_connections").await, 1);
    // List, get, delete.
    let r = sdk(&app, Method::GET, "/v1/sso/connections", &o.key, None).await;
    assert_eq!(r.body["connections"].as_array().unwrap().len(), 1);
    let r = sdk(&app, Method::DELETE, &format!("/v1/sso/connections/{id}"), &o.key, None).await;
    assert_eq!(r.status, 204);
    assert!(r.text.is_empty());
    let r = sdk(&app, Method::GET, &format!("/v1/sso/connections/{id}"), &o.key, None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["code"], "NOT_FOUND");
    // The same connections through the organization API mirror, in the envelope.
    let r = app
        .call(
            Method::POST,
            &format!("/api/user/organizations/{}/sso/connections", o.org_id),
            Some(&o.key),
            Some(oidc_body("Mirror", "https://idp.example.com", &[])),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["success"], true);
    let mid = r.body["data"]["id"].as_str().unwrap();
    let r = sdk(&app, Method::GET, &format!("/v1/sso/connections/{mid}"), &o.key, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "Mirror");
}

#[tokio::test]
async fn every_v1_route_is_tenant_isolated() {
    let app = TestApp::start().await;
    let a = app.owner("tenant-a").await;
    let b = app.owner("tenant-b").await;
    let r = sdk(
        &app,
        Method::POST,
        "/v1/sso/connections",
        &b.key,
        Some(oidc_body("B", "https://idp.example.com", &["b.example"])),
    )
    .await;
    let bid = r.body["id"].as_str().unwrap().to_owned();
    let before: Value = sqlx::query_scalar("SELECT to_jsonb(c) FROM sso_connections c")
        .fetch_one(&app.db)
        .await
        .unwrap();
    for (m, path, body) in [
        (Method::GET, format!("/v1/sso/connections/{bid}"), None),
        (
            Method::PATCH,
            format!("/v1/sso/connections/{bid}"),
            Some(json!({"name": "pwned"})),
        ),
        (Method::DELETE, format!("/v1/sso/connections/{bid}"), None),
        (Method::POST, format!("/v1/sso/connections/{bid}/test"), Some(json!({}))),
        (Method::GET, format!("/sso/login?org={}", b.org_id), None),
        (Method::GET, format!("/sso/login?org={}&domain=b.example", b.slug), None),
        (
            Method::POST,
            "/sso/callback/ldap".to_owned(),
            Some(json!({"username": "u", "password": "p", "connectionId": bid, "org": b.org_id})),
        ),
    ] {
        let r = sdk(&app, m.clone(), &path, &a.key, body).await;
        assert_eq!(r.status, 404, "{m} {path}: {}", r.text);
    }
    let r = sdk(&app, Method::GET, "/v1/sso/connections", &a.key, None).await;
    assert_eq!(r.body["connections"], json!([]));
    let after: Value = sqlx::query_scalar("SELECT to_jsonb(c) FROM sso_connections c")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(before, after);
    // Unknown domain on /sso/login is a 404, never a fallback to another connection.
    let r = sdk(
        &app,
        Method::GET,
        &format!("/sso/login?org={}&domain=unknown.example", b.org_id),
        &b.key,
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
    // Without a key: 401 in the SDK shape.
    let r = TestApp::read(
        app.http
            .get(format!("{}/v1/sso/connections", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["code"], "UNAUTHORIZED");
    // A key with no pin whose user belongs to two organizations: a clear 400.
    let two = portico_server::cli::bootstrap::run(&app.db, "Second", "tenant-a2", &a.email, None)
        .await
        .unwrap();
    assert_eq!(two.user_id, a.user_id);
    let (_, free) =
        portico_server::services::tokens::create(&app.db, &a.user_id, None, "free", None, &Default::default())
            .await
            .unwrap();
    use secrecy::ExposeSecret;
    let r = sdk(&app, Method::GET, "/v1/sso/connections", free.expose_secret(), None).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["code"], "ORGANIZATION_AMBIGUOUS");
}

#[tokio::test]
async fn enforcement_is_the_security_policy() {
    let app = TestApp::start().await;
    let o = app.owner("enforce").await;
    let r = sdk(
        &app,
        Method::POST,
        "/v1/sso/enforce",
        &o.key,
        Some(json!({"enforce": true})),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.body["code"], "SSO_NOT_READY");
    let r = sdk(
        &app,
        Method::POST,
        "/v1/sso/connections",
        &o.key,
        Some(oidc_body("C", "https://idp.example.com", &[])),
    )
    .await;
    let id = r.body["id"].as_str().unwrap();
    sqlx::query("UPDATE sso_connections SET last_test_success = true, last_test_at = now() WHERE id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    let r = sdk(
        &app,
        Method::POST,
        "/v1/sso/enforce",
        &o.key,
        Some(json!({"enforce": true})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"enforce": true, "enforced": true, "exemptRoles": ["owner"], "developerId": o.org_id})
    );
    let (ar, ex): (String, Vec<String>) =
        sqlx::query_as("SELECT auth_required, exempt_roles FROM organizations WHERE id = $1")
            .bind(&o.org_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((ar.as_str(), ex), ("sso", vec!["owner".to_owned()]));
    // A member's password sign-in is now refused with SSO_REQUIRED and the login URL.
    let uid = portico_core::ids::prefixed(portico_core::ids::USER);
    let hash = portico_core::password::hash("member-password-1").unwrap();
    portico_store::users::insert(&app.db, &uid, "m@enforce.example", None, Some(&hash))
        .await
        .unwrap();
    portico_store::orgs::add_member(&app.db, &o.org_id, &uid, "member")
        .await
        .unwrap();
    let r = app
        .call(
            Method::POST,
            "/api/auth/sign-in/password",
            None,
            Some(json!({"email": "m@enforce.example", "password": "member-password-1"})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["code"], "SSO_REQUIRED");
    assert_eq!(r.body["loginUrl"], format!("{}/api/auth/sso/enforce/login", app.base));
    // The exempt owner still signs in with a password.
    let r = app
        .call(
            Method::POST,
            "/api/auth/sign-in/password",
            None,
            Some(json!({"email": o.email, "password": "owner-password-1"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = sdk(
        &app,
        Method::POST,
        "/v1/sso/enforce",
        &o.key,
        Some(json!({"enforced": false, "exemptRoles": ["owner", "admin"]})),
    )
    .await;
    assert_eq!(r.body["enforce"], false);
    assert_eq!(r.body["exemptRoles"], json!(["owner", "admin"]));
    let r = app
        .call(
            Method::POST,
            "/api/auth/sign-in/password",
            None,
            Some(json!({"email": "m@enforce.example", "password": "member-password-1"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let changes: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'security_policy.update'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(changes, 2);
}

async fn make_conn(
    app: &TestApp,
    key: &str,
    name: &str,
    domains: &[&str],
    jit: bool,
) -> portico_store::connections::Connection {
    let mut body = oidc_body(name, "https://idp.example.com", domains);
    body["jitProvisioning"] = json!(jit);
    let r = sdk(app, Method::POST, "/v1/sso/connections", key, Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    portico_store::connections::by_id(&app.db, r.body["id"].as_str().unwrap(), None)
        .await
        .unwrap()
        .unwrap()
}

fn ident(sub: &str, email: &str, groups: &[&str]) -> ExternalIdentity {
    ExternalIdentity {
        issuer: "https://idp.example.com".into(),
        subject: sub.into(),
        email: Some(email.into()),
        email_verified: Some(true),
        name: Some("N".into()),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn jit_is_race_safe_and_identities_are_isolated_per_connection() {
    let app = TestApp::start().await;
    let o = app.owner("jit").await;
    let c1 = make_conn(&app, &o.key, "One", &["jit.example"], true).await;
    // Ten concurrent first logins of the same identity: one user, one identity, one membership.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let db = app.db.clone();
        let c = c1.clone();
        tasks.push(tokio::spawn(async move {
            provision::admit(&db, &c, &ident("sub-1", "dev@jit.example", &["Engineering"])).await
        }));
    }
    let mut provisioned = 0;
    let mut users = std::collections::HashSet::new();
    for t in tasks {
        let a = t.await.unwrap().unwrap_or_else(|r| panic!("refused: {r:?}"));
        provisioned += usize::from(a.provisioned);
        users.insert(a.user.id.clone());
        assert_eq!(a.mapped_scopes, vec!["ci:run".to_owned(), "repo:write".to_owned()]);
    }
    assert_eq!(users.len(), 1);
    assert_eq!(provisioned, 1, "provisioned is true only on creation");
    assert_eq!(app.count("users").await, 2);
    assert_eq!(app.count("external_identities").await, 1);
    let role: String = sqlx::query_scalar("SELECT role FROM memberships WHERE user_id = $1")
        .bind(users.iter().next().unwrap())
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(role, "member");
    // A second connection of another org issuing the same `sub` with another email is another identity.
    let p = app.owner("jit-other").await;
    let c2 = make_conn(&app, &p.key, "Two", &["other.example"], true).await;
    let a2 = provision::admit(&app.db, &c2, &ident("sub-1", "x@other.example", &[]))
        .await
        .unwrap();
    assert!(!users.contains(&a2.user.id));
    assert_eq!(
        a2.mapped_scopes,
        vec!["basic".to_owned()],
        "defaultScopes when no group matched"
    );
    // The same sub with the first user's email at connection two: the account exists, the domain
    // is not verified by org two, so it is not linked (no takeover through a second IdP).
    let mut c2b = c2.clone();
    c2b.domains = vec![];
    let r = provision::admit(&app.db, &c2b, &ident("sub-9", "dev@jit.example", &[]))
        .await
        .unwrap_err();
    assert_eq!(r.code, "ACCOUNT_LINK_REFUSED");
}

#[tokio::test]
async fn domain_binding_jit_off_disabled_users_and_default_role() {
    let app = TestApp::start().await;
    let o = app.owner("rules").await;
    let c = make_conn(&app, &o.key, "Rules", &["rules.example"], true).await;
    let r = provision::admit(&app.db, &c, &ident("s1", "eve@evil.example", &[]))
        .await
        .unwrap_err();
    assert_eq!(r.code, "EMAIL_DOMAIN_NOT_ALLOWED");
    let mut unverified = ident("s2", "u@rules.example", &[]);
    unverified.email_verified = Some(false);
    assert_eq!(
        provision::admit(&app.db, &c, &unverified).await.unwrap_err().code,
        "EMAIL_NOT_VERIFIED"
    );
    let mut none = ident("s3", "", &[]);
    none.email = None;
    assert_eq!(
        provision::admit(&app.db, &c, &none).await.unwrap_err().code,
        "EMAIL_MISSING"
    );
    assert_eq!(app.count("users").await, 1);
    // JIT off: an unknown user is refused; an existing linked member passes.
    let off = make_conn(&app, &o.key, "Off", &["off.example"], false).await;
    assert_eq!(
        provision::admit(&app.db, &off, &ident("s4", "new@off.example", &[]))
            .await
            .unwrap_err()
            .code,
        "NOT_PROVISIONED"
    );
    let uid = portico_core::ids::prefixed(portico_core::ids::USER);
    portico_store::users::insert(&app.db, &uid, "known@off.example", None, None)
        .await
        .unwrap();
    portico_store::orgs::add_member(&app.db, &o.org_id, &uid, "member")
        .await
        .unwrap();
    portico_store::identities::link(&app.db, &off.id, "s5", &uid, None)
        .await
        .unwrap();
    let a = provision::admit(&app.db, &off, &ident("s5", "known@off.example", &[]))
        .await
        .unwrap();
    assert_eq!(a.user.id, uid);
    assert!(!a.provisioned);
    // Disabled users never pass.
    portico_store::users::set_status(&app.db, &uid, portico_core::account::UserStatus::Disabled)
        .await
        .unwrap();
    assert_eq!(
        provision::admit(&app.db, &off, &ident("s5", "known@off.example", &[]))
            .await
            .unwrap_err()
            .code,
        "USER_DISABLED"
    );
    // defaultRole is applied; owner is never grantable.
    let r = sdk(
        &app,
        Method::PATCH,
        &format!("/v1/sso/connections/{}", c.id),
        &o.key,
        Some(json!({"defaultRole": "owner"})),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = sdk(
        &app,
        Method::PATCH,
        &format!("/v1/sso/connections/{}", c.id),
        &o.key,
        Some(json!({"defaultRole": "engineer"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = portico_store::connections::by_id(&app.db, &c.id, None)
        .await
        .unwrap()
        .unwrap();
    let a = provision::admit(&app.db, &c, &ident("s6", "dev@rules.example", &["Everyone", "Unknown"]))
        .await
        .unwrap();
    assert_eq!(a.mapped_scopes, vec!["repo:read".to_owned()]);
    let role: String = sqlx::query_scalar("SELECT role FROM memberships WHERE user_id = $1")
        .bind(&a.user.id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(role, "engineer");
}

#[tokio::test]
async fn sdk_sessions_list_and_revoke_take_effect_at_once() {
    let app = TestApp::start().await;
    let o = app.owner("sess").await;
    let c = make_conn(&app, &o.key, "S", &["sess.example"], true).await;
    let a = provision::admit(&app.db, &c, &ident("s1", "dev@sess.example", &["Engineering"]))
        .await
        .unwrap();
    let created = portico_server::services::sessions::create(
        &app.db,
        &app.state.settings,
        portico_server::services::sessions::SessionSpec {
            user_id: &a.user.id,
            method: portico_core::account::SessionMethod::Oidc,
            organization_id: Some(&o.org_id),
            connection_id: Some(&c.id),
            idp_subject: Some("s1"),
            groups: &["Engineering".to_owned()],
            mapped_scopes: &a.mapped_scopes,
            ..Default::default()
        },
        &Default::default(),
    )
    .await
    .unwrap();
    use secrecy::ExposeSecret;
    let token = created.token.expose_secret().to_owned();
    let r = sdk(&app, Method::GET, "/api/user/me", &token, None).await;
    assert_eq!(r.status, 200);
    let r = sdk(&app, Method::GET, "/v1/sso/sessions", &o.key, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let s = &r.body["sessions"][0];
    assert_eq!(s["id"], created.session.id.as_str());
    assert!(s["id"].as_str().unwrap().starts_with("ssosess_"));
    assert_eq!(s["connectionName"], "S");
    assert_eq!(s["idpSubject"], "s1");
    assert_eq!(s["email"], "dev@sess.example");
    assert_eq!(s["mappedScopes"], json!(["ci:run", "repo:write"]));
    let r = sdk(
        &app,
        Method::DELETE,
        &format!("/v1/sso/sessions/{}", created.session.id),
        &o.key,
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    let r = sdk(&app, Method::GET, "/api/user/me", &token, None).await;
    assert_eq!(r.status, 401);
    // Deleting a connection revokes (removes) its sessions.
    let created = portico_server::services::sessions::create(
        &app.db,
        &app.state.settings,
        portico_server::services::sessions::SessionSpec {
            user_id: &a.user.id,
            method: portico_core::account::SessionMethod::Oidc,
            organization_id: Some(&o.org_id),
            connection_id: Some(&c.id),
            ..Default::default()
        },
        &Default::default(),
    )
    .await
    .unwrap();
    let token = created.token.expose_secret().to_owned();
    assert_eq!(
        sdk(
            &app,
            Method::DELETE,
            &format!("/v1/sso/connections/{}", c.id),
            &o.key,
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(sdk(&app, Method::GET, "/api/user/me", &token, None).await.status, 401);
}

#[tokio::test]
async fn groups_map_to_the_membership_role_and_keep_deciding_it() {
    let app = TestApp::start().await;
    let o = app.owner("roles-map").await;
    let mut body = oidc_body("R", "https://idp.example.com", &["roles.example"]);
    body["groupMappings"] =
        json!({"Admins": ["role:admin", "admin:all"], "Owners": ["role:owner"], "Staff": ["repo:read"]});
    body["defaultRole"] = json!("viewer");
    let r = sdk(&app, Method::POST, "/v1/sso/connections", &o.key, Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let c = portico_store::connections::by_id(&app.db, r.body["id"].as_str().unwrap(), None)
        .await
        .unwrap()
        .unwrap();
    let role = |uid: String| {
        let db = app.db.clone();
        let org = o.org_id.clone();
        async move { portico_store::orgs::role_of(&db, &org, &uid).await.unwrap().unwrap() }
    };
    let a = provision::admit(&app.db, &c, &ident("s1", "a@roles.example", &["Admins", "Owners"]))
        .await
        .unwrap();
    assert_eq!(role(a.user.id.clone()).await, "admin", "role:owner is never granted");
    assert!(a.mapped_scopes.contains(&"admin:all".to_owned()));
    // Leaving the group demotes to the default role at the next sign-in.
    provision::admit(&app.db, &c, &ident("s1", "a@roles.example", &["Staff"]))
        .await
        .unwrap();
    assert_eq!(role(a.user.id.clone()).await, "viewer");
    let b = provision::admit(&app.db, &c, &ident("s2", "b@roles.example", &["Staff"]))
        .await
        .unwrap();
    assert_eq!(role(b.user.id.clone()).await, "viewer");
}
