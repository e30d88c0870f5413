//! Real relying parties through the directory-password step: `openid-client` (npm) and `authlib`
//! (PyPI) each do discovery, PKCE and the code exchange, validate the ID token themselves and call
//! userinfo, while the test posts Portico's credential form as a browser would; the person signs
//! in once by username, once by email, against the real `slapd`.

use std::process::Stdio;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::provider::{client, node_rp, python_rp, query, AFTER_LOGOUT, REDIRECT};
use crate::provider_ldap::{open_form, post, setup};
use crate::support::oidc::browser;
use crate::support::TestApp;

/// Runs one RP process: its first line is the authorization URL, the browser fills the form
/// with `username`, the callback URL goes back on stdin, the second line is what it validated.
async fn run_rp(app: &TestApp, mut cmd: tokio::process::Command, username: &str) -> Value {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the RP");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&out.next_line().await.unwrap().expect("authorize line")).unwrap();
    let b = browser();
    let (_, h) = open_form(&b, first["authorize"].as_str().unwrap()).await;
    let r = post(
        app,
        &b,
        &[("h", &h), ("username", username), ("password", "alice-password")],
    )
    .await;
    assert_eq!(r.status, 302, "{}", r.text);
    let back = r.headers["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(query(&back)["iss"], app.base);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{back}\n").as_bytes()).await.unwrap();
    let done: Value = serde_json::from_str(&out.next_line().await.unwrap().expect("result line")).unwrap();
    let _ = child.wait().await;
    done
}

#[tokio::test]
async fn openid_client_and_authlib_sign_in_through_slapd() {
    let script = node_rp().await;
    let py = python_rp().await;
    let (app, o, conn_id) = setup(json!({"ldapSearchFilter": "(|(uid={{username}})(mail={{username}}))"})).await;
    let (id, secret) = client(&app, false, "ES256").await;
    let secret = secret.unwrap();

    // openid-client, by username.
    let mut node = tokio::process::Command::new("node");
    node.arg(&script)
        .args([&app.base, &id, &secret, REDIRECT, AFTER_LOGOUT, "acme"]);
    let done = run_rp(&app, node, "alice").await;
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
    assert_eq!(c["name"], "Alice Example");
    assert_eq!(c["org_id"], o.org_id.as_str());
    assert_eq!(c["org_slug"], "acme");
    assert_eq!(c["org_role"], "engineer", "the connection's defaultRole");
    assert_eq!(c["groups"], json!(["admins", "developers", "users"]));
    assert_eq!(c["amr"], json!(["sso"]));
    assert_eq!(c["idp_protocol"], "ldap");
    assert_eq!(c["connection_id"], conn_id.as_str());
    assert_eq!(done["header"]["alg"], "ES256");
    assert_eq!(done["userinfo"]["sub"], user_id.as_str());
    assert_eq!(done["userinfo"]["email"], "alice@example.com");
    assert_eq!(
        done["refreshed"],
        json!({"access": true, "refresh": true, "sub": user_id})
    );
    assert_eq!(done["revoked"], true);
    // The database: one user, one membership with the directory's role, the LDAP session.
    let (members, role): (i64, String) =
        sqlx::query_as("SELECT count(*) OVER (), role FROM memberships WHERE user_id = $1 AND organization_id = $2")
            .bind(&user_id)
            .bind(&o.org_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((members, role.as_str()), (1, "engineer"));
    let (method, conn, subject): (String, String, String) = sqlx::query_as(
        "SELECT s.method, s.connection_id, s.idp_subject FROM sessions s JOIN oauth_grants g ON g.session_id = s.id WHERE s.user_id = $1",
    )
    .bind(&user_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((method.as_str(), conn.as_str()), ("ldap", conn_id.as_str()));
    assert_eq!(subject.len(), 36, "entryUUID: {subject}");

    // authlib, by email: the same person, the same sub, no second user or membership.
    let rp =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/integration/provider_rp/rp_authlib.py");
    let mut python = tokio::process::Command::new(&py);
    python.arg(&rp).args([&app.base, &id, &secret, REDIRECT, "acme"]);
    let done = run_rp(&app, python, "alice@example.com").await;
    assert_eq!(done["claims"]["sub"], user_id.as_str(), "sub stable per person");
    assert_eq!(done["claims"]["email"], "alice@example.com");
    assert_eq!(done["claims"]["org_slug"], "acme");
    assert_eq!(done["claims"]["idp_protocol"], "ldap");
    assert_eq!(done["userinfo"]["sub"], user_id.as_str());
    assert_eq!(done["refreshed"], true);
    assert_eq!(done["revoked_status"], 401);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email = 'alice@example.com'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 1);
    let ldap_sessions: i64 = sqlx::query_scalar("SELECT count(DISTINCT g.session_id) FROM oauth_grants g JOIN sessions s ON s.id = g.session_id WHERE s.user_id = $1 AND s.method = 'ldap'")
        .bind(&user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        ldap_sessions, 2,
        "one LDAP sign-in session per login, each behind its grant"
    );
}
