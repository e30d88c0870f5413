//! Entra ID's and Okta's requests as their documentation shows them (`fixtures/`), each with
//! the database state it must leave.

use reqwest::Method;
use serde_json::Value;

use super::{directory, scim};
use crate::support::TestApp;

fn fixture(name: &str, ids: &[(&str, &str)]) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/integration/scim/fixtures")
        .join(name);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (k, v) in ids {
        text = text.replace(&format!("{{{{{k}}}}}"), v);
    }
    serde_json::from_str(&text).unwrap()
}

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct UserRow {
    user_name: String,
    external_id: Option<String>,
    primary_email: Option<String>,
    active: bool,
    resource: Value,
    version: i64,
}

async fn user_row(app: &TestApp, id: &str) -> UserRow {
    sqlx::query_as(
        "SELECT user_name, external_id, primary_email, active, resource, version FROM scim_users WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn members(app: &TestApp, group: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT user_id FROM scim_group_members WHERE group_id = $1 ORDER BY user_id")
        .bind(group)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn entra_documented_requests() {
    let app = TestApp::start().await;
    let o = app.owner("entra").await;
    let d = directory(&app, &o, "entra").await;

    let r = scim(
        &app,
        &d,
        Method::POST,
        "/Users",
        Some(fixture("entra/create_user.json", &[])),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.headers["location"].to_str().unwrap(),
        r.body["meta"]["location"].as_str().unwrap()
    );
    let uid = r.body["id"].as_str().unwrap().to_owned();
    let row = user_row(&app, &uid).await;
    assert_eq!(
        row.user_name,
        "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@entra.test"
    );
    assert_eq!(row.external_id.as_deref(), Some("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"));
    assert_eq!(
        row.primary_email.as_deref(),
        Some("Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@entra.test")
    );
    assert!(row.active);
    assert!(row.resource.get("meta").is_none() && row.resource.get("schemas").is_none());
    assert_eq!(
        row.resource["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "Sales"
    );
    assert_eq!(
        row.resource["urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"]["CustomAttribute"],
        "kept"
    );

    // Entra's existence check before creating
    let q = "/Users?filter=userName+eq+%22Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1%40entra.test%22";
    let r = scim(&app, &d, Method::GET, q, None).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    let r = scim(
        &app,
        &d,
        Method::GET,
        "/Users?filter=userName+eq+%22non-existent%22",
        None,
    )
    .await;
    assert_eq!(r.body["totalResults"], 0, "{}", r.text);

    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Users/{uid}"),
        Some(fixture("entra/patch_user_multi.json", &[])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let row = user_row(&app, &uid).await;
    assert_eq!(row.primary_email.as_deref(), Some("updatedEmail@entra.test"));
    assert_eq!(row.resource["name"]["familyName"], "updatedFamilyName");
    assert_eq!(row.resource["emails"].as_array().unwrap().len(), 1);
    assert_eq!(row.version, 2);

    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Users/{uid}"),
        Some(fixture("entra/patch_user_single.json", &[])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        user_row(&app, &uid).await.user_name,
        "5b50642d-79fc-4410-9e90-4c077cdd1a59@entra.test"
    );

    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Users/{uid}"),
        Some(fixture("entra/disable_user.json", &[])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["active"], false);
    assert!(!user_row(&app, &uid).await.active);
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Users/{uid}"),
        Some(fixture("entra/enable_user.json", &[])),
    )
    .await;
    assert_eq!(r.body["active"], true, "{}", r.text);
    assert!(user_row(&app, &uid).await.active);

    let r = scim(
        &app,
        &d,
        Method::POST,
        "/Groups",
        Some(fixture("entra/create_group.json", &[])),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let gid = r.body["id"].as_str().unwrap().to_owned();
    let r = scim(
        &app,
        &d,
        Method::GET,
        "/Groups?excludedAttributes=members&filter=displayName+eq+%22displayName%22",
        None,
    )
    .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    assert!(r.body["Resources"][0].get("members").is_none(), "{}", r.text);

    let other = super::create_user(&app, &d, "other@entra.test", "other@entra.test").await;
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Some(fixture("entra/add_member.json", &[("USER_ID", &other)])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Some(fixture("entra/add_member.json", &[("USER_ID", &uid)])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut both = vec![uid.clone(), other.clone()];
    both.sort();
    assert_eq!(members(&app, &gid).await, both);
    let r = scim(
        &app,
        &d,
        Method::GET,
        &format!("/Groups?filter=id+eq+%22{gid}%22+and+members+eq+%22{uid}%22"),
        None,
    )
    .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    // remove-a-member with the member in value removes that member only
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Some(fixture("entra/remove_member.json", &[("USER_ID", &uid)])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(members(&app, &gid).await, vec![other.clone()]);
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Some(fixture("entra/patch_group_name.json", &[])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let name: String = sqlx::query_scalar("SELECT display_name FROM scim_groups WHERE id = $1")
        .bind(&gid)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(name, "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName");
    assert_eq!(
        members(&app, &gid).await,
        vec![other.clone()],
        "a rename keeps the members"
    );

    let r = scim(&app, &d, Method::DELETE, &format!("/Users/{uid}"), None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(app.count("scim_users").await, 1);
    let r = scim(&app, &d, Method::DELETE, &format!("/Groups/{gid}"), None).await;
    assert_eq!(r.status, 204);
    assert_eq!(app.count("scim_group_members").await, 0);
}

#[tokio::test]
async fn okta_documented_requests() {
    let app = TestApp::start().await;
    let o = app.owner("okta").await;
    let d = directory(&app, &o, "okta").await;

    let r = scim(
        &app,
        &d,
        Method::GET,
        "/Users?filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100",
        None,
    )
    .await;
    assert_eq!(r.body["totalResults"], 0, "{}", r.text);
    let r = scim(
        &app,
        &d,
        Method::POST,
        "/Users",
        Some(fixture("okta/create_user.json", &[])),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        r.body.get("password").is_none(),
        "a password is never stored or returned: {}",
        r.text
    );
    let uid = r.body["id"].as_str().unwrap().to_owned();
    let row = user_row(&app, &uid).await;
    assert_eq!(row.external_id.as_deref(), Some("00ujl29u0le5T6Aj10h7"));
    assert!(row.resource.get("password").is_none());
    assert_eq!(row.resource["locale"], "en-US");

    let r = scim(
        &app,
        &d,
        Method::PUT,
        &format!("/Users/{uid}"),
        Some(fixture("okta/put_user.json", &[("USER_ID", &uid)])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let row = user_row(&app, &uid).await;
    assert_eq!(row.resource["name"]["middleName"], "Test");
    assert_eq!(row.resource["displayName"], "Another Test User");
    assert!(row.resource.get("meta").is_none());

    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Users/{uid}"),
        Some(fixture("okta/deactivate_user.json", &[])),
    )
    .await;
    assert_eq!(r.status, 200, "PATCH answers 200 with the user: {}", r.text);
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["id"], uid.as_str());
    assert!(!user_row(&app, &uid).await.active);

    // group push
    let r = scim(
        &app,
        &d,
        Method::POST,
        "/Groups",
        Some(fixture("okta/create_group.json", &[])),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let gid = r.body["id"].as_str().unwrap().to_owned();
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Some(fixture("okta/rename_group.json", &[("GROUP_ID", &gid)])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["displayName"], "Test SCIMv2 renamed");
    let second = super::create_user(&app, &d, "second.user@okta.local", "second.user@okta.local").await;
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Some(fixture("okta/replace_members.json", &[("USER_ID", &uid)])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(members(&app, &gid).await, vec![uid.clone()]);
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Some(fixture(
            "okta/update_members.json",
            &[("USER_ID", &uid), ("USER_ID_2", &second)],
        )),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(members(&app, &gid).await, vec![second.clone()]);
    // Okta's replace of members with the full list (group push) replaces, it does not add
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Some(fixture("okta/replace_members.json", &[("USER_ID", &uid)])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(members(&app, &gid).await, vec![uid.clone()]);
    let r = scim(&app, &d, Method::GET, &format!("/Groups/{gid}"), None).await;
    assert_eq!(r.body["members"][0]["value"], uid.as_str());
}
