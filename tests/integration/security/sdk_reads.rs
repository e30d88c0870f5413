//! SDK connection reads need the owner, as on the Organization API. Attack: any member's
//! session token read `ldapBindDn`, `groupMappings` (and SAML metadata) through
//! `GET /v1/sso/connections`.

use reqwest::Method;
use serde_json::json;

use super::{bearer, sign_in};
use crate::support::TestApp;

#[tokio::test]
async fn a_members_session_reads_no_connection_details() {
    let app = TestApp::start().await;
    let o = app.owner("sdk-reads").await;
    let body = json!({
        "name": "Directory", "protocol": "ldap", "ldapUrl": "ldap://127.0.0.1:1",
        "ldapBindDn": "cn=svc,dc=corp,dc=example", "ldapBindPassword": "svc-password",
        "ldapSearchBase": "ou=people,dc=corp,dc=example", "groupMappings": {"Admins": ["admin"]},
    });
    let r = app
        .call(Method::POST, "/v1/sso/connections", Some(&o.key), Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();

    for (email, role) in [
        ("member@sdk-reads.example", "member"),
        ("admin@sdk-reads.example", "admin"),
    ] {
        let uid = portico_core::ids::prefixed(portico_core::ids::USER);
        let hash = portico_core::password::hash("member-password-1").unwrap();
        portico_store::users::insert(&app.db, &uid, email, None, Some(&hash))
            .await
            .unwrap();
        portico_store::orgs::add_member(&app.db, &o.org_id, &uid, role)
            .await
            .unwrap();
        let r = sign_in(&app, email, "member-password-1").await;
        let session = r.body["data"]["token"].as_str().unwrap().to_owned();
        for path in ["/v1/sso/connections".to_owned(), format!("/v1/sso/connections/{id}")] {
            let r = bearer(&app, Method::GET, &path, &session, None).await;
            assert_eq!(r.status, 403, "{role} {path}: {}", r.text);
            assert_eq!(r.body["code"], "FORBIDDEN", "{}", r.text);
            assert!(r.body["requestId"].is_string());
            assert!(!r.text.contains("cn=svc"), "{}", r.text);
        }
    }
    // The owner reads them.
    let r = app.call(Method::GET, "/v1/sso/connections", Some(&o.key), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["connections"][0]["ldapBindDn"], "cn=svc,dc=corp,dc=example");
}
