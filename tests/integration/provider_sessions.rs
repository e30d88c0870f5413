//! Access tokens are sessions derived from a sign-in (SPEC §6: "scoped like the SSO session it
//! stands for"), not sign-ins of their own: the organization's session listings (Organization API
//! and `/v1/sso/sessions`) show the sign-in once, however many tokens an app was issued, and
//! revoking that sign-in ends every access token derived from it on the next request.

use reqwest::Method;

use crate::provider::{authorize_url, client, configure, query, walk, REDIRECT};
use crate::support::oidc::browser;
use crate::support::TestApp;

async fn tokens(app: &TestApp, id: &str, secret: &str, code: &str) -> serde_json::Value {
    let r = TestApp::read(
        app.http
            .post(format!("{}/oauth2/token", app.base))
            .basic_auth(id, Some(secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn bearer(app: &TestApp, path: &str, token: &str) -> u16 {
    let r = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

#[tokio::test]
async fn access_tokens_are_not_listed_as_sign_ins_and_end_with_their_sign_in() {
    let app = TestApp::start().await;
    let o = app.owner("acme").await;
    configure(&app, &o).await;
    let (id, secret) = client(&app, false, "ES256").await;
    let secret = secret.unwrap();
    let b = browser();
    let offline = |a: String| a.replace("scope=openid%20email", "scope=openid%20email%20offline_access");
    let back = walk(&app, &b, &offline(authorize_url(&app, &id, ""))).await;
    let first = tokens(&app, &id, &secret, &query(&back)["code"]).await;
    // A second authorization from the same Portico session: another grant, another token.
    let r = TestApp::read(b.get(offline(authorize_url(&app, &id, ""))).send().await.unwrap()).await;
    assert_eq!(r.status, 302, "{}", r.text);
    let second = tokens(
        &app,
        &id,
        &secret,
        &query(r.headers["location"].to_str().unwrap())["code"],
    )
    .await;
    let at1 = first["access_token"].as_str().unwrap();
    let at2 = second["access_token"].as_str().unwrap();
    assert_eq!(bearer(&app, "/api/user/me", at1).await, 200);
    assert_eq!(bearer(&app, "/oauth2/userinfo", at2).await, 200);

    let sign_in: String = sqlx::query_scalar("SELECT session_id FROM oauth_grants LIMIT 1")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE revoked_at IS NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 3, "one sign-in and two access-token sessions exist");
    // The Organization API lists the sign-in once.
    let r = app
        .call(
            Method::GET,
            &format!("/api/user/organizations/{}/sessions", o.org_id),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let listed = ids(&r.body["data"]);
    assert_eq!(listed, vec![sign_in.as_str()], "{}", r.text);
    // So does the SDK family.
    let r = TestApp::read(
        app.http
            .get(format!("{}/v1/sso/sessions", app.base))
            .bearer_auth(&o.key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let listed = ids(&r.body["sessions"]);
    assert_eq!(listed, vec![sign_in.as_str()], "{}", r.text);

    // An admin revokes the sign-in: every access token derived from it stops at once.
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/user/organizations/{}/sessions/{sign_in}", o.org_id),
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for at in [at1, at2] {
        assert_eq!(bearer(&app, "/api/user/me", at).await, 401, "Organization API");
        assert_eq!(bearer(&app, "/oauth2/userinfo", at).await, 401, "userinfo");
    }
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE revoked_at IS NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(live, 0, "the derived sessions are revoked with their sign-in");
    // And a refresh token of it mints nothing.
    let r = TestApp::read(
        app.http
            .post(format!("{}/oauth2/token", app.base))
            .basic_auth(&id, Some(&secret))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error"], "invalid_grant");
}

/// The `id`s of a listing's items, in order.
fn ids(items: &serde_json::Value) -> Vec<&str> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect()
}
