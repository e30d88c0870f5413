//! The SCIM protocol rules: filters compiled to SQL (every operator, logic, grouping, value
//! paths), paging, projection, ETags, uniqueness, caps and throttling, SCIM errors, and
//! concurrent PATCHes of one group.

use reqwest::Method;
use serde_json::{json, Value};

use super::{assert_scim_error, create_group, create_user, directory, scim, scim_with, user};
use crate::support::TestApp;

fn enc(f: &str) -> String {
    url::form_urlencoded::byte_serialize(f.as_bytes()).collect()
}

async fn names(app: &TestApp, d: &super::Dir, filter: &str) -> Vec<String> {
    let r = scim(app, d, Method::GET, &format!("/Users?filter={}", enc(filter)), None).await;
    assert_eq!(r.status, 200, "{filter}: {}", r.text);
    let mut v: Vec<String> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    assert_eq!(r.body["totalResults"], v.len(), "{}", r.text);
    v
}

#[tokio::test]
async fn filters_cover_the_grammar_and_compile_to_bound_parameters() {
    let app = TestApp::start().await;
    let o = app.owner("flt").await;
    let d = directory(&app, &o, "generic").await;
    let ann = create_user(&app, &d, "Ann@Corp.test", "ann@corp.test").await;
    create_user(&app, &d, "bob@corp.test", "bob@corp.test").await;
    let mut carl = user("carl@other.test", "carl@other.test");
    carl["emails"] =
        json!([{ "value": "carl@home.test", "type": "home" }, { "value": "carl@other.test", "type": "work" }]);
    carl["active"] = json!(false);
    carl["title"] = json!("Engineer");
    carl["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
        json!({ "employeeNumber": "42", "department": "R&D" });
    let r = scim(&app, &d, Method::POST, "/Users", Some(carl)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let g = create_group(&app, &d, "Engineering", &[&ann]).await;

    let all = ["Ann@Corp.test", "bob@corp.test", "carl@other.test"];
    let cases: &[(&str, &[&str])] = &[
        (r#"userName eq "ann@corp.test""#, &["Ann@Corp.test"]),
        (r#"USERNAME EQ "ANN@CORP.TEST""#, &["Ann@Corp.test"]),
        (r#"userName ne "ann@corp.test""#, &["bob@corp.test", "carl@other.test"]),
        (r#"userName co "corp""#, &["Ann@Corp.test", "bob@corp.test"]),
        (r#"userName sw "b""#, &["bob@corp.test"]),
        (r#"userName ew "other.test""#, &["carl@other.test"]),
        (r#"userName gt "b""#, &["bob@corp.test", "carl@other.test"]),
        (r#"userName le "bob@corp.test""#, &["Ann@Corp.test", "bob@corp.test"]),
        (r#"title pr"#, &["carl@other.test"]),
        (r#"active eq false"#, &["carl@other.test"]),
        (r#"active eq true and userName sw "a""#, &["Ann@Corp.test"]),
        (
            r#"userName sw "a" or userName sw "c""#,
            &["Ann@Corp.test", "carl@other.test"],
        ),
        (r#"not (userName sw "a")"#, &["bob@corp.test", "carl@other.test"]),
        (
            r#"(userName sw "a" or userName sw "b") and active eq true"#,
            &["Ann@Corp.test", "bob@corp.test"],
        ),
        (r#"emails[type eq "home" and value co "carl"]"#, &["carl@other.test"]),
        (r#"emails.value ew "@corp.test""#, &["Ann@Corp.test", "bob@corp.test"]),
        (r#"emails co "home""#, &["carl@other.test"]),
        (r#"name.givenName eq "given""#, &all),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "42""#,
            &["carl@other.test"],
        ),
        (r#"externalId eq "ext-bob@corp.test""#, &["bob@corp.test"]),
        (r#"meta.created gt "2000-01-01T00:00:00Z""#, &all),
        (r#"meta.lastModified lt "2000-01-01T00:00:00Z""#, &[]),
        (r#"userName eq "x\" or \"1\"=\"1""#, &[]),
        (r#"userName eq "' OR 1=1 --""#, &[]),
    ];
    for (f, want) in cases {
        assert_eq!(
            names(&app, &d, f).await,
            want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "{f}"
        );
    }
    let r = scim(
        &app,
        &d,
        Method::GET,
        &format!("/Groups?filter={}", enc(&format!(r#"members[value eq "{ann}"]"#))),
        None,
    )
    .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    assert_eq!(r.body["Resources"][0]["id"], g.as_str());
    let r = scim(
        &app,
        &d,
        Method::GET,
        &format!("/Groups?filter={}", enc(r#"displayName eq "engineering""#)),
        None,
    )
    .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);

    for bad in [
        "userName eq",
        "userName zz \"a\"",
        "active gt true",
        "meta.created gt \"yesterday\"",
        "((userName eq \"a\")",
        &format!("{}userName eq \"a\"{}", "(".repeat(33), ")".repeat(33)),
        &format!("userName eq \"{}\"", "a".repeat(5000)),
    ] {
        let r = scim(&app, &d, Method::GET, &format!("/Users?filter={}", enc(bad)), None).await;
        assert_scim_error(&r, 400, Some("invalidFilter"));
    }
    // 32 redundant parentheses are still accepted
    let ok = format!("{}userName eq \"bob@corp.test\"{}", "(".repeat(32), ")".repeat(32));
    assert_eq!(names(&app, &d, &ok).await, ["bob@corp.test"]);
    // POST /.search takes the same filter
    let r = scim(&app, &d, Method::POST, "/Users/.search", Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName sw \"bob\"", "attributes": ["userName"]}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["totalResults"], 1);
    assert!(r.body["Resources"][0].get("emails").is_none(), "{}", r.text);
    let r = scim(
        &app,
        &d,
        Method::POST,
        "/.search",
        Some(json!({"filter": "externalId pr"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["totalResults"], 3, "{}", r.text);
}

#[tokio::test]
async fn paging_projection_etags_uniqueness_and_errors() {
    let app = TestApp::start().await;
    let o = app.owner("pg").await;
    let d = directory(&app, &o, "generic").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(create_user(&app, &d, &format!("u{i}@pg.test"), &format!("u{i}@pg.test")).await);
    }
    let r = scim(&app, &d, Method::GET, "/Users?startIndex=2&count=2", None).await;
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(r.body["startIndex"], 2);
    assert_eq!(r.body["itemsPerPage"], 2);
    assert_eq!(r.body["Resources"][0]["id"], ids[1].as_str());
    let r = scim(&app, &d, Method::GET, "/Users?count=0", None).await;
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(r.body["Resources"], json!([]));
    let r = scim(&app, &d, Method::GET, "/Users?count=100000", None).await;
    assert_eq!(r.body["itemsPerPage"], 5);
    let r = scim(&app, &d, Method::GET, "/Users?count=abc", None).await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    let r = scim(
        &app,
        &d,
        Method::GET,
        &format!("/Users/{}?attributes=userName", ids[0]),
        None,
    )
    .await;
    assert_eq!(r.body["userName"], "u0@pg.test");
    assert_eq!(r.body["id"], ids[0].as_str());
    assert!(
        r.body.get("emails").is_none() && r.body.get("name").is_none(),
        "{}",
        r.text
    );
    let r = scim(
        &app,
        &d,
        Method::GET,
        &format!("/Users/{}?excludedAttributes=emails,name.givenName", ids[0]),
        None,
    )
    .await;
    assert!(r.body.get("emails").is_none(), "{}", r.text);
    assert_eq!(r.body["name"], json!({"familyName": "Family"}));

    // ETags
    let r = scim(&app, &d, Method::GET, &format!("/Users/{}", ids[0]), None).await;
    let etag = r.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(r.body["meta"]["version"], etag.as_str());
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "displayName", "value": "U Zero"}]});
    let stale = "W/\"999\"";
    let r = scim_with(
        &app,
        &d.path,
        Some(&d.token),
        Method::PATCH,
        &format!("/Users/{}", ids[0]),
        Some(patch.clone()),
        &[("if-match", stale)],
    )
    .await;
    assert_scim_error(&r, 412, None);
    let r = scim_with(
        &app,
        &d.path,
        Some(&d.token),
        Method::PATCH,
        &format!("/Users/{}", ids[0]),
        Some(patch.clone()),
        &[("if-match", &etag)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["displayName"], "U Zero");
    assert_ne!(r.headers["etag"].to_str().unwrap(), etag);
    let r = scim_with(
        &app,
        &d.path,
        Some(&d.token),
        Method::DELETE,
        &format!("/Users/{}", ids[0]),
        None,
        &[("if-match", &etag)],
    )
    .await;
    assert_scim_error(&r, 412, None);

    // uniqueness is case-insensitive, also on rename
    let r = scim(&app, &d, Method::POST, "/Users", Some(user("U1@PG.TEST", "x@pg.test"))).await;
    assert_scim_error(&r, 409, Some("uniqueness"));
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Users/{}", ids[2]),
        Some(json!({"Operations": [{"op": "replace", "path": "userName", "value": "u1@pg.test"}]})),
    )
    .await;
    assert_scim_error(&r, 409, Some("uniqueness"));
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Users/{}", ids[2]),
        Some(json!({"Operations": [{"op": "replace", "path": "userName", "value": "renamed@pg.test"}]})),
    )
    .await;
    assert_eq!(r.body["userName"], "renamed@pg.test", "{}", r.text);
    // ... but the same userName in another directory is fine
    let d2 = directory(&app, &o, "okta").await;
    create_user(&app, &d2, "u1@pg.test", "u1@pg.test").await;

    // errors
    let r = scim(&app, &d, Method::GET, "/Users/scu_01HZZZZZZZZZZZZZZZZZZZZZZZ", None).await;
    assert_scim_error(&r, 404, None);
    let r = scim(
        &app,
        &d,
        Method::POST,
        "/Users",
        Some(json!({"name": {"givenName": "no userName"}})),
    )
    .await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    let r = scim_with(
        &app,
        &d.path,
        Some(&d.token),
        Method::POST,
        "/Users",
        None,
        &[("content-type", "application/json")],
    )
    .await;
    assert_scim_error(&r, 400, Some("invalidSyntax"));
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Users/{}", ids[3]),
        Some(json!({"Operations": [{"op": "explode", "path": "userName"}]})),
    )
    .await;
    assert_scim_error(&r, 400, Some("invalidSyntax"));
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Users/{}", ids[3]),
        Some(json!({"Operations": [{"op": "replace", "path": "emails[type eq", "value": "x"}]})),
    )
    .await;
    assert_scim_error(&r, 400, Some("invalidPath"));
    // over the body cap: 413, nothing created
    let before = app.count("scim_users").await;
    let mut big = user("big@pg.test", "big@pg.test");
    big["title"] = Value::String("x".repeat(1024 * 1024 + 10));
    let r = scim(&app, &d, Method::POST, "/Users", Some(big)).await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(app.count("scim_users").await, before);
    // Bulk is not offered
    let r = scim(&app, &d, Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(r.body["bulk"]["supported"], false);
    assert_eq!(r.body["filter"]["maxResults"], 1000);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/scim+json"));
}

#[tokio::test]
async fn an_unknown_member_changes_nothing_and_members_round_trip() {
    let app = TestApp::start().await;
    let o = app.owner("mem").await;
    let d = directory(&app, &o, "generic").await;
    let a = create_user(&app, &d, "a@mem.test", "a@mem.test").await;
    let g = create_group(&app, &d, "G", &[&a]).await;
    let r = scim(
        &app,
        &d,
        Method::POST,
        "/Groups",
        Some(json!({"displayName": "H", "members": [{"value": "scu_01HZZZZZZZZZZZZZZZZZZZZZZZ"}]})),
    )
    .await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    assert_eq!(app.count("scim_groups").await, 1);
    let b = create_user(&app, &d, "b@mem.test", "b@mem.test").await;
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Groups/{g}"),
        Some(json!({"Operations": [
            {"op": "add", "path": "members", "value": [{"value": b}]},
            {"op": "add", "path": "members", "value": [{"value": "nobody"}]}
        ]})),
    )
    .await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    let members: Vec<String> = sqlx::query_scalar("SELECT user_id FROM scim_group_members WHERE group_id = $1")
        .bind(&g)
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(members, vec![a.clone()], "nothing changed");
    // a user of another directory is unknown here too
    let d2 = directory(&app, &o, "okta").await;
    let other = create_user(&app, &d2, "c@mem.test", "c@mem.test").await;
    let r = scim(
        &app,
        &d,
        Method::PATCH,
        &format!("/Groups/{g}"),
        Some(json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": other}]}]})),
    )
    .await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    // the user shows its groups
    let r = scim(&app, &d, Method::GET, &format!("/Users/{a}"), None).await;
    assert_eq!(r.body["groups"][0]["value"], g.as_str(), "{}", r.text);
    assert_eq!(r.body["groups"][0]["display"], "G");
}

#[tokio::test]
async fn twenty_concurrent_patches_to_one_group_lose_no_member() {
    let app = TestApp::start().await;
    let o = app.owner("conc").await;
    let d = directory(&app, &o, "entra").await;
    let g = create_group(&app, &d, "Everyone", &[]).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(create_user(&app, &d, &format!("c{i}@conc.test"), &format!("c{i}@conc.test")).await);
    }
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let (http, url, token) = (app.http.clone(), format!("{}{}/Groups/{g}", app.base, d.path), d.token.clone());
            let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Add", "path": "members", "value": [{"value": id}]}]});
            tokio::spawn(async move {
                http.patch(url)
                    .bearer_auth(token)
                    .header("content-type", "application/scim+json")
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM scim_group_members WHERE group_id = $1")
        .bind(&g)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 20);
    let r = scim(&app, &d, Method::GET, &format!("/Groups/{g}"), None).await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 20);
    assert_eq!(r.body["meta"]["version"], "W/\"21\"");
}

#[tokio::test]
async fn throttling_is_per_directory_with_retry_after() {
    let app = TestApp::start_with(|s| s.rate_limit.scim_per_directory_per_minute = 5).await;
    let o = app.owner("thr").await;
    let d = directory(&app, &o, "okta").await;
    let d2 = directory(&app, &o, "okta").await;
    for _ in 0..5 {
        assert_eq!(scim(&app, &d, Method::GET, "/Users", None).await.status, 200);
    }
    let r = scim(&app, &d, Method::GET, "/Users", None).await;
    assert_scim_error(&r, 429, None);
    let after: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&after));
    assert_eq!(
        scim(&app, &d2, Method::GET, "/Users", None).await.status,
        200,
        "another directory has its own budget"
    );
}
