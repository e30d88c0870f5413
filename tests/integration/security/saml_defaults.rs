//! SAML accepts what Entra ID, ADFS and OneLogin send by default: the Assertion it uses covered
//! by one valid signature (its own, or the enclosing Response's). Before, both were required, so
//! an assertion-only signed response was refused ("the response is not signed").

use reqwest::Method;
use serde_json::json;

use crate::support::oidc::browser;
use crate::support::saml::{self, Idp};
use crate::support::{error_of, session_cookie, sessions_by_method, Owner, Resp, TestApp};

async fn connection(app: &TestApp, o: &Owner, idp: &Idp) -> serde_json::Value {
    let body = json!({
        "name": "Entra", "protocol": "saml",
        "idpEntityId": idp.entity_id, "idpSsoUrl": format!("{}/sso/redirect", idp.base), "idpCertificate": idp.cert(),
        "domains": ["example.com"], "jitProvisioning": true,
    });
    let r = app
        .call(Method::POST, "/v1/sso/connections", Some(&o.key), Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

async fn login_with(app: &TestApp, idp: &Idp, slug: &str, sp: &str, kind: &str) -> Resp {
    let b = browser();
    let form = saml::to_idp_form(
        app,
        &b,
        &format!("/api/auth/sso/{slug}/login?email=alice%40example.com"),
    )
    .await;
    let acs = format!("{}/api/auth/sso/callback", app.base);
    let answer = idp.fixture(kind, Some(&form.request_id()), sp, &acs).await;
    saml::post(&b, &form.action, &answer, &form.relay_state).await
}

#[tokio::test]
async fn one_signature_covering_the_used_assertion_is_the_default() {
    let idp = saml::idp().await;
    let app = TestApp::start().await;
    let o = app.owner("saml-default").await;
    let conn = connection(&app, &o, idp).await;
    let sp = conn["spEntityId"].as_str().unwrap().to_owned();
    // Entra ID / ADFS / OneLogin default (assertion signed), and a Response-only signature.
    for (i, kind) in ["assertion_signed_only", "response_signed_only", "valid"]
        .into_iter()
        .enumerate()
    {
        let r = login_with(&app, idp, "saml-default", &sp, kind).await;
        assert!(session_cookie(&r).is_some(), "{kind}: {:?}", r.headers.get("location"));
        assert_eq!(sessions_by_method(&app, "saml").await, i as i64 + 1);
    }
    // Nothing signed, or a signature that does not cover the used assertion: refused.
    for kind in ["unsigned", "xsw_prepend", "xsw_wrap", "untrusted_key"] {
        let r = login_with(&app, idp, "saml-default", &sp, kind).await;
        assert_eq!(error_of(&r), "INVALID_ASSERTION", "{kind}");
    }
    assert_eq!(sessions_by_method(&app, "saml").await, 3, "no session for the refusals");
}
