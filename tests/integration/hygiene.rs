//! Input and connection hygiene, over raw sockets where a client library would tidy the bytes:
//! NUL and lone surrogates in JSON strings, trailing data, invalid UTF-8, query and form
//! bodies, duplicate `Content-Length`, slow heads and bodies, and idle connections.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::TestApp;

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Sends `bytes` on a fresh connection and reads until the server closes it (or 5 s pass).
async fn raw(app: &TestApp, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr(app)).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn request(method: &str, path: &str, key: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nX-Api-Key: {key}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn json_of(resp: &str) -> serde_json::Value {
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {resp}"))
}

#[tokio::test]
async fn json_strings_with_nul_or_lone_surrogates_and_trailing_data_are_400_naming_the_field() {
    let app = TestApp::start().await;
    let o = app.owner("hyg").await;
    let path = format!("/api/user/organizations/{}", o.org_id);
    let cases: [(&[u8], &str); 6] = [
        (br#"{"name":"a\u0000b"}"#, "name"),
        (br#"{"name":"a\ud800b"}"#, "name"),
        (br#"{"name":"\udc00"}"#, "name"),
        (br#"{"name":"ok"} {"name":"again"}"#, "body"),
        (br#"{"name":"ok"}garbage"#, "body"),
        (b"{\"name\":\"caf\xe9\"}", "body"),
    ];
    for (body, field) in cases {
        let resp = raw(&app, &request("PATCH", &path, &o.key, body)).await;
        assert!(
            resp.starts_with("HTTP/1.1 400"),
            "{}: {resp}",
            String::from_utf8_lossy(body)
        );
        let v = json_of(&resp);
        assert_eq!(v["code"], "VALIDATION_ERROR", "{resp}");
        if field != "body" {
            assert_eq!(v["details"][0]["field"], field, "{resp}");
        }
    }
    // A NUL nested in an array, in the SDK family; an escaped backslash before u0000 is text.
    let r = app
        .raw(
            Method::POST,
            "/v1/sso/connections",
            Some(&o.key),
            "application/json",
            br#"{"name":"n","protocol":"oidc","domains":["a.example","b\u0000.example"]}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["code"], "VALIDATION_ERROR");
    assert!(r.body["message"].as_str().unwrap().contains("domains[1]"), "{}", r.text);
    assert_eq!(app.count("sso_connections").await, 0, "nothing half-written");
    let r = app
        .raw(
            Method::PATCH,
            &path,
            Some(&o.key),
            "application/json",
            br#"{"name":"back\\u0000slash"}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let name: String = sqlx::query_scalar("SELECT name FROM organizations WHERE id = $1")
        .bind(&o.org_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        name, "back\\u0000slash",
        "only the last write landed; refused ones wrote nothing"
    );
}

#[tokio::test]
async fn query_strings_paths_and_forms_are_decoded_strictly() {
    let app = TestApp::start().await;
    let o = app.owner("hygq").await;
    for path in [
        "/api/user/organizations?limit=%00".to_owned(),
        "/api/user/organizations?limit=%ff".to_owned(),
        format!("/api/user/organizations/{}/members?cursor=a%00", o.org_id),
        "/api/auth/sso/callback?state=%00&code=x".to_owned(),
        "/sso/callback?state=ab%00&code=x".to_owned(),
    ] {
        let r = app.call(Method::GET, &path, Some(&o.key), None).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        assert_eq!(r.body["code"], "VALIDATION_ERROR", "{path}: {}", r.text);
    }
    // A NUL in a path segment never reaches PostgreSQL.
    for path in ["/v1/sso/connections/sso_%00", "/api/user/organizations/%00"] {
        let r = app.call(Method::GET, path, Some(&o.key), None).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
    }
    // The SAML POST binding: a NUL or invalid UTF-8 in the form is a 400, and a person's
    // browser sees a page, not JSON.
    for form in ["SAMLResponse=abc%00&RelayState=x", "SAMLResponse=%C3%28&RelayState=x"] {
        let r = app
            .http
            .post(format!("{}/api/auth/sso/callback", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "text/html")
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{form}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let page = r.text().await.unwrap();
        assert!(
            page.contains("VALIDATION_ERROR") && !page.contains("\"success\""),
            "{page}"
        );
    }
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/user/organizations/{}", o.org_id),
            Some(&o.key),
            Some(json!({"name": "fine"})),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn duplicate_content_length_is_refused_before_the_app() {
    let app = TestApp::start().await;
    let o = app.owner("hygc").await;
    let req = format!(
        "PATCH /api/user/organizations/{} HTTP/1.1\r\nHost: x\r\nX-Api-Key: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 15\r\nContent-Length: 16\r\n\r\n{{\"name\":\"dup\"}}",
        o.org_id, o.key
    );
    let resp = raw(&app, req.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    let name: String = sqlx::query_scalar("SELECT name FROM organizations WHERE id = $1")
        .bind(&o.org_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_ne!(name, "dup");
}

/// Whether the server closed `s` within `limit` (read returns 0 or an error).
async fn closed_within(s: &mut TcpStream, limit: Duration) -> (bool, String) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (true, String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (false, String::from_utf8_lossy(&out).into_owned()),
        }
    }
}

#[tokio::test]
async fn slow_heads_slow_bodies_and_idle_connections_are_cut_and_never_starve_others() {
    let app = TestApp::start_with(|s| {
        s.server.header_read_timeout_secs = 2;
        s.server.body_read_timeout_secs = 2;
    })
    .await;
    let o = app.owner("slow").await;

    // Slowloris: one header byte every 300 ms never completes the head; cut at ~2 s.
    let mut slow = TcpStream::connect(addr(&app)).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let t0 = Instant::now();
    let dripper = tokio::spawn(async move {
        for b in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            .iter()
            .cycle()
            .take(40)
        {
            if slow.write_all(&[*b]).await.is_err() {
                return (true, t0.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let (closed, _) = closed_within(&mut slow, Duration::from_millis(100)).await;
        (closed, t0.elapsed())
    });

    // Many idle connections (nothing sent) and keep-alive connections gone quiet.
    let mut idle = Vec::new();
    for _ in 0..64 {
        idle.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    let mut kept = TcpStream::connect(addr(&app)).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    // Meanwhile a normal request is answered at once.
    let t = Instant::now();
    let r = app.call(Method::GET, "/api/user/me", Some(&o.key), None).await;
    assert_eq!(r.status, 200);
    assert!(t.elapsed() < Duration::from_secs(1), "answered in {:?}", t.elapsed());

    // A body that drips is cut with 408 at the body deadline, nothing written.
    let mut body = TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!(
        "PATCH /api/user/organizations/{} HTTP/1.1\r\nHost: x\r\nX-Api-Key: {}\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{{\"name\":",
        o.org_id, o.key
    );
    body.write_all(head.as_bytes()).await.unwrap();
    let (closed, resp) = closed_within(&mut body, Duration::from_secs(5)).await;
    assert!(closed, "slow body not cut: {resp}");
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    assert_envelope_error_text(&resp, 408, "REQUEST_TIMEOUT");

    // Every idle connection and the quiet keep-alive one are closed by the header timeout.
    for s in idle.iter_mut() {
        let (closed, _) = closed_within(s, Duration::from_secs(3)).await;
        assert!(closed, "idle connection still open");
    }
    let (closed, _) = closed_within(&mut kept, Duration::from_secs(3)).await;
    assert!(closed, "idle keep-alive connection still open");
    let (closed, took) = dripper.await.unwrap();
    assert!(closed, "slowloris connection still open");
    assert!(took < Duration::from_secs(6), "slowloris cut after {took:?}");

    let r = app.call(Method::GET, "/api/user/me", Some(&o.key), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn the_connection_cap_queues_new_clients_instead_of_refusing_them() {
    let app = TestApp::start_with(|s| {
        s.server.max_connections = 4;
        s.server.header_read_timeout_secs = 1;
    })
    .await;
    // Four idle sockets take every slot; a fifth client waits until the header timeout frees one.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    let r = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, 200);
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

fn assert_envelope_error_text(resp: &str, status: u16, code: &str) {
    let v = json_of(resp);
    assert_eq!(v["status"], status, "{resp}");
    assert_eq!(v["code"], code, "{resp}");
    assert_eq!(v["success"], false, "{resp}");
}
