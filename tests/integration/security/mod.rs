//! Account-takeover paths (issue 13), each attacked against the real stack: the attack is
//! performed, and the refusal and the untouched database are asserted.
//!
//! - `transport`: client address from `X-Forwarded-For` (right to left), CSRF on cookie writes,
//!   empty bodies;
//! - `tokens`: policy covers tokens; SSO sessions belong to their organization;
//! - `totp_race`: concurrent TOTP guesses are all counted;
//! - `sdk_reads`: SDK connection reads need the owner;
//! - `idp_answers`: oversized and malformed IdP answers are deterministic 4xx;
//! - `ldap_oracle`: after a successful bind every refusal answers and counts like a wrong password;
//! - `domains_claimed`: verified domains are authoritative; linking rules (a)/(b);
//! - `saml_session`: `SessionNotOnOrAfter` bounds the session, the assertion window does not;
//! - `mixup`: OIDC mix-up through the shared callback (two real providers, the attacker's IdP).

mod domains_claimed;
mod idp_answers;
mod ldap_oracle;
mod mixup;
mod saml_defaults;
mod saml_session;
mod sdk_reads;
mod tokens;
mod totp_race;
mod transport;

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{Owner, Resp, TestApp};

/// Password sign-in; the response.
pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> Resp {
    app.call(
        Method::POST,
        "/api/auth/sign-in/password",
        None,
        Some(json!({ "email": email, "password": password })),
    )
    .await
}

/// The owner's password session: (bearer token, `portico_session=…` cookie pair).
pub async fn owner_session(app: &TestApp, o: &Owner) -> (String, String) {
    let r = sign_in(app, &o.email, "owner-password-1").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.body["data"]["token"].as_str().unwrap().to_owned();
    (token.clone(), format!("portico_session={token}"))
}

/// A request with a bearer token and an optional JSON body.
pub async fn bearer(app: &TestApp, m: Method, path: &str, token: &str, body: Option<Value>) -> Resp {
    let mut rb = app.http.request(m, format!("{}{path}", app.base)).bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    TestApp::read(rb.send().await.unwrap()).await
}
