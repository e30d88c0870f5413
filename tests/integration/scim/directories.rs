//! Directories in the Organization API: creation (owner), the token shown once and stored
//! hashed, rotation killing the old token at once, disabling, and isolation between
//! directories and organizations.

use reqwest::Method;
use serde_json::json;

use super::{assert_scim_error, create_user, directory, scim, scim_with};
use crate::support::{assert_envelope_error, TestApp};

#[tokio::test]
async fn create_read_update_rotate_and_the_token_is_shown_once() {
    let app = TestApp::start().await;
    let o = app.owner("dirs").await;
    let d = directory(&app, &o, "okta").await;
    assert!(d.id.starts_with("dir_"));
    assert_eq!(d.base, format!("{}/scim/v2/{}", app.base, d.id));
    assert!(d.token.starts_with("pdt_"));
    // stored as a digest only
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM scim_directories WHERE id = $1")
        .bind(&d.id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, portico_core::token::digest(&d.token));
    let r = app
        .call(
            Method::GET,
            &format!("/api/user/organizations/{}/directories/{}", o.org_id, d.id),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["data"].get("token").is_none(), "{}", r.text);
    assert!(!r.text.contains(&d.token));
    let list = app
        .call(
            Method::GET,
            &format!("/api/user/organizations/{}/directories", o.org_id),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert!(list.body["pagination"].is_object());

    // bad input: clear errors, nothing written
    for body in [
        json!({"name": "x", "provider": "azure-ad"}),
        json!({"name": "", "provider": "okta"}),
        json!({"name": "x", "provider": "okta", "extra": 1}),
    ] {
        let r = app
            .call(
                Method::POST,
                &format!("/api/user/organizations/{}/directories", o.org_id),
                Some(&o.key),
                Some(body),
            )
            .await;
        assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    }
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/user/organizations/{}/directories/{}", o.org_id, d.id),
            Some(&o.key),
            Some(json!({"groupRoleMappings": {"Admins": "owner"}})),
        )
        .await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/user/organizations/{}/directories/{}", o.org_id, d.id),
            Some(&o.key),
            Some(json!({"name": "Okta prod", "groupRoleMappings": {"Portico Admins": "admin"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["groupRoleMappings"], json!({"Portico Admins": "admin"}));
    assert_eq!(app.count("scim_directories").await, 1);

    // rotation: the old token is dead at once, the new one works
    let old = d.token.clone();
    let r = app
        .call(
            Method::POST,
            &format!("/api/user/organizations/{}/directories/{}/token", o.org_id, d.id),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = r.body["data"]["token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let r = scim_with(&app, &d.path, Some(&old), Method::GET, "/Users", None, &[]).await;
    assert_scim_error(&r, 401, None);
    let r = scim_with(&app, &d.path, Some(&new), Method::GET, "/Users", None, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // disabled: the token is refused and nothing changes
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/user/organizations/{}/directories/{}", o.org_id, d.id),
            Some(&o.key),
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = scim_with(
        &app,
        &d.path,
        Some(&new),
        Method::POST,
        "/Users",
        Some(super::user("u@x.test", "u@x.test")),
        &[],
    )
    .await;
    assert_scim_error(&r, 403, None);
    assert_eq!(app.count("scim_users").await, 0);

    // audit: every change, never the token
    let events: Vec<(String, String)> =
        sqlx::query_as("SELECT action, details::text FROM audit_events WHERE action LIKE 'directory.%' ORDER BY id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        actions,
        [
            "directory.create",
            "directory.update",
            "directory.token.rotate",
            "directory.update"
        ]
    );
    assert!(events.iter().all(|e| !e.1.contains(&old) && !e.1.contains(&new)));
}

#[tokio::test]
async fn a_token_reaches_its_own_directory_only_and_keys_reach_no_directory() {
    let app = TestApp::start().await;
    let a = app.owner("iso-a").await;
    let b = app.owner("iso-b").await;
    let da = directory(&app, &a, "okta").await;
    let da2 = directory(&app, &a, "entra").await;
    let db = directory(&app, &b, "generic").await;
    let uid = create_user(&app, &da, "alice@iso-a.test", "alice@iso-a.test").await;
    let routes = [
        (Method::GET, "/ServiceProviderConfig".to_owned()),
        (Method::GET, "/Schemas".to_owned()),
        (Method::GET, "/ResourceTypes".to_owned()),
        (Method::GET, "/Users".to_owned()),
        (Method::GET, format!("/Users/{uid}")),
        (Method::DELETE, format!("/Users/{uid}")),
        (Method::GET, "/Groups".to_owned()),
        (Method::POST, "/.search".to_owned()),
    ];
    for (m, rest) in &routes {
        for token in [
            Some(da2.token.as_str()),
            Some(db.token.as_str()),
            Some(a.key.as_str()),
            Some(b.key.as_str()),
            Some("pdt_forged"),
            None,
        ] {
            let body = (*m == Method::POST).then(|| json!({}));
            let r = scim_with(&app, &da.path, token, m.clone(), rest, body, &[]).await;
            assert_scim_error(&r, 401, None);
        }
    }
    // the user is still there, untouched
    let r = scim(&app, &da, Method::GET, &format!("/Users/{uid}"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // another directory's id cannot reach this user
    let r = scim(&app, &da2, Method::GET, &format!("/Users/{uid}"), None).await;
    assert_scim_error(&r, 404, None);
    // another organization's key cannot see the directory
    let r = app
        .call(
            Method::GET,
            &format!("/api/user/organizations/{}/directories/{}", a.org_id, da.id),
            Some(&b.key),
            None,
        )
        .await;
    assert_envelope_error(&r, 404, "NOT_FOUND");
    let r = app
        .call(
            Method::GET,
            &format!("/api/user/organizations/{}/directories/{}", b.org_id, da.id),
            Some(&b.key),
            None,
        )
        .await;
    assert_envelope_error(&r, 404, "NOT_FOUND");
}
