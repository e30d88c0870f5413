//! The `portico` binary at start-up: it waits for a database that comes late (answering
//! `/healthz`, and 503 on `/readyz` and everything else meanwhile), gives up on one that never
//! comes after `database.connect_timeout_secs` naming the host, writes only JSON lines with
//! `log.format = json` (start, refused start, fatal configuration error), and one-shot commands
//! print their result on stdout with nothing on stderr. `portico healthcheck` (the container health
//! check) passes while `/healthz` answers and fails, naming the URL, otherwise.

use std::process::Stdio;
use std::time::{Duration, Instant};

use portico_core::secretbox::SecretBox;
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use crate::support::db;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `url` with its host and port replaced by 127.0.0.1:`port`.
fn via_port(url: &str, port: u16) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_host(Some("127.0.0.1")).unwrap();
    u.set_port(Some(port)).unwrap();
    u.to_string()
}

/// A `portico` process with its output collected.
struct Portico {
    child: Child,
    stdout: tokio::task::JoinHandle<String>,
    stderr: tokio::task::JoinHandle<String>,
}

/// Output of a finished run.
struct Output {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Portico {
    fn spawn(args: &[&str], env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_portico"));
        cmd.args(args)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .env_remove("PORTICO_LOG")
            .env(
                "PORTICO__SECURITY__ENCRYPTION_KEYS",
                format!("[\"{}\"]", SecretBox::generate_spec("t1").expose_secret()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn portico");
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let stdout = tokio::spawn(async move {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s).await;
            s
        });
        let stderr = tokio::spawn(async move {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s).await;
            s
        });
        Self { child, stdout, stderr }
    }

    /// Waits for the exit (at most `limit`).
    async fn finish(mut self, limit: Duration) -> Output {
        let status = match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(s) => s.unwrap(),
            Err(_) => {
                let _ = self.child.kill().await;
                let err = self.stderr.await.unwrap();
                panic!("portico still running after {limit:?}: {err}");
            }
        };
        Output {
            success: status.success(),
            stdout: self.stdout.await.unwrap(),
            stderr: self.stderr.await.unwrap(),
        }
    }

    /// SIGTERM, then [`Portico::finish`].
    async fn stop(self) -> Output {
        let pid = self.child.id().unwrap();
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
        self.finish(Duration::from_secs(30)).await
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

/// Every line is one JSON object; returns them.
fn json_lines(what: &str, text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(v) if v.is_object() => v,
            _ => panic!("{what}: not a JSON object line: {l:?}\nwhole output:\n{text}"),
        })
        .collect()
}

fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap_or_default()
}

async fn get(port: u16, path: &str) -> Option<reqwest::Response> {
    reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()
}

/// Forwards `port` to `target` (from when it is called: the database "comes up").
async fn open_proxy(port: u16, target: std::net::SocketAddr) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

fn db_addr(url: &str) -> std::net::SocketAddr {
    let u = url::Url::parse(url).unwrap();
    format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(5432))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn serve_waits_for_a_database_that_comes_late_and_logs_only_json() {
    let url = db::fresh_database().await;
    let (db_port, http) = (free_port(), free_port());
    let mut p = Portico::spawn(
        &["serve"],
        &[
            ("PORTICO__DATABASE__URL", via_port(&url, db_port)),
            ("PORTICO__SERVER__BIND", format!("127.0.0.1:{http}")),
            ("PORTICO__LOG__FORMAT", "json".into()),
        ],
    );
    // Up before the database: live, not ready, and every other route refused with 503.
    let started = Instant::now();
    let health = loop {
        if let Some(r) = get(http, "/healthz").await {
            break r;
        }
        assert!(p.running(), "portico exited while waiting for the database");
        assert!(started.elapsed() < Duration::from_secs(60), "no /healthz");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(health.status(), 200);
    let ready = get(http, "/readyz").await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE", "{body}");
    let doc = get(http, "/api/openapi.json").await.unwrap();
    assert_eq!(doc.status(), 503, "routes are closed until the database is migrated");
    // The database "comes up" a few seconds after the start.
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(started.elapsed())).await;
    assert!(p.running(), "portico gave up before the database came");
    let proxy = open_proxy(db_port, db_addr(&url)).await;
    let started = Instant::now();
    loop {
        if get(http, "/readyz").await.is_some_and(|r| r.status() == 200) {
            break;
        }
        assert!(p.running(), "portico exited");
        assert!(started.elapsed() < Duration::from_secs(60), "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(http, "/api/openapi.json").await.unwrap().status(), 200);
    let out = p.stop().await;
    proxy.abort();
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let lines = json_lines("serve", &out.stderr);
    let host = format!("127.0.0.1:{db_port}");
    let retries: Vec<_> = lines
        .iter()
        .filter(|l| message(l).contains("not reachable yet") && l["host"] == host.as_str())
        .collect();
    assert!(!retries.is_empty(), "{}", out.stderr);
    assert!(retries
        .iter()
        .all(|l| l["level"] == "WARN" && l["retry_in_ms"].is_u64()));
    for wanted in [
        "portico listening on http://",
        "reachable",
        "portico ready",
        "portico stopped",
    ] {
        assert!(
            lines.iter().any(|l| message(l).contains(wanted)),
            "{wanted}: {}",
            out.stderr
        );
    }
    assert!(!out.stderr.contains("_sqlx_migrations"), "{}", out.stderr);
}

#[tokio::test]
async fn serve_gives_up_on_a_database_that_never_comes_naming_the_host() {
    let (db_port, http) = (free_port(), free_port());
    let started = Instant::now();
    let p = Portico::spawn(
        &["serve"],
        &[
            (
                "PORTICO__DATABASE__URL",
                format!("postgres://portico:secret-pw@127.0.0.1:{db_port}/portico"),
            ),
            ("PORTICO__SERVER__BIND", format!("127.0.0.1:{http}")),
            ("PORTICO__DATABASE__CONNECT_TIMEOUT_SECS", "3".into()),
            ("PORTICO__LOG__FORMAT", "json".into()),
        ],
    );
    let out = p.finish(Duration::from_secs(60)).await;
    assert!(!out.success);
    assert!(started.elapsed() >= Duration::from_secs(3), "gave up before the limit");
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let lines = json_lines("refused start", &out.stderr);
    let host = format!("127.0.0.1:{db_port}");
    let attempts = lines
        .iter()
        .filter(|l| message(l).contains("not reachable yet"))
        .count();
    assert!(attempts >= 2, "{}", out.stderr);
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "ERROR", "{}", out.stderr);
    assert!(
        message(last).contains(&format!("database at {host} not reachable after 3 s")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("secret-pw"), "{}", out.stderr);
}

#[tokio::test]
async fn migrate_waits_too_and_reports_in_plain_text_without_json() {
    let db_port = free_port();
    let out = Portico::spawn(
        &["migrate"],
        &[
            (
                "PORTICO__DATABASE__URL",
                format!("postgres://p:p@127.0.0.1:{db_port}/p"),
            ),
            ("PORTICO__DATABASE__CONNECT_TIMEOUT_SECS", "1".into()),
        ],
    )
    .finish(Duration::from_secs(60))
    .await;
    assert!(!out.success);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "portico: database at 127.0.0.1:{db_port} not reachable after 1 s"
        )),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn a_fatal_configuration_error_is_one_json_line() {
    let out = Portico::spawn(
        &["serve"],
        &[
            ("PORTICO__LOG__FORMAT", "json".into()),
            ("PORTICO__SERVER__PUBLIC_URL", "not a url".into()),
        ],
    )
    .finish(Duration::from_secs(30))
    .await;
    assert!(!out.success);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let lines = json_lines("fatal configuration error", &out.stderr);
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert_eq!(lines[0]["level"], "ERROR");
    assert!(message(&lines[0]).contains("server.public_url"), "{}", out.stderr);
}

#[tokio::test]
async fn one_shot_commands_print_their_result_on_stdout_and_nothing_on_stderr() {
    let url = db::fresh_database().await;
    let env = [("PORTICO__DATABASE__URL", url)];
    // Already migrated: nothing to do, and nothing said about it.
    let out = Portico::spawn(&["migrate"], &env).finish(Duration::from_secs(60)).await;
    assert!(out.success, "{}", out.stderr);
    assert_eq!(out.stderr, "", "migrate wrote to stderr");
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["migrated"], true);
    assert!(v["schemaVersion"].as_i64().unwrap() >= 1, "{v}");
    let out = Portico::spawn(
        &[
            "bootstrap",
            "--org-name",
            "Acme",
            "--org-slug",
            "acme",
            "--owner-email",
            "owner@acme.test",
        ],
        &env,
    )
    .finish(Duration::from_secs(60))
    .await;
    assert!(out.success, "{}", out.stderr);
    assert_eq!(out.stderr, "", "bootstrap wrote to stderr");
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert!(v["apiKey"].as_str().is_some_and(|k| !k.is_empty()), "{v}");
}

#[tokio::test]
async fn healthcheck_succeeds_only_while_the_server_answers_healthz() {
    let (db_port, http) = (free_port(), free_port());
    // Bound to every address, as in the image: the check asks 127.0.0.1 on the bind port.
    let bind = ("PORTICO__SERVER__BIND", format!("0.0.0.0:{http}"));
    let wanted = format!("http://127.0.0.1:{http}/healthz");
    let down = Portico::spawn(&["healthcheck"], std::slice::from_ref(&bind))
        .finish(Duration::from_secs(30))
        .await;
    assert!(!down.success, "no server yet, but the check passed");
    assert!(down.stdout.is_empty(), "{}", down.stdout);
    assert!(
        down.stderr.contains(&wanted),
        "the error names the URL asked: {}",
        down.stderr
    );

    // A server waiting for its database is live (/healthz 200) but not ready (/readyz 503).
    let mut p = Portico::spawn(
        &["serve"],
        &[
            (
                "PORTICO__DATABASE__URL",
                format!("postgres://portico@127.0.0.1:{db_port}/portico"),
            ),
            bind.clone(),
        ],
    );
    let started = Instant::now();
    while get(http, "/healthz").await.is_none() {
        assert!(p.running(), "portico exited");
        assert!(started.elapsed() < Duration::from_secs(60), "no /healthz");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let up = Portico::spawn(&["healthcheck"], std::slice::from_ref(&bind))
        .finish(Duration::from_secs(30))
        .await;
    assert!(up.success, "{}", up.stderr);
    assert!(
        up.stdout.is_empty() && up.stderr.is_empty(),
        "{}{}",
        up.stdout,
        up.stderr
    );
    let readyz = format!("http://127.0.0.1:{http}/readyz");
    let not_ready = Portico::spawn(&["healthcheck", "--url", &readyz], &[bind])
        .finish(Duration::from_secs(30))
        .await;
    assert!(!not_ready.success, "/readyz is 503 until the database comes");
    assert!(not_ready.stderr.contains("503"), "{}", not_ready.stderr);
    p.stop().await;
}
