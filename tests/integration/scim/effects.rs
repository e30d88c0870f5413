//! What directory sync does to people: linking by verified-domain email, membership and role
//! from mapped groups, suspension that ends a live session signed in through the real
//! oidc-provider at its next request, reactivation, deletion, and directory deletion.

use reqwest::Method;
use serde_json::json;

use super::{app_with_dns, create_group, directory, linked, membership, scim, user, verify};
use crate::support::dns::DnsServer;
use crate::support::oidc::{self, browser};
use crate::support::{session_cookie, Owner, TestApp};

pub(super) async fn configure_oidc(app: &TestApp, o: &Owner, issuer: &str) {
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

pub(super) async fn sign_in_alice(app: &TestApp, slug: &str) -> crate::support::Resp {
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

pub(super) async fn org_get(app: &TestApp, cookie: &str, org: &str) -> u16 {
    app.http
        .get(format!("{}/api/user/organizations/{org}", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn suspension_ends_a_live_oidc_session_and_mapped_groups_give_roles() {
    let p = oidc::provider().await;
    let dns = DnsServer::start().await;
    let app = app_with_dns(&dns).await;
    let o = app.owner("fx").await;
    verify(&app, &dns, &o, "example.com").await;
    configure_oidc(&app, &o, &p.issuer).await;

    // alice signs in through the organization's IdP: a live session
    let r = sign_in_alice(&app, "fx").await;
    assert_eq!(r.status, 302, "{}", r.text);
    let cookie = session_cookie(&r).expect("session");
    let me = app.me_with_cookie(&cookie).await;
    assert_eq!(me.status, 200, "{}", me.text);
    let alice = me.body["data"]["user"]["id"].as_str().unwrap().to_owned();

    let d = directory(&app, &o, "okta").await;
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/user/organizations/{}/directories/{}", o.org_id, d.id),
            Some(&o.key),
            Some(json!({"groupRoleMappings": {"Portico Admins": "admin", "Staff": "member"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // the SCIM user links to alice by her address in the verified domain
    let r = scim(
        &app,
        &d,
        Method::POST,
        "/Users",
        Some(user("alice", "alice@example.com")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let sid = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(linked(&app, &sid).await.as_deref(), Some(alice.as_str()));
    assert_eq!(
        membership(&app, &o.org_id, &alice).await,
        Some(("member".into(), "active".into()))
    );

    // a mapped group gives the role; leaving it takes it away
    let g = create_group(&app, &d, "portico admins", &[&sid]).await;
    assert_eq!(
        membership(&app, &o.org_id, &alice).await,
        Some(("admin".into(), "active".into()))
    );
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Groups/{g}"),
        Some(json!({"Operations": [{"op": "remove", "path": format!("members[value eq \"{sid}\"]")}]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        membership(&app, &o.org_id, &alice).await,
        Some(("member".into(), "active".into()))
    );
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Groups/{g}"),
        Some(json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": sid}]}]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        membership(&app, &o.org_id, &alice).await,
        Some(("admin".into(), "active".into()))
    );
    assert_eq!(org_get(&app, &cookie, &o.org_id).await, 200);

    // active:false suspends and the very next request with the live session is refused
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Users/{sid}"),
        Some(json!({"Operations": [{"op": "Replace", "path": "active", "value": "False"}]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        membership(&app, &o.org_id, &alice).await,
        Some(("admin".into(), "suspended".into()))
    );
    assert_eq!(app.me_with_cookie(&cookie).await.status, 401);
    assert_eq!(org_get(&app, &cookie, &o.org_id).await, 401);
    let members = app
        .call(
            Method::GET,
            &format!("/api/user/organizations/{}/members", o.org_id),
            Some(&o.key),
            None,
        )
        .await;
    let row = members.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["userId"] == alice.as_str())
        .cloned()
        .unwrap();
    assert_eq!(row["status"], "suspended", "{}", members.text);
    let revoked: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT revoked_at FROM sessions WHERE user_id = $1")
            .bind(&alice)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(revoked.is_some());

    // reactivation restores the membership with its mapped role
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Users/{sid}"),
        Some(json!({"Operations": [{"op": "replace", "value": {"active": true}}]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        membership(&app, &o.org_id, &alice).await,
        Some(("admin".into(), "active".into()))
    );

    // DELETE suspends again
    let r = scim(&app, &d, Method::DELETE, &format!("/Users/{sid}"), None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        membership(&app, &o.org_id, &alice).await,
        Some(("admin".into(), "suspended".into()))
    );

    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_events WHERE actor_kind = 'directory' AND action LIKE 'scim.membership.%' ORDER BY id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "scim.membership.role",
            "scim.membership.role",
            "scim.membership.role",
            "scim.membership.suspend",
            "scim.membership.restore",
            "scim.membership.suspend"
        ]
    );
}

#[tokio::test]
async fn linking_rules_and_directory_deletion() {
    let dns = DnsServer::start().await;
    let app = app_with_dns(&dns).await;
    let o = app.owner("lk").await;
    verify(&app, &dns, &o, "lk-corp.test").await;
    verify(&app, &dns, &o, "lk.example").await;
    let d = directory(&app, &o, "entra").await;

    // an address outside the verified domains links nobody and creates no Portico user
    let users_before = app.count("users").await;
    let r = scim(
        &app,
        &d,
        Method::POST,
        "/Users",
        Some(user("x@elsewhere.test", "x@elsewhere.test")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(linked(&app, r.body["id"].as_str().unwrap()).await, None);
    assert_eq!(app.count("users").await, users_before);

    // in the verified domain: a Portico user is made and is a member
    let r = scim(
        &app,
        &d,
        Method::POST,
        "/Users",
        Some(user("dana", "dana@lk-corp.test")),
    )
    .await;
    let dana_scim = r.body["id"].as_str().unwrap().to_owned();
    let dana = linked(&app, &dana_scim).await.expect("linked");
    assert_eq!(
        membership(&app, &o.org_id, &dana).await,
        Some(("member".into(), "active".into()))
    );

    // a second SCIM user with the same address is created (never refused) but not linked
    let r = scim(
        &app,
        &d,
        Method::POST,
        "/Users",
        Some(user("dana-2", "dana@lk-corp.test")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(linked(&app, r.body["id"].as_str().unwrap()).await, None);

    // an owner is never changed by a directory
    let r = scim(&app, &d, Method::POST, "/Users", Some(user("owner", &o.email))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let own = r.body["id"].as_str().unwrap().to_owned();
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Users/{own}"),
        Some(json!({"Operations": [{"op": "replace", "path": "active", "value": false}]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(linked(&app, &own).await.as_deref(), Some(o.user_id.as_str()));
    assert_eq!(
        membership(&app, &o.org_id, &o.user_id).await,
        Some(("owner".into(), "active".into()))
    );

    // deleting the directory deprovisions what it synced
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/user/organizations/{}/directories/{}", o.org_id, d.id),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        membership(&app, &o.org_id, &dana).await,
        Some(("member".into(), "suspended".into()))
    );
    assert_eq!(app.count("scim_users").await, 0);
    let r = app
        .call(
            Method::GET,
            &format!("/api/user/organizations/{}", o.org_id),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "the owner keeps access: {}", r.text);
}

#[tokio::test]
async fn a_sign_in_links_the_scim_user_waiting_for_its_subject_and_suspension_refuses_sign_in() {
    let p = oidc::provider().await;
    let app = TestApp::start().await;
    let o = app.owner("xl").await;
    configure_oidc(&app, &o, &p.issuer).await;
    let r = sign_in_alice(&app, "xl").await;
    assert_eq!(r.status, 302, "{}", r.text);
    let alice = app.me_with_cookie(&session_cookie(&r).unwrap()).await.body["data"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // example.com is not verified here: the SCIM user waits for a sign-in with subject "alice"
    let d = directory(&app, &o, "okta").await;
    let mut body = user("alice.x", "alice@example.com");
    body["externalId"] = json!("alice");
    let r = scim(&app, &d, Method::POST, "/Users", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let sid = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(linked(&app, &sid).await, None);

    // the returning sign-in links it
    let r = sign_in_alice(&app, "xl").await;
    assert_eq!(r.status, 302, "{}", r.text);
    assert!(session_cookie(&r).is_some());
    assert_eq!(linked(&app, &sid).await.as_deref(), Some(alice.as_str()));

    // suspended: the live session is refused, and a new sign-in is refused with no session
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Users/{sid}"),
        Some(json!({"Operations": [{"op": "replace", "path": "active", "value": false}]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL")
        .bind(&alice)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(live, 0);
    let r = sign_in_alice(&app, "xl").await;
    assert!(
        session_cookie(&r).is_none(),
        "a suspended member gets no session: {:?}",
        r.headers
    );
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL")
        .bind(&alice)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(live, 0);
    let refused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE outcome = 'failure' AND organization_id = $1
         AND (reason = 'MEMBERSHIP_SUSPENDED' OR details::text LIKE '%MEMBERSHIP_SUSPENDED%')",
    )
    .bind(&o.org_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(refused, 1, "the refusal is audited with its reason");

    // reactivated: signing in works again
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Users/{sid}"),
        Some(json!({"Operations": [{"op": "replace", "path": "active", "value": true}]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = sign_in_alice(&app, "xl").await;
    let cookie = session_cookie(&r).expect("signed in again");
    assert_eq!(org_get(&app, &cookie, &o.org_id).await, 200);
}
