//! Typed connection settings seen through the API: a field of another protocol is refused
//! (naming it) before anything is written; the stored JSON keeps keys this version does not
//! know without showing them; stored settings that cannot be read leave the view answering,
//! refuse an update with a conflict and fail the connection test — never a 500.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{Resp, TestApp};

async fn sdk(app: &TestApp, m: Method, path: &str, key: &str, body: Option<Value>) -> Resp {
    let mut rb = app.http.request(m, format!("{}{path}", app.base)).bearer_auth(key);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    TestApp::read(rb.send().await.unwrap()).await
}

async fn rows(app: &TestApp, org: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sso_connections WHERE organization_id = $1")
        .bind(org)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn config(app: &TestApp, id: &str) -> Value {
    sqlx::query_scalar("SELECT config FROM sso_connections WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

fn refused(r: &Resp, field: &str) {
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["code"], "VALIDATION_ERROR", "{}", r.text);
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("{field}: is not a setting of ")),
        "{}",
        r.text
    );
}

fn oidc() -> Value {
    json!({"name": "Okta", "protocol": "oidc", "issuerUrl": "https://idp.example.com", "clientId": "c",
           "clientSecret": "s3cret-value"})
}

#[tokio::test]
async fn a_field_of_another_protocol_is_refused_and_nothing_is_written() {
    let app = TestApp::start().await;
    let o = app.owner("settings-foreign").await;
    let mut body = oidc();
    body["ldapUrl"] = json!("ldaps://dir.example.com");
    let r = sdk(&app, Method::POST, "/v1/sso/connections", &o.key, Some(body)).await;
    refused(&r, "ldapUrl");
    let saml = json!({"name": "S", "protocol": "saml", "metadataXml": "<x/>", "clientSecret": "leak-me-not"});
    let r = sdk(&app, Method::POST, "/v1/sso/connections", &o.key, Some(saml)).await;
    refused(&r, "clientSecret");
    assert!(!r.text.contains("leak-me-not"));
    let ldap = json!({"name": "L", "protocol": "ldap", "ldapUrl": "ldaps://dir.example.com", "ldapBindDn": "cn=a",
                      "ldapBindPassword": "p", "ldapSearchBase": "dc=x", "allowIdpInitiated": true});
    let r = sdk(&app, Method::POST, "/v1/sso/connections", &o.key, Some(ldap)).await;
    refused(&r, "allowIdpInitiated");
    assert_eq!(rows(&app, &o.org_id).await, 0, "a refused create writes no row");

    let r = sdk(&app, Method::POST, "/v1/sso/connections", &o.key, Some(oidc())).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let before = config(&app, &id).await;
    let path = format!("/v1/sso/connections/{id}");
    let r = sdk(
        &app,
        Method::PATCH,
        &path,
        &o.key,
        Some(json!({"clientId": "d", "entityId": "urn:sp"})),
    )
    .await;
    refused(&r, "entityId");
    assert_eq!(config(&app, &id).await, before, "a refused update changes nothing");
    // `null` clears nothing on another protocol's field and is accepted, like an absent one.
    let r = sdk(
        &app,
        Method::PATCH,
        &path,
        &o.key,
        Some(json!({"clientId": "d", "ldapUrl": null})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["clientId"], "d");
    assert!(r.body.get("ldapUrl").is_none(), "{}", r.text);
}

#[tokio::test]
async fn unknown_stored_keys_are_kept_and_unreadable_settings_never_500() {
    let app = TestApp::start().await;
    let o = app.owner("settings-stored").await;
    let r = sdk(&app, Method::POST, "/v1/sso/connections", &o.key, Some(oidc())).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/sso/connections/{id}");
    sqlx::query("UPDATE sso_connections SET config = config || '{\"futureKey\": {\"n\": 1}}' WHERE id = $1")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    let r = sdk(&app, Method::PATCH, &path, &o.key, Some(json!({"clientId": "e"}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body.get("futureKey").is_none(),
        "unknown keys are never shown: {}",
        r.text
    );
    let stored = config(&app, &id).await;
    assert_eq!(stored["futureKey"], json!({"n": 1}), "{stored}");
    assert_eq!(stored["clientId"], "e");

    sqlx::query("UPDATE sso_connections SET config = '{\"issuerUrl\": 5, \"clientId\": \"e\"}' WHERE id = $1")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    let r = sdk(&app, Method::GET, &path, &o.key, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["id"].as_str(), r.body.get("issuerUrl")),
        (Some(id.as_str()), None)
    );
    let r = sdk(&app, Method::PATCH, &path, &o.key, Some(json!({"name": "Renamed"}))).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.body["code"], "CONFLICT");
    let r = sdk(&app, Method::POST, &format!("{path}/test"), &o.key, Some(json!({}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["success"], false);
    assert!(
        r.body["error"].as_str().unwrap().contains("cannot be read"),
        "{}",
        r.text
    );
    let name: String = sqlx::query_scalar("SELECT name FROM sso_connections WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(name, "Okta", "the refused update wrote nothing");
}
