//! A too-large or malformed IdP answer is the IdP's deterministic fault: a 4xx with
//! `IDP_RESPONSE_INVALID`, never a 502 the SDK retries (and retries, and retries).
//!
//! The IdP here is a forged fixture (a hostile server cannot be a real product): a raw HTTP
//! server whose discovery document is 4 MiB, or an HTML page.

use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::TestApp;

/// Serves `body` with `content_type` for every request; the base URL.
async fn hostile(content_type: &'static str, body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    base
}

#[tokio::test]
async fn oversized_and_non_json_discovery_answer_a_deterministic_4xx() {
    let huge = json!({ "issuer": "x", "padding": "x".repeat(4 << 20) }).to_string();
    for (slug, issuer) in [
        ("huge-idp", hostile("application/json", huge).await),
        (
            "html-idp",
            hostile("text/html", "<html><body>Sign in</body></html>".into()).await,
        ),
    ] {
        let app = TestApp::start().await;
        let o = app.owner(slug).await;
        let domain = format!("{slug}.example");
        let r = app
            .call(
                Method::POST,
                "/v1/sso/connections",
                Some(&o.key),
                Some(json!({
                    "name": "Hostile", "protocol": "oidc", "issuerUrl": issuer, "clientId": "c",
                    "clientSecret": "s", "domains": [domain], "redirectUris": ["https://app.example.test/cb"],
                })),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let r = app
            .call(
                Method::GET,
                &format!("/sso/login?org={}&domain={domain}", o.org_id),
                Some(&o.key),
                None,
            )
            .await;
        assert!(r.status.is_client_error(), "{slug}: {} {}", r.status, r.text);
        assert_eq!(r.body["code"], "IDP_RESPONSE_INVALID", "{slug}: {}", r.text);
        assert_eq!(app.count("login_transactions").await, 0, "{slug}: nothing written");
        // The Organization API's entry point answers the same code in its envelope.
        let r = TestApp::read(
            app.http
                .get(format!(
                    "{}/api/auth/sso/{slug}/login?email=someone%40{domain}",
                    app.base
                ))
                .send()
                .await
                .unwrap(),
        )
        .await;
        crate::support::assert_envelope_error(&r, 409, "IDP_RESPONSE_INVALID");
        // The test says what is wrong, as a failed check, not an error status.
        let r = app
            .call(
                Method::POST,
                &format!("/v1/sso/connections/{id}/test"),
                Some(&o.key),
                Some(json!({})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["success"], false);
    }
}
