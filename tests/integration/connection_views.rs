//! What the connection views and the connection test return, as the grantex SDK parses them:
//! every protocol field present (a SAML `metadataUrl` is null when unset), and the test's facts —
//! OIDC `issuer`, `authorizationEndpoint`, `tokenEndpoint`, `jwksUri` from discovery; SAML
//! `idpEntityId`, `idpSsoUrl` (from the metadata when the connection has only a URL); LDAP
//! `ldapUrl`, `ldapSearchBase`, `ldapTlsEnabled`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{ldap, oidc, saml, Owner, TestApp};

async fn sdk(app: &TestApp, o: &Owner, m: Method, path: &str, body: Option<Value>) -> Value {
    let r = app.call(m, path, Some(&o.key), body).await;
    assert!(r.status == 200 || r.status == 201, "{} {}", r.status, r.text);
    r.body
}

async fn test(app: &TestApp, o: &Owner, id: &str) -> Value {
    let t = sdk(
        app,
        o,
        Method::POST,
        &format!("/v1/sso/connections/{id}/test"),
        Some(json!({})),
    )
    .await;
    assert_eq!(t["success"], true, "{t}");
    t
}

#[tokio::test]
async fn oidc_tests_report_the_discovered_endpoints() {
    let p = oidc::provider().await;
    let app = TestApp::start().await;
    let o = app.owner("views-oidc").await;
    let body = json!({"name": "Okta", "protocol": "oidc", "issuerUrl": p.issuer, "clientId": "test-client",
                      "clientSecret": "test-secret"});
    let c = sdk(&app, &o, Method::POST, "/v1/sso/connections", Some(body)).await;
    assert_eq!(
        c["mixUpProtection"], "none",
        "nothing learnt before the first test: {c}"
    );
    assert!(c.get("issParameterSupported").is_none(), "{c}");
    let t = test(&app, &o, c["id"].as_str().unwrap()).await;
    assert_eq!(t["issuer"], p.issuer.as_str());
    assert_eq!(t["authorizationEndpoint"], format!("{}/auth", p.issuer));
    assert_eq!(t["tokenEndpoint"], format!("{}/token", p.issuer));
    assert_eq!(t["jwksUri"], format!("{}/jwks", p.issuer));
    assert_eq!(t["mixUpProtection"], "iss");
    assert!(t.get("issParameterSupported").is_none(), "{t}");
}

#[tokio::test]
async fn saml_views_carry_metadata_url_and_tests_report_the_idp() {
    let idp = saml::idp().await;
    let app = TestApp::start().await;
    let o = app.owner("views-saml").await;
    let sso_url = format!("{}/sso/redirect", idp.base);
    let body = json!({"name": "explicit", "protocol": "saml", "idpEntityId": idp.entity_id, "idpSsoUrl": sso_url,
                      "idpCertificate": idp.cert()});
    let c = sdk(&app, &o, Method::POST, "/v1/sso/connections", Some(body)).await;
    assert!(
        c.as_object().unwrap().contains_key("metadataUrl") && c["metadataUrl"].is_null(),
        "{c}"
    );
    let id = c["id"].as_str().unwrap();
    let got = sdk(&app, &o, Method::GET, &format!("/v1/sso/connections/{id}"), None).await;
    assert!(got["metadataUrl"].is_null() && got.as_object().unwrap().contains_key("metadataUrl"));
    let listed = sdk(&app, &o, Method::GET, "/v1/sso/connections", None).await;
    assert!(listed["connections"][0]
        .as_object()
        .unwrap()
        .contains_key("metadataUrl"));
    let org = app
        .call(
            Method::GET,
            &format!("/api/user/organizations/{}/sso/connections/{id}", o.org_id),
            Some(&o.key),
            None,
        )
        .await;
    assert!(
        org.body["data"].as_object().unwrap().contains_key("metadataUrl"),
        "{}",
        org.text
    );
    assert!(c.get("mixUpProtection").is_none(), "an OIDC notion: {c}");
    let t = test(&app, &o, id).await;
    assert_eq!(t["idpEntityId"], idp.entity_id.as_str());
    assert_eq!(t["idpSsoUrl"], sso_url);

    // A connection that has only its metadata URL: the test says what the metadata holds.
    let metadata_url = format!("{}/metadata", idp.base);
    let body = json!({"name": "by-url", "protocol": "saml", "metadataUrl": metadata_url});
    let c = sdk(&app, &o, Method::POST, "/v1/sso/connections", Some(body)).await;
    assert_eq!(c["metadataUrl"], metadata_url);
    assert!(c.get("idpSsoUrl").is_none(), "{c}");
    let t = test(&app, &o, c["id"].as_str().unwrap()).await;
    assert_eq!(t["idpEntityId"], idp.entity_id.as_str(), "{t}");
    assert_eq!(t["idpSsoUrl"], sso_url, "{t}");
}

#[tokio::test]
async fn ldap_tests_report_the_directory() {
    let dir = ldap::shared().await;
    let app = TestApp::start().await;
    let o = app.owner("views-ldap").await;
    let id = ldap::create_connection(&app, &o, ldap::connection_body(dir, json!({}))).await;
    let t = test(&app, &o, &id).await;
    assert_eq!(t["protocol"], "ldap");
    assert_eq!(t["ldapUrl"], dir.url.as_str());
    assert_eq!(t["ldapSearchBase"], dir.users_dn.as_str());
    assert_eq!(t["ldapTlsEnabled"], true, "StartTLS: {t}");
    assert!(
        !t.to_string().contains(dir.bind_password.as_str()),
        "no secret in the test result"
    );
}
