//! One rule on every entry point that finishes a stored login transaction: a transaction whose
//! `pending` data cannot be read is refused as `INVALID_STATE` (it used to be dropped silently
//! at the OIDC browser callback and the SDK callbacks, which then failed later, differently).
//! The transactions are written straight into `login_transactions`; no IdP is reached.

use portico_core::token;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{error_of, sessions_by_method, Owner, TestApp};

/// Pending values that are not a `PendingLogin`.
const CORRUPT: [&str; 4] = [r#"{}"#, r#""garbage""#, r#"{"redirect_uri": 42}"#, "null"];

async fn oidc_connection(app: &TestApp, o: &Owner) -> String {
    let r = app
        .call(
            Method::POST,
            "/v1/sso/connections",
            Some(&o.key),
            Some(json!({
                "name": "P", "protocol": "oidc", "issuerUrl": "https://idp.example.com", "clientId": "c",
                "clientSecret": "s", "domains": ["p.example"],
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_owned()
}

/// A SAML connection row (the refusal comes before the provider is built: no IdP settings).
async fn saml_connection(app: &TestApp, o: &Owner) -> String {
    let id = portico_core::ids::prefixed(portico_core::ids::CONNECTION);
    sqlx::query("INSERT INTO sso_connections (id, organization_id, name, protocol) VALUES ($1, $2, 'S', 'saml')")
        .bind(&id)
        .bind(&o.org_id)
        .execute(&app.db)
        .await
        .unwrap();
    id
}

/// Writes a transaction with `pending` for `state` (browser mode: bound to `binding`).
async fn transaction(app: &TestApp, o: &Owner, conn: &str, state: &str, binding: Option<&str>, pending: &str) {
    let pending: Value = serde_json::from_str(pending).unwrap();
    sqlx::query(
        "INSERT INTO login_transactions (id, state_hash, binding_hash, mode, organization_id, connection_id, pending, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + interval '5 minutes')",
    )
    .bind(portico_core::ids::prefixed(portico_core::ids::LOGIN))
    .bind(token::digest(state))
    .bind(binding.map(token::digest))
    .bind(if binding.is_some() { "browser" } else { "sdk" })
    .bind(&o.org_id)
    .bind(conn)
    .bind(pending)
    .execute(&app.db)
    .await
    .unwrap();
}

fn binding_cookie(state: &str, binding: &str) -> String {
    let d = token::digest(state);
    format!(
        "portico_login_{:02x}{:02x}{:02x}{:02x}={binding}",
        d[0], d[1], d[2], d[3]
    )
}

/// The failure codes audited for sign-ins, oldest first.
async fn audited(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT reason FROM audit_events WHERE action = 'sign_in.sso' AND outcome = 'failure' ORDER BY created_at, id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn unreadable_pending_is_invalid_state_on_every_entry_point() {
    let app = TestApp::start().await;
    let o = app.owner("pending").await;
    let oidc = oidc_connection(&app, &o).await;
    let saml = saml_connection(&app, &o).await;
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut expected_failures = 0;
    for (n, pending) in CORRUPT.iter().enumerate() {
        // Browser OIDC callback.
        let (state, binding) = (format!("oidc-browser-{n}"), format!("b-{n}"));
        transaction(&app, &o, &oidc, &state, Some(&binding), pending).await;
        let r = no_redirect
            .get(format!("{}/api/auth/sso/callback?state={state}&code=c", app.base))
            .header("cookie", binding_cookie(&state, &binding))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_of(&TestApp::read(r).await),
            "INVALID_STATE",
            "browser OIDC, pending {pending}"
        );

        // Browser SAML ACS.
        let (state, binding) = (format!("saml-browser-{n}"), format!("b-{n}"));
        transaction(&app, &o, &saml, &state, Some(&binding), pending).await;
        let r = no_redirect
            .post(format!("{}/api/auth/sso/callback", app.base))
            .header("cookie", binding_cookie(&state, &binding))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("SAMLResponse=PHNhbWw%2B&RelayState={state}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_of(&TestApp::read(r).await),
            "INVALID_STATE",
            "browser SAML, pending {pending}"
        );

        // SDK OIDC, SDK SAML and the legacy callback: 400 INVALID_STATE in the SDK's shape.
        let state = format!("oidc-sdk-{n}");
        transaction(&app, &o, &oidc, &state, None, pending).await;
        let r = app
            .call(
                Method::POST,
                "/sso/callback/oidc",
                Some(&o.key),
                Some(json!({"code": "c", "state": state})),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["code"].as_str()),
            (400, Some("INVALID_STATE")),
            "SDK OIDC: {}",
            r.text
        );

        let state = format!("saml-sdk-{n}");
        transaction(&app, &o, &saml, &state, None, pending).await;
        let r = app
            .call(
                Method::POST,
                "/sso/callback/saml",
                Some(&o.key),
                Some(json!({"SAMLResponse": "PHNhbWw+", "RelayState": state})),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["code"].as_str()),
            (400, Some("INVALID_STATE")),
            "SDK SAML: {}",
            r.text
        );

        let state = format!("legacy-{n}");
        transaction(&app, &o, &oidc, &state, None, pending).await;
        let r = app
            .call(
                Method::GET,
                &format!("/sso/callback?code=c&state={state}"),
                Some(&o.key),
                None,
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["code"].as_str()),
            (400, Some("INVALID_STATE")),
            "legacy: {}",
            r.text
        );
        expected_failures += 5;
    }
    // Every transaction was consumed, none signed anybody in, each refusal was audited as such.
    assert_eq!(app.count("login_transactions").await, 0);
    assert_eq!(sessions_by_method(&app, "oidc").await, 0);
    assert_eq!(sessions_by_method(&app, "saml").await, 0);
    let reasons = audited(&app).await;
    assert_eq!(reasons.len(), expected_failures, "{reasons:?}");
    assert!(reasons.iter().all(|r| r == "INVALID_STATE"), "{reasons:?}");
    let details: Vec<Value> =
        sqlx::query_scalar("SELECT details FROM audit_events WHERE action = 'sign_in.sso' AND outcome = 'failure'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(
        details
            .iter()
            .all(|d| d["detail"].as_str().unwrap_or("").contains("unreadable pending data")),
        "{details:?}"
    );
}
