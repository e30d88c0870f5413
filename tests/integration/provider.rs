//! Portico as an OpenID Provider, end to end: real RP libraries (`openid-client` from npm,
//! `authlib` from PyPI) sign people in through the real `oidc-provider` as the organization's IdP;
//! the refusals of SPEC §6 with their database effects.

use std::path::PathBuf;
use std::process::Stdio;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::support::oidc::{self, browser};
use crate::support::{Owner, TestApp};
use portico_server::services::provider::clients::{self, NewClient};

pub(crate) const REDIRECT: &str = "http://app.example.test/callback";
pub(crate) const AFTER_LOGOUT: &str = "http://app.example.test/bye";

pub(crate) fn cache() -> PathBuf {
    std::env::var("PORTICO_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-cache"))
}

pub(crate) async fn run_ok(cmd: &mut tokio::process::Command) {
    let out = cmd.output().await.expect("spawn");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `openid-client` installed once under the test cache.
pub(crate) async fn node_rp() -> PathBuf {
    let dir = cache().join("rp-npm");
    if !dir.join("node_modules/openid-client/package.json").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        run_ok(
            tokio::process::Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
                .arg(&dir)
                .arg("openid-client@6"),
        )
        .await;
    }
    let script = dir.join("rp.mjs");
    std::fs::copy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/integration/provider_rp/rp.mjs"),
        &script,
    )
    .unwrap();
    script
}

/// A venv with `authlib` under the test cache.
pub(crate) async fn python_rp() -> PathBuf {
    let venv = cache().join("rp-venv");
    let py = venv.join("bin/python");
    let ok = tokio::process::Command::new(&py)
        .args(["-c", "import authlib, requests"])
        .output()
        .await
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        run_ok(tokio::process::Command::new("python3").args(["-m", "venv"]).arg(&venv)).await;
        run_ok(tokio::process::Command::new(&py).args(["-m", "pip", "install", "-q", "authlib==1.6.*", "requests"]))
            .await;
    }
    py
}

pub(crate) async fn configure(app: &TestApp, o: &Owner) {
    let p = oidc::provider().await;
    let r = app
        .call(
            Method::PUT,
            &format!("/api/user/organizations/{}/settings/sso", o.org_id),
            Some(&o.key),
            Some(json!({"provider": "oidc", "issuerUrl": p.issuer, "clientId": "test-client", "clientSecret": "test-secret"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

pub(crate) async fn client(app: &TestApp, public: bool, alg: &str) -> (String, Option<String>) {
    let (c, s) = clients::add(
        &app.db,
        NewClient {
            name: "App".into(),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![AFTER_LOGOUT.into()],
            public,
            id_token_alg: alg.into(),
        },
        true,
    )
    .await
    .unwrap();
    use secrecy::ExposeSecret;
    (c.id, s.map(|s| s.expose_secret().to_owned()))
}

/// Walks a browser from `authorize` (a full URL on the app) through the IdP and Portico's
/// callback to the redirect Portico sends back to the client; returns that Location.
pub(crate) async fn walk(app: &TestApp, b: &reqwest::Client, authorize: &str) -> String {
    let path = authorize.strip_prefix(&app.base).expect("authorize on Portico");
    let cb = oidc::to_callback(app, b, path, "alice", "alice-password").await;
    let r = oidc::finish(b, &cb).await;
    assert_eq!(r.status, 302, "{}", r.text);
    let resume = r.headers["location"].to_str().unwrap().to_owned();
    assert!(
        resume.starts_with(&format!("{}/oauth2/authorize/resume", app.base)),
        "{resume}"
    );
    let r = TestApp::read(b.get(&resume).send().await.unwrap()).await;
    assert_eq!(r.status, 302, "{}", r.text);
    r.headers["location"].to_str().unwrap().to_owned()
}

pub(crate) fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

#[tokio::test]
async fn openid_client_signs_in_refreshes_revokes_and_logs_out() {
    let script = node_rp().await;
    let app = TestApp::start().await;
    let o = app.owner("acme").await;
    configure(&app, &o).await;
    let (id, secret) = client(&app, false, "ES256").await;
    let mut child = tokio::process::Command::new("node")
        .arg(&script)
        .args([
            &app.base,
            &id,
            secret.as_deref().unwrap(),
            REDIRECT,
            AFTER_LOGOUT,
            "acme",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&out.next_line().await.unwrap().expect("authorize line")).unwrap();
    let b = browser();
    let back = walk(&app, &b, first["authorize"].as_str().unwrap()).await;
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(query(&back)["iss"], app.base);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{back}\n").as_bytes()).await.unwrap();
    let done: Value = serde_json::from_str(&out.next_line().await.unwrap().expect("result line")).unwrap();
    let c = &done["claims"];
    let user_id: String = sqlx::query_scalar("SELECT id FROM users WHERE email = 'alice@example.com'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(c["sub"], user_id.as_str());
    assert_eq!(c["iss"], app.base);
    assert_eq!(c["aud"], id.as_str());
    assert_eq!(c["email"], "alice@example.com");
    assert_eq!(c["email_verified"], true);
    assert_eq!(c["org_id"], o.org_id.as_str());
    assert_eq!(c["org_slug"], "acme");
    assert_eq!(c["org_role"], "member");
    assert_eq!(c["amr"], json!(["sso"]));
    assert_eq!(c["idp_protocol"], "oidc");
    assert_eq!(done["header"]["alg"], "ES256");
    assert_eq!(done["userinfo"]["sub"], user_id.as_str());
    assert_eq!(done["userinfo"]["email"], "alice@example.com");
    assert_eq!(
        done["refreshed"],
        json!({"access": true, "refresh": true, "sub": user_id})
    );
    assert_eq!(done["revoked"], true, "userinfo must refuse a token of a revoked grant");
    // The first access token works as a Bearer on the Organization API, scoped like the SSO session.
    let at = done["access_token"].as_str().unwrap();
    let me = app
        .http
        .get(format!("{}/api/user/me", app.base))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    let me = TestApp::read(me).await;
    assert_eq!(
        me.status, 401,
        "revoking the refresh token ends the whole grant: {}",
        me.text
    );
    // Logout: ends the Portico session behind the ID token, back to the registered URI with state.
    let r = TestApp::read(b.get(done["logout"].as_str().unwrap()).send().await.unwrap()).await;
    assert_eq!(r.status, 302, "{}", r.text);
    assert_eq!(r.headers["location"], format!("{AFTER_LOGOUT}?state=bye"));
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE revoked_at IS NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(live, 0, "logout revokes the SSO session and everything derived from it");
    let _ = child.wait().await;
}

#[tokio::test]
async fn authlib_signs_in_with_rs256_and_post_auth() {
    let py = python_rp().await;
    let app = TestApp::start().await;
    let o = app.owner("acme").await;
    configure(&app, &o).await;
    let (id, secret) = client(&app, false, "RS256").await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/integration/provider_rp/rp_authlib.py");
    let mut child = tokio::process::Command::new(&py)
        .arg(&script)
        .args([&app.base, &id, secret.as_deref().unwrap(), REDIRECT, "acme"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("python");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&out.next_line().await.unwrap().expect("authorize line")).unwrap();
    let b = browser();
    let back = walk(&app, &b, first["authorize"].as_str().unwrap()).await;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{back}\n").as_bytes()).await.unwrap();
    let done: Value = serde_json::from_str(&out.next_line().await.unwrap().expect("result line")).unwrap();
    assert_eq!(done["claims"]["email"], "alice@example.com");
    assert_eq!(done["claims"]["org_slug"], "acme");
    assert_eq!(done["userinfo"]["email"], "alice@example.com");
    assert_eq!(done["refreshed"], true);
    assert_eq!(done["revoked_status"], 401);
    let _ = child.wait().await;
}

fn challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

const VERIFIER: &str = "verifier-verifier-verifier-verifier-verifier-0123";

pub(crate) fn authorize_url(app: &TestApp, client_id: &str, extra: &str) -> String {
    format!(
        "{}/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope=openid%20email&state=st&nonce=n1&organization=acme{extra}",
        app.base,
        urlencode(REDIRECT)
    )
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn token(app: &TestApp, form: &[(&str, &str)]) -> crate::support::Resp {
    TestApp::read(
        app.http
            .post(format!("{}/oauth2/token", app.base))
            .form(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn refusals_follow_the_spec() {
    let app = TestApp::start().await;
    let o = app.owner("acme").await;
    configure(&app, &o).await;
    let (conf, secret) = client(&app, false, "ES256").await;
    let secret = secret.unwrap();
    let (public, _) = client(&app, true, "ES256").await;
    let get = |u: String| {
        let h = app.http.clone();
        async move { TestApp::read(h.get(u).send().await.unwrap()).await }
    };
    // Unknown client and unregistered redirect URI: an HTML page, no redirect anywhere.
    let r = get(authorize_url(&app, "cli_01HZZZZZZZZZZZZZZZZZZZZZZZ", "")).await;
    assert_eq!(r.status, 400);
    assert!(r.headers.get("location").is_none());
    assert!(
        r.headers["content-type"].to_str().unwrap().starts_with("text/html"),
        "{:?}",
        r.headers
    );
    assert!(
        r.text.contains("Unknown application") && r.text.contains("Request id"),
        "{}",
        r.text
    );
    assert!(r.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let evil = authorize_url(&app, &conf, "").replace(&urlencode(REDIRECT), &urlencode("http://evil.example/cb"));
    let r = get(evil).await;
    assert_eq!(r.status, 400);
    assert!(
        r.headers.get("location").is_none(),
        "never redirected to an unregistered URI"
    );
    // After the redirect URI is known: errors on the redirect, with state and iss.
    let r = get(authorize_url(&app, &public, "")).await;
    assert_eq!(r.status, 302);
    let q = query(r.headers["location"].to_str().unwrap());
    assert_eq!(q["error"], "invalid_request", "public client without PKCE");
    assert_eq!(q["state"], "st");
    assert_eq!(q["iss"], app.base);
    let r = get(authorize_url(
        &app,
        &public,
        &format!("&code_challenge={}&code_challenge_method=plain", challenge(VERIFIER)),
    ))
    .await;
    assert_eq!(
        query(r.headers["location"].to_str().unwrap())["error"],
        "invalid_request",
        "plain refused"
    );
    let r = get(authorize_url(&app, &conf, "").replace("scope=openid%20email", "scope=email")).await;
    assert_eq!(query(r.headers["location"].to_str().unwrap())["error"], "invalid_scope");
    let r = get(authorize_url(&app, &conf, "").replace("response_type=code", "response_type=token")).await;
    assert_eq!(
        query(r.headers["location"].to_str().unwrap())["error"],
        "unsupported_response_type"
    );
    let r = get(authorize_url(&app, &conf, "&prompt=none")).await;
    assert_eq!(
        query(r.headers["location"].to_str().unwrap())["error"],
        "login_required"
    );
    // No routing hint: the sign-in page; an unknown domain says so plainly.
    let r = get(authorize_url(&app, &conf, "").replace("&organization=acme", "")).await;
    assert_eq!(r.status, 200);
    assert!(
        r.text.contains("name=\"login_hint\"") && r.text.contains("Work email"),
        "{}",
        r.text
    );
    let r = get(authorize_url(&app, &conf, "&login_hint=x%40nowhere.example").replace("&organization=acme", "")).await;
    assert!(
        r.text.contains("No organization signs in with nowhere.example"),
        "{}",
        r.text
    );

    // A real code for the public client with PKCE.
    let b = browser();
    let back = walk(
        &app,
        &b,
        &authorize_url(
            &app,
            &public,
            &format!("&code_challenge={}&code_challenge_method=S256", challenge(VERIFIER)),
        ),
    )
    .await;
    let code = query(&back)["code"].clone();
    // PKCE mismatch consumes nothing permanent but fails; the right verifier would then be a reuse.
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &public),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &format!("{VERIFIER}x")),
        ],
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "invalid_grant", "{}", r.text);
    assert_eq!(r.headers["cache-control"], "no-store");

    // A fresh code for the confidential client (the Portico session now answers at once).
    let r = TestApp::read(b.get(authorize_url(&app, &conf, "")).send().await.unwrap()).await;
    assert_eq!(r.status, 302, "{}", r.text);
    let code = query(r.headers["location"].to_str().unwrap())["code"].clone();
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &conf),
            ("client_secret", "wrong"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "invalid_client");
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "cli_01HZZZZZZZZZZZZZZZZZZZZZZZ"),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(r.body["error"], "invalid_client");
    // Another client presenting this client's code.
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &public),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(r.body["error"], "invalid_grant");
    // The code was presented once (by the wrong client): presenting it again revokes the grant.
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &conf),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(r.body["error"], "invalid_grant", "{}", r.text);

    // Code reuse revokes the tokens the first redemption issued.
    let r = TestApp::read(b.get(authorize_url(&app, &conf, "")).send().await.unwrap()).await;
    let code = query(r.headers["location"].to_str().unwrap())["code"].clone();
    let basic = app
        .http
        .post(format!("{}/oauth2/token", app.base))
        .basic_auth(&conf, Some(&secret));
    let r = TestApp::read(
        basic
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let at = r.body["access_token"].as_str().unwrap().to_owned();
    let me = TestApp::read(
        app.http
            .get(format!("{}/api/user/me", app.base))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        me.status, 200,
        "the access token is a Bearer on the Organization API: {}",
        me.text
    );
    assert_eq!(me.body["data"]["authentication"]["organizationId"], o.org_id.as_str());
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &conf),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(r.body["error"], "invalid_grant");
    let me = TestApp::read(
        app.http
            .get(format!("{}/api/user/me", app.base))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me.status, 401, "reuse revoked the first access token");
    let ui = TestApp::read(
        app.http
            .get(format!("{}/oauth2/userinfo", app.base))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ui.status, 401);

    // Expired code; wrong redirect_uri at the token endpoint.
    let r = TestApp::read(b.get(authorize_url(&app, &conf, "")).send().await.unwrap()).await;
    let code = query(r.headers["location"].to_str().unwrap())["code"].clone();
    sqlx::query("UPDATE oauth_codes SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
        .execute(&app.db)
        .await
        .ok();
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &conf),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(r.body["error"], "invalid_grant");
    assert!(
        r.body["error_description"].as_str().unwrap().contains("expired"),
        "{}",
        r.text
    );
    let r = TestApp::read(b.get(authorize_url(&app, &conf, "")).send().await.unwrap()).await;
    let code = query(r.headers["location"].to_str().unwrap())["code"].clone();
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &conf),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", "http://app.example.test/other"),
        ],
    )
    .await;
    assert_eq!(r.body["error"], "invalid_grant");
    let r = token(
        &app,
        &[
            ("grant_type", "password"),
            ("client_id", &conf),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(r.body["error"], "unsupported_grant_type");
    // Discovery names what RP libraries insist on.
    let d = get(format!("{}/.well-known/openid-configuration", app.base)).await;
    assert_eq!(d.body["issuer"], app.base);
    assert_eq!(d.body["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d.body["authorization_response_iss_parameter_supported"], true);
    let jwks = get(format!("{}/oauth2/jwks", app.base)).await;
    let algs: Vec<&str> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert!(algs.contains(&"ES256") && algs.contains(&"RS256"), "{algs:?}");
    assert!(jwks.text.find("\"d\"").is_none(), "no private parts in the JWKS");
}

#[tokio::test]
async fn signing_keys_stage_then_rotate_with_overlap() {
    let app = TestApp::start().await;
    let st = &app.state;
    portico_server::services::provider::keys::ensure(&st.db, &st.secrets)
        .await
        .unwrap();
    let before = TestApp::read(app.http.get(format!("{}/oauth2/jwks", app.base)).send().await.unwrap()).await;
    assert_eq!(before.body["keys"].as_array().unwrap().len(), 2);
    let staged = portico_server::services::provider::keys::stage(&st.db, &st.secrets)
        .await
        .unwrap();
    let after = TestApp::read(app.http.get(format!("{}/oauth2/jwks", app.base)).send().await.unwrap()).await;
    assert_eq!(
        after.body["keys"].as_array().unwrap().len(),
        4,
        "staged keys are published first"
    );
    let active: Vec<String> =
        sqlx::query_scalar("SELECT id FROM oauth_signing_keys WHERE status = 'active' ORDER BY alg")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(
        !active.iter().any(|k| staged.contains(k)),
        "staged keys do not sign yet"
    );
    let now = portico_server::services::provider::keys::rotate(&st.db, &st.secrets)
        .await
        .unwrap();
    assert_eq!(now, staged, "the staged keys become the signers");
    let rotated = TestApp::read(app.http.get(format!("{}/oauth2/jwks", app.base)).send().await.unwrap()).await;
    assert_eq!(
        rotated.body["keys"].as_array().unwrap().len(),
        4,
        "the old keys stay published"
    );
    let sealed: Vec<String> = sqlx::query_scalar("SELECT private_key FROM oauth_signing_keys")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(
        sealed.iter().all(|s| s.starts_with("v1:t1:")),
        "private keys sealed by the secret box"
    );
}
