//! Operations: health, readiness, metrics, OpenAPI, configuration layers, key rotation, and the
//! real `portico` binary on the embedded PostgreSQL.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portico_core::secretbox::{SecretBox, Slot};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};

use crate::support::TestApp;

#[tokio::test]
async fn health_readiness_metrics_and_openapi() {
    let app = TestApp::start().await;
    assert_eq!(app.call(Method::GET, "/healthz", None, None).await.status, 200);
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["database"], "ok");
    let r = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("portico_http_requests_total"), "{text}");
    assert!(text.contains("portico_http_request_duration_seconds"));
    assert!(text.contains("portico_db_pool_connections"));
    let r = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(r.body["openapi"], "3.1.0");
    let (_, ops) = portico_server::api::all();
    for op in &ops {
        assert!(
            r.body["paths"][op.path][op.method].is_object(),
            "{} {} missing from OpenAPI",
            op.method,
            op.path
        );
    }
    assert!(ops.len() >= 20);
}

#[tokio::test]
async fn readyz_fails_cleanly_when_the_database_is_gone() {
    let app = TestApp::start().await;
    app.state.db.close().await;
    let r = app.call(Method::GET, "/readyz", None, None).await;
    crate::support::assert_envelope_error(&r, 503, "SERVICE_UNAVAILABLE");
}

#[tokio::test]
async fn keys_rotate_reseals_every_secret_in_one_transaction() {
    let app = TestApp::start().await;
    let o = app.owner("rotate").await;
    let k1 = SecretBox::generate_spec("k1");
    let k2 = SecretBox::generate_spec("k2");
    let old = SecretBox::from_specs(std::slice::from_ref(&k1)).unwrap();
    let id = portico_core::ids::prefixed(portico_core::ids::CONNECTION);
    let sealed = old
        .seal(
            "client-secret-value",
            Slot {
                table: "sso_connections",
                row: &id,
                column: "client_secret",
            },
        )
        .unwrap();
    sqlx::query("INSERT INTO sso_connections (id, organization_id, name, protocol, client_secret) VALUES ($1, $2, 'c', 'oidc', $3)")
        .bind(&id).bind(&o.org_id).bind(&sealed).execute(&app.db).await.unwrap();
    let new = SecretBox::from_specs(&[k2, k1]).unwrap();
    assert_eq!(portico_server::cli::keys::rotate(&app.db, &new).await.unwrap(), 1);
    let stored: String = sqlx::query_scalar("SELECT client_secret FROM sso_connections WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(stored.starts_with("v1:k2:"), "{stored}");
    assert!(!stored.contains("client-secret-value"));
    let opened = new
        .open(
            &stored,
            Slot {
                table: "sso_connections",
                row: &id,
                column: "client_secret",
            },
        )
        .unwrap();
    assert_eq!(opened.expose_secret(), "client-secret-value");
    assert_eq!(portico_server::cli::keys::rotate(&app.db, &new).await.unwrap(), 0);
    // A ring without the old key cannot rotate: nothing changes (one transaction).
    let stranger = SecretBox::from_specs(&[SecretBox::generate_spec("k9")]).unwrap();
    assert!(portico_server::cli::keys::rotate(&app.db, &stranger).await.is_err());
    let still: String = sqlx::query_scalar("SELECT client_secret FROM sso_connections WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(still, stored);
}

#[test]
fn configuration_layers_env_file_secrets_and_unknown_keys() {
    let dir = std::env::temp_dir().join(format!("portico-cfg-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let keyfile = dir.join("keys");
    let spec = SecretBox::generate_spec("filekey");
    std::fs::write(&keyfile, format!("{}\n", spec.expose_secret())).unwrap();
    let cfg = dir.join("extra.toml");
    std::fs::write(&cfg, "[server]\npublic_url = \"https://sso.example.com\"\n").unwrap();
    let env = vec![
        ("PORTICO_CONFIG".to_owned(), cfg.display().to_string()),
        ("PORTICO__SERVER__BIND".to_owned(), "127.0.0.1:9999".to_owned()),
        (
            "PORTICO__OUTBOUND__ALLOW_PRIVATE_NETWORKS".to_owned(),
            "true".to_owned(),
        ),
        (
            "PORTICO__DNS__NAMESERVERS".to_owned(),
            "[\"127.0.0.1:5353\"]".to_owned(),
        ),
        (
            "PORTICO__DATABASE__URL".to_owned(),
            "postgres://u:supersecretpw@db/portico".to_owned(),
        ),
        (
            "PORTICO__SECURITY__ENCRYPTION_KEYS_FILE".to_owned(),
            keyfile.display().to_string(),
        ),
    ];
    let s = portico_server::Settings::load_from(env.clone()).unwrap();
    assert_eq!(s.server.bind.port(), 9999);
    assert_eq!(s.server.public_url, "https://sso.example.com");
    assert!(s.secure_cookies());
    assert!(s.outbound.allow_private_networks);
    assert_eq!(s.dns.nameservers, vec!["127.0.0.1:5353".to_owned()]);
    assert_eq!(s.security.encryption_keys.len(), 1);
    assert_eq!(s.security.encryption_keys[0].expose_secret(), spec.expose_secret());
    let dbg = format!("{s:?}");
    assert!(
        !dbg.contains("supersecretpw") && !dbg.contains(spec.expose_secret()),
        "{dbg}"
    );
    let mut bad = env.clone();
    bad.push(("PORTICO__SERVER__BINDD".to_owned(), "x".to_owned()));
    let err = portico_server::Settings::load_from(bad).unwrap_err().to_string();
    assert!(err.contains("bindd"), "{err}");
    let mut bad = env;
    bad.push(("PORTICO__LOG__FORMAT".to_owned(), "xml".to_owned()));
    assert!(portico_server::Settings::load_from(bad).is_err());
    let _ = SecretString::from("x");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the binary; returns the child and its stderr lines so far once /readyz answers.
fn start_binary(data_dir: &std::path::Path, port: u16) -> (std::process::Child, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portico"))
        .arg("serve")
        .env_remove("PORTICO__DATABASE__URL")
        .env("PORTICO__EMBEDDED__DATA_DIR", data_dir)
        .env("PORTICO__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("PORTICO__SERVER__PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .current_dir(data_dir.parent().unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn portico");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Keep draining even after the receiver is gone, so the child never writes into a closed pipe.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let started = Instant::now();
    let mut lines = Vec::new();
    loop {
        while let Ok(l) = rx.try_recv() {
            lines.push(l);
        }
        let ok = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && reqwest::blocking_get_ok(&format!("http://127.0.0.1:{port}/readyz"));
        if ok {
            std::thread::sleep(Duration::from_millis(200));
            while let Ok(l) = rx.try_recv() {
                lines.push(l);
            }
            return (child, lines);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("portico exited {status}: {}", lines.join("\n"));
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "portico did not become ready: {}",
            lines.join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

mod reqwest {
    pub use ::reqwest::*;
    /// A tiny synchronous GET over a raw socket (the async client needs a runtime).
    pub fn blocking_get_ok(url: &str) -> bool {
        let Some(rest) = url.strip_prefix("http://") else {
            return false;
        };
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let Ok(mut s) = std::net::TcpStream::connect(host) else {
            return false;
        };
        use std::io::{Read, Write};
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
        if s.write_all(format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
            .is_err()
        {
            return false;
        }
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        buf.starts_with("HTTP/1.1 200")
    }
}

fn stop_binary(mut child: std::process::Child) {
    let _ = Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(status.success(), "portico exited with {status}");
            return;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("portico did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_without_a_database_url_runs_on_the_embedded_postgres_and_reuses_it() {
    let root = std::env::temp_dir().join(format!("portico-embedded-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&root).unwrap();
    let data_dir = root.join("pg");
    let port = free_port();
    let (child, lines) = start_binary(&data_dir, port);
    let all = lines.join("\n");
    assert!(all.contains("DEVELOPMENT MODE"), "{all}");
    let key = all
        .lines()
        .find_map(|l| l.trim().strip_prefix("API key      : "))
        .unwrap_or_else(|| panic!("no API key printed: {all}"))
        .trim()
        .to_owned();
    assert!(root.join("dev-encryption.key").exists());
    stop_binary(child);
    // Second start: same data, no second bootstrap, the printed key still works.
    let port = free_port();
    let (child, lines) = start_binary(&data_dir, port);
    assert!(
        !lines.join("\n").contains("DEVELOPMENT MODE — embedded"),
        "bootstrapped twice"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        ::reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/api/user/me"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    stop_binary(child);
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test]
async fn log_lines_inside_a_request_carry_its_request_id() {
    let app = TestApp::start().await;
    let r = app
        .http
        .get(format!("{}/api/auth/sso/callback?state=forged", app.base))
        .header("x-request-id", "req-span-4242")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let logs = crate::support::logs::captured();
    let line = logs
        .lines()
        .find(|l| l.contains("sso login refused") && l.contains("req-span-4242"));
    assert!(line.is_some(), "no refused-login log line with the request id");
    let v: serde_json::Value = serde_json::from_str(line.unwrap()).unwrap();
    assert_eq!(v["span"]["request_id"], "req-span-4242");
    assert_eq!(v["fields"]["code"], "INVALID_STATE");
}
