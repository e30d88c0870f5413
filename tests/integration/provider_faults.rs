//! The provider's routes while PostgreSQL is down (a PRIVATE cluster, as in `faults`): the JSON
//! endpoints answer RFC 6749 `temporarily_unavailable` with 503 and `Retry-After` (a client may
//! retry), the browser routes a 503 page; never a 500, never `server_error`. The requests are
//! built by hand (Basic auth, forms, bearer), so each answer is checked against the OpenAPI
//! document explicitly ([`crate::support::Resp::conforms`]).

use std::time::Duration;

use portico_server::services::provider::clients::{self, NewClient};

use crate::faults::{end_private_cluster, private_cluster, PgCtl};
use crate::support::TestApp;

fn assert_unavailable_json(what: &str, r: &crate::support::Resp) {
    assert_eq!(r.status, 503, "{what}: {}", r.text);
    assert_eq!(r.body["error"], "temporarily_unavailable", "{what}: {}", r.text);
    assert!(r.headers.contains_key("retry-after"), "{what}: {:?}", r.headers);
    assert_eq!(r.headers["cache-control"], "no-store", "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_temporarily_unavailable_on_every_provider_route() {
    let (pg, url) = private_cluster("provider").await;
    let ctl = PgCtl::for_cluster(pg.data_dir());
    let app = TestApp::start_on(&url, |s| s.database.acquire_timeout_ms = 1000).await;
    let (client, secret) = clients::add(
        &app.db,
        NewClient {
            name: "App".into(),
            redirect_uris: vec![crate::provider::REDIRECT.into()],
            post_logout_redirect_uris: vec![],
            public: false,
            id_token_alg: "ES256".into(),
        },
        true,
    )
    .await
    .unwrap();
    use secrecy::ExposeSecret;
    let secret = secret.unwrap().expose_secret().to_owned();
    // While up, a bad code is the client's fault (400), as before.
    let token = |code: &'static str| {
        let (h, base, id, secret) = (app.http.clone(), app.base.clone(), client.id.clone(), secret.clone());
        async move {
            TestApp::read(
                h.post(format!("{base}/oauth2/token"))
                    .basic_auth(id, Some(secret))
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("code", code),
                        ("redirect_uri", crate::provider::REDIRECT),
                    ])
                    .timeout(Duration::from_secs(15))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
            .checked("post", "/oauth2/token")
        }
    };
    let r = token("pac_unknown").await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error"], "invalid_grant");

    ctl.run(&["stop", "-m", "fast", "-w", "-s"]).await;
    let r = token("pac_unknown").await;
    assert_unavailable_json("token", &r);
    let r = TestApp::read(
        app.http
            .get(format!("{}/oauth2/userinfo", app.base))
            .bearer_auth("pss_whatever")
            .send()
            .await
            .unwrap(),
    )
    .await
    .checked("get", "/oauth2/userinfo");
    assert_unavailable_json("userinfo", &r);
    let r = TestApp::read(
        app.http
            .post(format!("{}/oauth2/revoke", app.base))
            .basic_auth(&client.id, Some(&secret))
            .form(&[("token", "prt_whatever")])
            .send()
            .await
            .unwrap(),
    )
    .await
    .checked("post", "/oauth2/revoke");
    assert_unavailable_json("revoke", &r);
    let r = TestApp::read(app.http.get(format!("{}/oauth2/jwks", app.base)).send().await.unwrap())
        .await
        .checked("get", "/oauth2/jwks");
    assert_eq!(r.status, 503, "jwks: {}", r.text);
    assert_eq!(r.body["error"], "temporarily_unavailable", "jwks: {}", r.text);
    assert!(r.headers.contains_key("retry-after"));
    // The browser route: a page, with Retry-After, not a 500 and not JSON.
    let r = TestApp::read(
        app.http
            .get(format!(
                "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid",
                app.base,
                client.id,
                crate::provider::REDIRECT
            ))
            .send()
            .await
            .unwrap(),
    )
    .await
    .checked("get", "/oauth2/authorize");
    assert_eq!(r.status, 503, "authorize: {}", r.text);
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(r.headers.contains_key("retry-after"));
    assert!(
        r.text.contains("temporarily unavailable") && r.text.contains("Request id"),
        "{}",
        r.text
    );

    ctl.run(&["start", "-w", "-s", "-t", "60", "-l", &ctl.log()]).await;
    // Recovery without a restart: the same request is the client's fault again.
    let mut last = None;
    for _ in 0..100 {
        let r = token("pac_unknown").await;
        if r.status == 400 {
            last = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last.expect("recovered").body["error"], "invalid_grant");
    end_private_cluster(pg).await;
}
