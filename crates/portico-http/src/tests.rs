#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::resolver::{filter_addrs, ResolveError};

/// What the test server does with a request for a path.
#[derive(Clone, Copy)]
enum Reply {
    /// 200 with a `Content-Length` body of this many bytes.
    Sized(usize),
    /// 200 without `Content-Length`: this many bytes, then close.
    Streamed(usize),
    /// 302 to `/elsewhere`.
    Redirect,
    /// Never answer.
    Silent,
}

struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

async fn serve(reply: fn(&str) -> Reply) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move { answer(stream, reply, &counter).await });
        }
    });
    Server { addr, hits }
}

async fn answer(mut stream: TcpStream, reply: fn(&str) -> Reply, hits: &AtomicUsize) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    hits.fetch_add(1, Ordering::SeqCst);
    let text = String::from_utf8_lossy(&head);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let _ = match reply(&path) {
        Reply::Sized(n) => {
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\nconnection: close\r\n\r\n");
            stream.write_all(head.as_bytes()).await.ok();
            write_body(&mut stream, n).await
        }
        Reply::Streamed(n) => {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n")
                .await
                .ok();
            write_body(&mut stream, n).await
        }
        Reply::Redirect => {
            let resp = "HTTP/1.1 302 Found\r\nlocation: /elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            stream.write_all(resp.as_bytes()).await
        }
        Reply::Silent => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        }
    };
}

async fn write_body(stream: &mut TcpStream, n: usize) -> std::io::Result<()> {
    let chunk = [b'x'; 8192];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        stream.write_all(&chunk[..k]).await?;
        left -= k;
    }
    stream.shutdown().await
}

fn client(allow_private: bool, allow_http: bool, max: usize, timeout: Duration) -> OutboundClient {
    OutboundClient::new(OutboundPolicy {
        allow_private_networks: allow_private,
        allow_insecure_http: allow_http,
        timeout,
        max_body_bytes: max,
    })
    .unwrap()
}

fn lab() -> OutboundClient {
    client(true, true, 1024, Duration::from_secs(5))
}

#[test]
fn default_policy_is_strict() {
    let p = OutboundPolicy::default();
    assert!(!p.allow_private_networks);
    assert!(!p.allow_insecure_http);
    assert_eq!(p.timeout, Duration::from_secs(10));
    assert_eq!(p.max_body_bytes, 1 << 20);
}

#[tokio::test]
async fn refuses_plain_http_unless_allowed() {
    let c = OutboundClient::new(OutboundPolicy::default()).unwrap();
    let err = c
        .get_json("http://idp.example.com/.well-known/openid-configuration?x=secret")
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::InsecureScheme { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("http://idp.example.com/.well-known/openid-configuration"),
        "{msg}"
    );
    assert!(!msg.contains("secret"), "query strings are never shown: {msg}");

    let err = c.get_json("ftp://idp.example.com/x").await.unwrap_err();
    assert!(matches!(err, OutboundError::InvalidUrl { .. }), "{err:?}");
    let err = c.get_json("not a url").await.unwrap_err();
    assert!(matches!(err, OutboundError::InvalidUrl { .. }), "{err:?}");
}

#[tokio::test]
async fn refuses_non_public_ip_literals() {
    let c = client(false, true, 1024, Duration::from_secs(2));
    for url in [
        "https://127.0.0.1/",
        "https://[::1]:8443/x",
        "https://10.1.2.3/",
        "http://169.254.169.254/latest/meta-data/",
        "https://[::ffff:127.0.0.1]/",
        "https://[fd00::1]/",
        "http://0x7f.1/",     // 127.0.0.1 in hex/short form
        "http://2130706433/", // 127.0.0.1 as one number
        "https://0.0.0.0/",
    ] {
        let err = c.get_json(url).await.unwrap_err();
        assert!(matches!(err, OutboundError::ForbiddenAddress { .. }), "{url}: {err:?}");
        assert!(err.to_string().contains("private networks are not allowed"), "{err}");
        assert!(matches!(IdpError::from(err), IdpError::Unavailable(_)));
    }
}

#[tokio::test]
async fn refuses_names_that_resolve_to_loopback_before_connecting() {
    let server = serve(|_| Reply::Sized(2)).await;
    let c = client(false, true, 1024, Duration::from_secs(5));
    let url = format!("http://localhost:{}/jwks", server.addr.port());
    let err = c.get_json(&url).await.unwrap_err();
    match &err {
        OutboundError::ForbiddenAddress { host, addr, .. } => {
            assert_eq!(host, "localhost");
            assert!(addr.is_loopback(), "{addr}");
        }
        other => panic!("expected ForbiddenAddress, got {other:?}"),
    }
    assert!(err.to_string().contains("localhost resolves to"), "{err}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 0, "no connection was made");
}

#[tokio::test]
async fn reaches_loopback_when_allowed() {
    let server = serve(|_| Reply::Sized(5)).await;
    for host in ["127.0.0.1", "localhost"] {
        let resp = lab()
            .get_json(&format!("http://{host}:{}/ok", server.addr.port()))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.body(), b"xxxxx");
    }
}

#[tokio::test]
async fn does_not_follow_redirects() {
    let server = serve(|path| {
        if path == "/start" {
            Reply::Redirect
        } else {
            Reply::Sized(1)
        }
    })
    .await;
    let resp = lab()
        .get_json(&format!("http://127.0.0.1:{}/start", server.addr.port()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "/elsewhere");
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        1,
        "the redirect target was not requested"
    );
}

#[tokio::test]
async fn caps_bodies() {
    let server = serve(|path| match path {
        "/exact" => Reply::Sized(1024),
        "/declared" => Reply::Sized(1025),
        "/streamed-small" => Reply::Streamed(1000),
        _ => Reply::Streamed(64 << 20),
    })
    .await;
    let base = format!("http://127.0.0.1:{}", server.addr.port());
    let c = lab();

    assert_eq!(c.get_json(&format!("{base}/exact")).await.unwrap().body().len(), 1024);
    assert_eq!(
        c.get_json(&format!("{base}/streamed-small"))
            .await
            .unwrap()
            .body()
            .len(),
        1000
    );

    let err = c.get_json(&format!("{base}/declared")).await.unwrap_err();
    assert!(matches!(err, OutboundError::TooLarge { limit: 1024, .. }), "{err:?}");

    // 64 MiB without Content-Length: reading stops at the cap instead of buffering it all.
    let t0 = Instant::now();
    let err = c.get_json(&format!("{base}/endless")).await.unwrap_err();
    assert!(matches!(err, OutboundError::TooLarge { limit: 1024, .. }), "{err:?}");
    assert!(err.to_string().contains("1024-byte limit"), "{err}");
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "stopped early: {:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn applies_the_timeout() {
    let server = serve(|_| Reply::Silent).await;
    let c = client(true, true, 1024, Duration::from_millis(400));
    let t0 = Instant::now();
    let err = c
        .get_json(&format!("http://127.0.0.1:{}/slow", server.addr.port()))
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("within 400 ms"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn reports_refused_connections() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = lab().get_json(&format!("http://127.0.0.1:{port}/")).await.unwrap_err();
    assert!(matches!(err, OutboundError::Connect { .. }), "{err:?}");
    assert!(matches!(IdpError::from(err), IdpError::Unavailable(_)));
}

#[tokio::test]
async fn reports_unresolvable_names() {
    let err = lab().get_json("http://does-not-exist.invalid/").await.unwrap_err();
    assert!(matches!(err, OutboundError::Resolve { .. }), "{err:?}");
}

#[test]
fn resolver_keeps_only_public_addresses() {
    let a = |s: &str| -> SocketAddr { s.parse().unwrap() };
    let mixed = vec![a("127.0.0.1:0"), a("93.184.216.34:0"), a("[fd00::1]:0")];
    assert_eq!(
        filter_addrs("h", mixed.clone(), false).unwrap(),
        vec![a("93.184.216.34:0")]
    );
    assert_eq!(filter_addrs("h", mixed, true).unwrap().len(), 3);
    match filter_addrs("rebind.example", vec![a("10.0.0.5:0"), a("[::1]:0")], false) {
        Err(ResolveError::Forbidden { host, addr, reason }) => {
            assert_eq!(host, "rebind.example");
            assert_eq!(addr.to_string(), "10.0.0.5");
            assert!(reason.contains("private"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        filter_addrs("h", vec![], true),
        Err(ResolveError::NoAddress { .. })
    ));
}

#[test]
fn redacts_urls() {
    let url = Url::parse("https://user:pw@idp.example.com:8443/a/b?code=xyz#frag").unwrap();
    assert_eq!(redact_url(&url), "https://idp.example.com:8443/a/b");
}
