//! SAML `SessionNotOnOrAfter` bounds the Portico session; the assertion's own validity window
//! is no session lifetime (SPEC §3 Sessions).
//!
//! Attack on the old code: the IdP ends the session it started (SessionNotOnOrAfter in ten
//! minutes) and Portico kept its session for the configured maximum (12 h) unless the operator
//! set `follow_idp_session_lifetime`; with it, a SAML session lasted exactly the assertion's
//! replay window (~15 min), whatever the IdP said about the session.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::json;

use crate::support::oidc::browser;
use crate::support::saml::{self, b64, xml_of, Idp};
use crate::support::{error_of, session_cookie, sessions_by_method, Resp, TestApp};

const MAX_AGE: i64 = 8 * 3600;

async fn app(follow: bool) -> (TestApp, String) {
    let idp = saml::idp().await;
    let app = TestApp::start_with(|s| {
        s.security.session_max_age_secs = MAX_AGE;
        s.security.follow_idp_session_lifetime = follow;
    })
    .await;
    let o = app.owner("saml-session").await;
    let body = json!({
        "name": "IdP", "protocol": "saml",
        "idpEntityId": idp.entity_id, "idpSsoUrl": format!("{}/sso/redirect", idp.base), "idpCertificate": idp.cert(),
        "domains": ["example.com"], "jitProvisioning": true,
    });
    let r = app
        .call(Method::POST, "/v1/sso/connections", Some(&o.key), Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let sp = r.body["spEntityId"].as_str().unwrap().to_owned();
    (app, sp)
}

/// A browser login answered by a validly signed assertion whose AuthnStatement carries
/// `SessionNotOnOrAfter = session_end` (when given).
async fn login(app: &TestApp, idp: &Idp, sp: &str, session_end: Option<DateTime<Utc>>) -> Resp {
    let b = browser();
    let form = saml::to_idp_form(app, &b, "/api/auth/sso/saml-session/login?email=alice%40example.com").await;
    let acs = format!("{}/api/auth/sso/callback", app.base);
    let mut answer = idp.fixture("valid", Some(&form.request_id()), sp, &acs).await;
    if let Some(end) = session_end {
        let xml = xml_of(&answer);
        let at = xml.find("AuthnStatement ").expect("an AuthnStatement") + "AuthnStatement ".len();
        let attr = format!(
            "SessionNotOnOrAfter=\"{}\" ",
            end.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        answer = b64(&idp.resign(&format!("{}{attr}{}", &xml[..at], &xml[at..])).await);
    }
    saml::post(&b, &form.action, &answer, &form.relay_state).await
}

async fn last_expiry(app: &TestApp) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT expires_at FROM sessions WHERE method = 'saml' ORDER BY created_at DESC LIMIT 1")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

fn near(actual: DateTime<Utc>, expected: DateTime<Utc>) -> bool {
    (actual - expected).num_seconds().abs() <= 5
}

#[tokio::test]
async fn session_not_on_or_after_bounds_the_session_always() {
    let idp = saml::idp().await;
    let (app, sp) = app(false).await;
    let end = Utc::now() + Duration::minutes(10);
    let r = login(&app, idp, &sp, Some(end)).await;
    assert!(session_cookie(&r).is_some(), "{:?}", r.headers.get("location"));
    let exp = last_expiry(&app).await;
    assert!(near(exp, end), "the session ends with the IdP's: {exp} vs {end}");

    // Without SessionNotOnOrAfter, the configured maximum.
    let r = login(&app, idp, &sp, None).await;
    assert!(session_cookie(&r).is_some());
    let exp = last_expiry(&app).await;
    assert!(near(exp, Utc::now() + Duration::seconds(MAX_AGE)), "{exp}");

    // A session the IdP already ended starts none here.
    let r = login(&app, idp, &sp, Some(Utc::now() - Duration::minutes(10))).await;
    assert_eq!(error_of(&r), "INVALID_ASSERTION");
    assert!(session_cookie(&r).is_none());
    assert_eq!(sessions_by_method(&app, "saml").await, 2);
}

#[tokio::test]
async fn the_assertion_window_is_no_session_lifetime() {
    let idp = saml::idp().await;
    // Even when the operator follows the IdP's lifetimes, the assertion's NotOnOrAfter
    // (~15 minutes, the replay window) does not cut the session.
    let (app, sp) = app(true).await;
    let r = login(&app, idp, &sp, None).await;
    assert!(session_cookie(&r).is_some(), "{:?}", r.headers.get("location"));
    let exp = last_expiry(&app).await;
    assert!(near(exp, Utc::now() + Duration::seconds(MAX_AGE)), "{exp}");
    // SessionNotOnOrAfter later than the maximum: the maximum.
    let r = login(&app, idp, &sp, Some(Utc::now() + Duration::days(2))).await;
    assert!(session_cookie(&r).is_some());
    let exp = last_expiry(&app).await;
    assert!(near(exp, Utc::now() + Duration::seconds(MAX_AGE)), "{exp}");
}
