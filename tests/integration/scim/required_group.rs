//! `requireMappedGroup` (issue 15, SPEC §7): where a directory requires a mapped group, a person
//! removed from every mapped group is suspended like `active: false` (the live session, signed in
//! through the real oidc-provider, refused at its next request; sessions revoked), a mapped group
//! admits them again, renaming a group away from its mapping counts as leaving it, and turning the
//! setting off restores everyone. The setting needs a mapping (400, nothing written).

use reqwest::Method;
use serde_json::json;

use super::effects::{configure_oidc, org_get, sign_in_alice};
use super::{app_with_dns, create_group, create_user, directory, linked, membership, scim, user, verify, Dir};
use crate::support::dns::DnsServer;
use crate::support::oidc;
use crate::support::{assert_envelope_error, session_cookie, Owner, TestApp};

async fn patch_dir(app: &TestApp, o: &Owner, d: &Dir, body: serde_json::Value) -> crate::support::Resp {
    app.call(
        Method::PATCH,
        &format!("/api/user/organizations/{}/directories/{}", o.org_id, d.id),
        Some(&o.key),
        Some(body),
    )
    .await
}

async fn members_patch(app: &TestApp, d: &Dir, group: &str, op: serde_json::Value) {
    let r = scim(
        app,
        d,
        Method::PATCH,
        &format!("/Groups/{group}"),
        Some(json!({ "Operations": [op] })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn required(app: &TestApp, dir_id: &str) -> bool {
    sqlx::query_scalar("SELECT require_mapped_group FROM scim_directories WHERE id = $1")
        .bind(dir_id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_setting_needs_a_mapping() {
    let app = TestApp::start().await;
    let o = app.owner("rq0").await;
    let d = directory(&app, &o, "okta").await;
    let r = patch_dir(&app, &o, &d, json!({"requireMappedGroup": true})).await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    assert!(r.text.contains("requireMappedGroup"), "{}", r.text);
    assert!(!required(&app, &d.id).await);
    // clearing the mappings of a directory that requires one is refused the same way
    let r = patch_dir(
        &app,
        &o,
        &d,
        json!({"groupRoleMappings": {"Staff": "member"}, "requireMappedGroup": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["requireMappedGroup"], true, "{}", r.text);
    let r = patch_dir(&app, &o, &d, json!({"groupRoleMappings": {}})).await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    let mappings: serde_json::Value =
        sqlx::query_scalar("SELECT group_role_mappings FROM scim_directories WHERE id = $1")
            .bind(&d.id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(mappings, json!({"Staff": "member"}));
    let r = patch_dir(&app, &o, &d, json!({"requireMappedGroup": "yes"})).await;
    assert_eq!(r.status, 400, "{}", r.text);
}

#[tokio::test]
async fn removal_from_every_mapped_group_suspends_where_the_directory_requires_one() {
    let p = oidc::provider().await;
    let dns = DnsServer::start().await;
    let app = app_with_dns(&dns).await;
    let o = app.owner("rq").await;
    verify(&app, &dns, &o, "example.com").await;
    configure_oidc(&app, &o, &p.issuer).await;

    let r = sign_in_alice(&app, "rq").await;
    assert_eq!(r.status, 302, "{}", r.text);
    let cookie = session_cookie(&r).expect("session");
    let me = app.me_with_cookie(&cookie).await;
    let alice = me.body["data"]["user"]["id"].as_str().unwrap().to_owned();

    let d = directory(&app, &o, "okta").await;
    let r = patch_dir(
        &app,
        &o,
        &d,
        json!({"groupRoleMappings": {"Portico Admins": "admin", "Staff": "member"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["requireMappedGroup"], false, "{}", r.text);
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
    let staff = create_group(&app, &d, "Staff", &[&sid]).await;
    let admins = create_group(&app, &d, "Portico Admins", &[&sid]).await;
    assert_eq!(
        membership(&app, &o.org_id, &alice).await,
        Some(("admin".into(), "active".into()))
    );

    let r = patch_dir(&app, &o, &d, json!({"requireMappedGroup": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["requireMappedGroup"], true, "{}", r.text);
    assert_eq!(
        membership(&app, &o.org_id, &alice).await,
        Some(("admin".into(), "active".into()))
    );

    // out of one mapped group, still in another: a member, session alive
    let remove = json!({"op": "remove", "path": format!("members[value eq \"{sid}\"]")});
    members_patch(&app, &d, &admins, remove.clone()).await;
    assert_eq!(
        membership(&app, &o.org_id, &alice).await,
        Some(("member".into(), "active".into()))
    );
    assert_eq!(org_get(&app, &cookie, &o.org_id).await, 200);

    // out of the last one: suspended, and the live session is refused at its next request
    members_patch(&app, &d, &staff, remove.clone()).await;
    assert_eq!(
        membership(&app, &o.org_id, &alice).await,
        Some(("member".into(), "suspended".into()))
    );
    assert_eq!(org_get(&app, &cookie, &o.org_id).await, 401);
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL")
        .bind(&alice)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(live, 0);
    let reason: String = sqlx::query_scalar(
        "SELECT details->>'reason' FROM audit_events WHERE action = 'scim.membership.suspend' AND target_id = $1",
    )
    .bind(&alice)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(reason, "notInMappedGroup");

    // a mapped group admits her again
    let add = json!({"op": "add", "path": "members", "value": [{"value": sid}]});
    members_patch(&app, &d, &staff, add).await;
    assert_eq!(
        membership(&app, &o.org_id, &alice).await,
        Some(("member".into(), "active".into()))
    );

    // renaming her only group away from its mapping is leaving it
    members_patch(
        &app,
        &d,
        &staff,
        json!({"op": "replace", "path": "displayName", "value": "Former staff"}),
    )
    .await;
    assert_eq!(
        membership(&app, &o.org_id, &alice).await,
        Some(("member".into(), "suspended".into()))
    );

    // a newcomer in no mapped group gets no membership; a mapped group gives one
    let carol_scim = create_user(&app, &d, "carol", "carol@example.com").await;
    let carol = linked(&app, &carol_scim)
        .await
        .expect("carol linked by her verified address");
    assert_eq!(membership(&app, &o.org_id, &carol).await, None);
    members_patch(
        &app,
        &d,
        &admins,
        json!({"op": "add", "path": "members", "value": [{"value": carol_scim}]}),
    )
    .await;
    assert_eq!(
        membership(&app, &o.org_id, &carol).await,
        Some(("admin".into(), "active".into()))
    );

    // turning the requirement off restores the people it suspended
    let r = patch_dir(&app, &o, &d, json!({"requireMappedGroup": false})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        membership(&app, &o.org_id, &alice).await,
        Some(("member".into(), "active".into()))
    );
    // the owner is never changed by a directory
    assert_eq!(
        membership(&app, &o.org_id, &o.user_id).await.map(|m| m.0),
        Some("owner".into())
    );
}
