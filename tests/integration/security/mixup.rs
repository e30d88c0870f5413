//! OIDC mix-up through the shared callback (RFC 9700 §4.4), attacked end to end with two real
//! providers and an attacker's IdP.
//!
//! The victim organization signs in through an IdP that predates RFC 9207 (the harness's second
//! `oidc-provider`, started with `OIDC_NO_ISS=1`: no `iss` in its authorization responses). The
//! attacker organization's IdP is the attacker's own server (a fixture here: it serves discovery
//! and records what reaches its token endpoint). The attack:
//! 1. the attacker starts a login at the victim organization in its own browser and reads the
//!    victim IdP's authorize URL Portico sends it to (its state, nonce and PKCE challenge);
//! 2. the victim is lured into a login at the attacker's organization; Portico sends the
//!    victim's browser to the attacker's IdP with the victim's state;
//! 3. the attacker's IdP bounces the victim to the victim's IdP with the attacker's URL from 1
//!    but the victim's state; the victim's IdP signs the victim in and returns a code;
//! 4. at the callback the victim's state finds the attacker's connection, so Portico sends the
//!    code to the attacker's token endpoint;
//! 5. the attacker presents that code with its own state from 1 and is signed in as the victim.
//!
//! Without protection (`mixUpProtection: "none"`) this works — the connection test warns about
//! it. With `dedicatedCallback` it fails at 4 (refused before any exchange) or at 5. With an IdP
//! that advertises `iss`, a response without it is refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::oidc::{self, browser};
use crate::support::{session_cookie, sessions_by_method, Owner, Resp, TestApp};

/// Every form the attacker's token endpoint was sent.
type Seen = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// The attacker's IdP: discovery and an empty JWKS; its token endpoint records every form it is
/// sent (the codes Portico hands it) and refuses them.
struct AttackerIdp {
    issuer: String,
    received: Seen,
}

impl AttackerIdp {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let discovery = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        });
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let d = discovery.clone();
                    async move { Json(d) }
                }),
            )
            .route("/jwks", get(|| async { Json(json!({"keys": []})) }))
            .route(
                "/token",
                post(
                    |State(seen): State<Seen>, Form(f): Form<HashMap<String, String>>| async move {
                        seen.lock().unwrap().push(f);
                        (
                            axum::http::StatusCode::BAD_REQUEST,
                            Json(json!({"error": "invalid_grant"})),
                        )
                    },
                ),
            )
            .with_state(received.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { issuer, received }
    }

    /// The codes Portico sent to this IdP's token endpoint.
    fn codes(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter_map(|f| f.get("code").cloned())
            .collect()
    }
}

/// `o`'s default OIDC connection at `issuer` (client `test-client`); its view.
async fn oidc_connection(app: &TestApp, o: &Owner, issuer: &str) -> Value {
    let r = app
        .call(
            Method::PUT,
            &format!("/api/user/organizations/{}/settings/sso", o.org_id),
            Some(&o.key),
            Some(json!({"provider": "oidc", "issuerUrl": issuer, "clientId": "test-client", "clientSecret": "test-secret"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    connection(app, o, r.body["data"]["connectionId"].as_str().unwrap()).await
}

async fn connection(app: &TestApp, o: &Owner, id: &str) -> Value {
    connection_data(app, o, Method::GET, id, "").await
}

async fn test_connection(app: &TestApp, o: &Owner, id: &str) -> Value {
    connection_data(app, o, Method::POST, id, "/test").await
}

/// `data` of a 200 answer to `method` on connection `id`'s path (plus `suffix`).
async fn connection_data(app: &TestApp, o: &Owner, method: Method, id: &str, suffix: &str) -> Value {
    let path = format!("/api/user/organizations/{}/sso/connections/{id}{suffix}", o.org_id);
    let r = app.call(method, &path, Some(&o.key), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].clone()
}

fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

/// `url` with query parameter `key` set to `value`.
fn with_param(url: &str, key: &str, value: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .into_owned()
        .map(|(k, v)| if k == key { (k, value.to_owned()) } else { (k, v) })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

/// `url` without query parameter `key`.
fn without_param(url: &str, key: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u.query_pairs().into_owned().filter(|(k, _)| k != key).collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

/// Where Portico's login start sends browser `b`.
async fn login_start(app: &TestApp, b: &reqwest::Client, slug: &str) -> String {
    let r = b
        .get(format!("{}/api/auth/sso/{slug}/login", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap_or_default());
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// Steps 1–3: the attacker's login start at the victim organization (its browser and the
/// victim IdP's authorize URL), then the victim's browser bounced through the attacker's IdP to
/// the victim IdP with the victim's state, signed in as alice there, and sent back to Portico.
/// `redirect_uri` replaces the one in the attacker's URL when given. Returns (the attacker's
/// browser, its authorize URL, the victim's browser, the callback URL the victim's IdP sent the
/// victim to).
async fn bounce(
    app: &TestApp,
    attacker_idp: &AttackerIdp,
    redirect_uri: Option<&str>,
) -> (reqwest::Client, String, reqwest::Client, String) {
    let attacker = browser();
    let attacker_url = login_start(app, &attacker, "victim").await;
    let victim = browser();
    let to_attacker = login_start(app, &victim, "attacker").await;
    assert!(to_attacker.starts_with(&attacker_idp.issuer), "{to_attacker}");
    let victim_state = query(&to_attacker)["state"].clone();
    let mut bounced = with_param(&attacker_url, "state", &victim_state);
    if let Some(r) = redirect_uri {
        bounced = with_param(&bounced, "redirect_uri", r);
    }
    let callback = oidc::through_idp(app, &victim, bounced, "alice", "alice-password").await;
    assert_eq!(query(&callback)["state"], victim_state);
    (attacker, attacker_url, victim, callback)
}

/// Step 5: the attacker presents `code` with the state of its own login start.
async fn redeem(
    app: &TestApp,
    attacker: &reqwest::Client,
    attacker_url: &str,
    callback_path: &str,
    code: &str,
) -> Resp {
    let state = query(attacker_url)["state"].clone();
    let mut u = url::Url::parse(&format!("{}{callback_path}", app.base)).unwrap();
    u.query_pairs_mut()
        .append_pair("code", code)
        .append_pair("state", &state);
    oidc::finish(attacker, u.as_str()).await
}

fn location(r: &Resp) -> String {
    r.headers["location"].to_str().unwrap().to_owned()
}

async fn setup(app: &TestApp, victim_issuer: &str) -> (Owner, Value, AttackerIdp) {
    let victim = app.owner("victim").await;
    let attacker = app.owner("attacker").await;
    let cv = oidc_connection(app, &victim, victim_issuer).await;
    let idp = AttackerIdp::start().await;
    oidc_connection(app, &attacker, &idp.issuer).await;
    (victim, cv, idp)
}

async fn sso_sessions(app: &TestApp) -> i64 {
    sessions_by_method(app, "oidc").await
}

#[tokio::test]
async fn without_protection_the_mix_up_succeeds_and_the_test_warns() {
    let h = oidc::provider_without_iss().await;
    let app = TestApp::start().await;
    let (victim, cv, idp) = setup(&app, &h.issuer).await;
    let cv_id = cv["id"].as_str().unwrap().to_owned();

    // The attack, as it works through a shared callback and an IdP without `iss`.
    let (attacker, attacker_url, victim_browser, callback) = bounce(&app, &idp, None).await;
    let r = oidc::finish(&victim_browser, &callback).await;
    assert_eq!(r.status, 302);
    assert!(location(&r).contains("error="), "{}", location(&r));
    let stolen = idp.codes();
    assert_eq!(
        stolen.len(),
        1,
        "Portico sent the victim IdP's code to the attacker's token endpoint"
    );
    let r = redeem(&app, &attacker, &attacker_url, "/api/auth/sso/callback", &stolen[0]).await;
    let cookie = session_cookie(&r).expect("the attacker is signed in as the victim");
    let me = app.me_with_cookie(&cookie).await;
    assert_eq!(me.body["data"]["user"]["email"], "alice@example.com");

    // The connection test names the residual risk and its fix.
    let t = test_connection(&app, &victim, &cv_id).await;
    assert_eq!(t["success"], true, "{t}");
    assert_eq!(t["mixUpProtection"], "none", "{t}");
    let warning = t["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "mix_up_protection")
        .unwrap_or_else(|| panic!("no mix-up warning: {t}"));
    assert_eq!(warning["ok"], true);
    assert_eq!(warning["warning"], true);
    let fix = warning["message"].as_str().unwrap();
    assert!(
        fix.contains("dedicatedCallback") && fix.contains(&format!("/api/auth/sso/callback/{cv_id}")),
        "{fix}"
    );
    assert_eq!(connection(&app, &victim, &cv_id).await["mixUpProtection"], "none");
}

#[tokio::test]
async fn a_dedicated_callback_stops_the_mix_up() {
    let h = oidc::provider_without_iss().await;
    let app = TestApp::start().await;
    let (victim, cv, idp) = setup(&app, &h.issuer).await;
    let cv_id = cv["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/user/organizations/{}/sso/connections/{cv_id}", victim.org_id),
            Some(&victim.key),
            Some(json!({"dedicatedCallback": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["dedicatedCallback"], true);
    assert_eq!(r.body["data"]["mixUpProtection"], "dedicated_callback");
    let t = test_connection(&app, &victim, &cv_id).await;
    assert_eq!(t["mixUpProtection"], "dedicated_callback", "{t}");
    assert!(
        !t["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "mix_up_protection"),
        "{t}"
    );
    let dedicated = format!("/api/auth/sso/callback/{cv_id}");

    // The victim's IdP answers on the victim connection's dedicated path: the victim's state
    // belongs to the attacker's connection, so Portico refuses before any code is exchanged.
    let (_, attacker_url, victim_browser, callback) = bounce(&app, &idp, None).await;
    assert_eq!(
        query(&attacker_url)["redirect_uri"],
        format!("{}{dedicated}", app.base),
        "a dedicated connection's logins name its own callback"
    );
    assert!(callback.starts_with(&format!("{}{dedicated}?", app.base)), "{callback}");
    let r = oidc::finish(&victim_browser, &callback).await;
    assert_eq!(r.status, 302);
    assert!(location(&r).ends_with("?error=CALLBACK_MISMATCH"), "{}", location(&r));
    assert!(idp.codes().is_empty(), "no code reached the attacker");
    assert_eq!(sso_sessions(&app).await, 0);
    let reason: String = sqlx::query_scalar(
        "SELECT details->>'detail' FROM audit_events WHERE action = 'sign_in.sso' AND reason = 'CALLBACK_MISMATCH'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(reason.contains(&cv_id), "{reason}");

    // An attacker who makes the victim's IdP answer on the shared path (a real IdP would refuse
    // the unregistered redirect URI; the harness's accepts any loopback one) does get a code,
    // but it cannot be redeemed at the victim's connection: not on the shared path (the
    // connection has a dedicated one) and not on the dedicated path (the code was issued for
    // another redirect URI).
    let shared = format!("{}/api/auth/sso/callback", app.base);
    let (attacker, attacker_url, victim_browser, callback) = bounce(&app, &idp, Some(&shared)).await;
    let _ = oidc::finish(&victim_browser, &callback).await;
    let stolen = idp.codes();
    assert_eq!(stolen.len(), 1);
    let r = redeem(&app, &attacker, &attacker_url, &dedicated, &stolen[0]).await;
    assert!(session_cookie(&r).is_none(), "{:?}", r.headers);
    assert!(
        location(&r).ends_with("?error=TOKEN_EXCHANGE_FAILED"),
        "{}",
        location(&r)
    );
    let (attacker, attacker_url, victim_browser, callback) = bounce(&app, &idp, Some(&shared)).await;
    let _ = oidc::finish(&victim_browser, &callback).await;
    let stolen = idp.codes();
    assert_eq!(stolen.len(), 2);
    let r = redeem(&app, &attacker, &attacker_url, "/api/auth/sso/callback", &stolen[1]).await;
    assert!(session_cookie(&r).is_none(), "{:?}", r.headers);
    assert!(location(&r).ends_with("?error=CALLBACK_MISMATCH"), "{}", location(&r));
    assert_eq!(sso_sessions(&app).await, 0);
    assert_eq!(app.count("users WHERE email = 'alice@example.com'").await, 0);

    // The victim's own login on the dedicated path works.
    let b = browser();
    let cb = oidc::to_callback(&app, &b, "/api/auth/sso/victim/login", "alice", "alice-password").await;
    let r = oidc::finish(&b, &cb).await;
    assert!(session_cookie(&r).is_some(), "{}", location(&r));
}

#[tokio::test]
async fn iss_is_required_when_the_idp_advertises_it() {
    let p = oidc::provider().await;
    let app = TestApp::start().await;
    let (victim, cv, idp) = setup(&app, &p.issuer).await;
    let cv_id = cv["id"].as_str().unwrap().to_owned();
    // The mix-up against an IdP that sends `iss`: refused at step 4, the code goes nowhere.
    let (_, _, victim_browser, callback) = bounce(&app, &idp, None).await;
    assert_eq!(query(&callback)["iss"], p.issuer);
    let r = oidc::finish(&victim_browser, &callback).await;
    assert!(location(&r).ends_with("?error=INVALID_ASSERTION"), "{}", location(&r));
    assert!(idp.codes().is_empty());

    // A response without `iss` from an IdP that advertises it did not come from that IdP as
    // it says it answers: refused, no session.
    let b = browser();
    let cb = oidc::to_callback(&app, &b, "/api/auth/sso/victim/login", "alice", "alice-password").await;
    let r = oidc::finish(&b, &without_param(&cb, "iss")).await;
    assert!(session_cookie(&r).is_none(), "{:?}", r.headers);
    assert!(location(&r).ends_with("?error=INVALID_ASSERTION"), "{}", location(&r));
    let reason: String = sqlx::query_scalar(
        "SELECT details->>'detail' FROM audit_events WHERE action = 'sign_in.sso' AND outcome = 'failure' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(reason.contains("no `iss`"), "{reason}");
    assert_eq!(sso_sessions(&app).await, 0);
    assert_eq!(app.count("users WHERE email = 'alice@example.com'").await, 0);

    let t = test_connection(&app, &victim, &cv_id).await;
    assert_eq!(t["mixUpProtection"], "iss", "{t}");
    assert!(
        !t["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "mix_up_protection"),
        "{t}"
    );
    assert_eq!(connection(&app, &victim, &cv_id).await["mixUpProtection"], "iss");

    // With `iss`, the same login passes.
    let b = browser();
    let cb = oidc::to_callback(&app, &b, "/api/auth/sso/victim/login", "alice", "alice-password").await;
    let r = oidc::finish(&b, &cb).await;
    assert!(session_cookie(&r).is_some(), "{}", location(&r));
}
