//! Database faults under load, on a PRIVATE PostgreSQL cluster (the shared harness cluster other
//! tests use is never touched): restart it and stop it for a few seconds while concurrent
//! clients read and write through both API families. Every answer is a success or a 503 with
//! `Retry-After` (never a 500), `/readyz` answers promptly throughout (bounded by its 800 ms
//! probe; under 1 s on an idle machine, see scripts/fault), every acknowledged
//! write is stored exactly once, and Portico recovers without a restart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portico_store::embedded::EmbeddedPostgres;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestApp;

/// `pg_ctl` of the machine's PostgreSQL (as the `postgres` user under root, like the embedded
/// cluster's own commands).
pub struct PgCtl {
    pg_ctl: PathBuf,
    data_dir: PathBuf,
    as_postgres: bool,
}

impl PgCtl {
    pub fn for_cluster(data_dir: &Path) -> Self {
        let from_path = std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("pg_ctl"))
                .find(|c| c.is_file())
        });
        let pg_ctl = from_path
            .or_else(|| {
                let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                    .ok()?
                    .filter_map(|e| e.ok().map(|e| e.path().join("bin/pg_ctl")))
                    .filter(|p| p.is_file())
                    .collect();
                dirs.sort();
                dirs.pop()
            })
            .expect("pg_ctl");
        let uid = std::process::Command::new("id").arg("-u").output().expect("id -u");
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        Self {
            pg_ctl,
            data_dir: data_dir.to_path_buf(),
            as_postgres,
        }
    }

    /// A server log file inside the data folder (a started server must not inherit our pipes).
    pub fn log(&self) -> String {
        self.data_dir.join("fault-drill.log").to_string_lossy().into_owned()
    }

    /// Runs `pg_ctl <args> -D <data_dir>` and waits for it.
    pub async fn run(&self, args: &[&str]) {
        let mut cmd = if self.as_postgres {
            let mut c = tokio::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&self.pg_ctl);
            c
        } else {
            tokio::process::Command::new(&self.pg_ctl)
        };
        cmd.args(args).arg("-D").arg(&self.data_dir);
        let out = cmd.output().await.expect("run pg_ctl");
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A private cluster with a migrated `portico` database; its URL.
pub async fn private_cluster(tag: &str) -> (EmbeddedPostgres, String) {
    let dir = std::env::temp_dir().join(format!("portico-fault-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pg = EmbeddedPostgres::start(&dir).await.expect("private PostgreSQL");
    pg.ensure_database("portico").await.expect("database");
    let url = pg.database_url("portico");
    let pool = portico_store::connect(&url, 2).await.expect("connect");
    portico_store::migrate(&pool).await.expect("migrate");
    pool.close().await;
    (pg, url)
}

/// Stops a private cluster and deletes its folder (each is ~50 MB; left behind they fill the disk
/// over many runs).
pub async fn end_private_cluster(mut pg: EmbeddedPostgres) {
    let dir = pg.data_dir().to_path_buf();
    pg.stop().await.expect("stop the private PostgreSQL");
    let _ = std::fs::remove_dir_all(dir);
}

#[derive(Default)]
struct Tally {
    by_status: BTreeMap<u16, u64>,
    /// Unexpected answers (status, route, body), kept for the failure message.
    bad: Vec<String>,
    /// Domains whose creation was acknowledged (201).
    acked: Vec<String>,
    readyz_max: Duration,
    readyz_slow: Vec<Duration>,
}

fn check_answer(
    t: &mut Tally,
    what: &str,
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &str,
    sdk: bool,
) {
    *t.by_status.entry(status.as_u16()).or_default() += 1;
    match status.as_u16() {
        200 | 201 => {}
        503 => {
            let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            let retry = headers.get("retry-after").and_then(|v| v.to_str().ok());
            let shape_ok = if sdk {
                v["code"] == "SERVICE_UNAVAILABLE" && v["requestId"].is_string() && v.get("success").is_none()
            } else {
                v["code"] == "SERVICE_UNAVAILABLE" && v["success"] == false && v["status"] == 503
            };
            if retry.is_none() || !shape_ok {
                t.bad
                    .push(format!("{what}: 503 without Retry-After or in the wrong shape: {body}"));
            }
        }
        s => t.bad.push(format!("{what}: {s} {body}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_restart_and_outage_answer_503_never_500() {
    let (pg, url) = private_cluster("drill").await;
    let ctl = PgCtl::for_cluster(pg.data_dir());
    let app = Arc::new(TestApp::start_on(&url, |s| s.database.acquire_timeout_ms = 1000).await);
    let o = app.owner("fault").await;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let drill = Instant::now();
    let mut tasks = Vec::new();

    // Writers: each creates domains with unique names (Organization API).
    for w in 0..2 {
        let (app, tally, stop, key, org) = (
            app.clone(),
            tally.clone(),
            stop.clone(),
            o.key.clone(),
            o.org_id.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let domain = format!("w{w}-{n}.example.com");
                let r = app
                    .http
                    .post(format!("{}/api/user/organizations/{org}/domains", app.base))
                    .header("x-api-key", &key)
                    .json(&json!({ "domain": domain }))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                match r {
                    Ok(r) => {
                        let (status, headers) = (r.status(), r.headers().clone());
                        let body = r.text().await.unwrap_or_default();
                        let mut t = tally.lock().unwrap();
                        check_answer(&mut t, "POST domains", status, &headers, &body, false);
                        if status == StatusCode::CREATED {
                            t.acked.push(domain);
                        }
                    }
                    Err(e) => tally
                        .lock()
                        .unwrap()
                        .bad
                        .push(format!("POST domains: transport error {e}")),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    // Readers: both families.
    for (path, sdk) in [("/api/user/me", false), ("/v1/sso/connections", true)] {
        let (app, tally, stop, key) = (app.clone(), tally.clone(), stop.clone(), o.key.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = app
                    .http
                    .get(format!("{}{path}", app.base))
                    .bearer_auth(&key)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                match r {
                    Ok(r) => {
                        let (status, headers) = (r.status(), r.headers().clone());
                        let body = r.text().await.unwrap_or_default();
                        check_answer(&mut tally.lock().unwrap(), path, status, &headers, &body, sdk);
                    }
                    Err(e) => tally.lock().unwrap().bad.push(format!("{path}: transport error {e}")),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    // The readiness probe, as a load balancer would run it.
    {
        let (app, tally, stop) = (app.clone(), tally.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                let r = app
                    .http
                    .get(format!("{}/readyz", app.base))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                let took = t0.elapsed();
                {
                    let mut t = tally.lock().unwrap();
                    t.readyz_max = t.readyz_max.max(took);
                    // The probe is bounded at 800 ms server-side; this also measures the test
                    // process's own scheduling on a loaded machine (load 12 on 2 cores in a full
                    // run), so the bound asserted is against the old 5 s hang, with headroom;
                    // scripts/fault reports the figure.
                    if took >= Duration::from_secs(2) {
                        t.readyz_slow.push(took);
                    }
                    match r {
                        Ok(r) if matches!(r.status().as_u16(), 200 | 503) => {}
                        Ok(r) => t.bad.push(format!("/readyz answered {}", r.status())),
                        Err(e) => t.bad.push(format!("/readyz: {e}")),
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(1)).await;
    // 1. A fast restart (every pooled connection dies).
    ctl.run(&["restart", "-m", "fast", "-w", "-s", "-l", &ctl.log()]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // 2. A stop of a few seconds.
    ctl.run(&["stop", "-m", "fast", "-w", "-s"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let down = Instant::now();
    // Meanwhile: readiness says no, and a browser route shows a page, not JSON.
    let r = app.http.get(format!("{}/readyz", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let r = app
        .http
        .get(format!("{}/api/auth/sso/fault/login", app.base))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = r.text().await.unwrap();
    assert!(
        page.contains("temporarily unavailable") && page.contains("request id"),
        "{page}"
    );
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(down.elapsed())).await;
    ctl.run(&["start", "-w", "-s", "-t", "60", "-l", &ctl.log()]).await;
    let up = Instant::now();
    // 3. Recovery without restarting Portico: the first requests after the start succeed soon.
    let mut recovered = None;
    while up.elapsed() < Duration::from_secs(20) {
        let r = app.call(reqwest::Method::GET, "/api/user/me", Some(&o.key), None).await;
        if r.status == 200 {
            recovered = Some(up.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered = recovered.expect("Portico did not recover after PostgreSQL came back");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }

    let elapsed = drill.elapsed();
    let t = std::mem::take(&mut *tally.lock().unwrap());
    let answered: u64 = t.by_status.values().sum();
    // One line scripts/fault reports (a debug build on the test machine; see the README).
    eprintln!(
        "fault drill: {answered} answers in {:.1} s ({:.0} req/s held through a restart and a 3 s stop); \
         by status {:?}; /readyz max {} ms; first success {} ms after PostgreSQL accepted connections; \
         {} acknowledged writes, each stored once",
        elapsed.as_secs_f64(),
        answered as f64 / elapsed.as_secs_f64(),
        t.by_status,
        t.readyz_max.as_millis(),
        recovered.as_millis(),
        t.acked.len()
    );
    assert!(t.bad.is_empty(), "unexpected answers: {:#?}", t.bad);
    assert!(!t.by_status.contains_key(&500));
    assert!(
        t.by_status.get(&503).copied().unwrap_or(0) > 0,
        "the outage was not seen: {:?}",
        t.by_status
    );
    assert!(t.readyz_slow.is_empty(), "/readyz took ≥ 2 s: {:?}", t.readyz_slow);
    assert!(!t.acked.is_empty());
    // Every acknowledged write is there exactly once.
    for d in &t.acked {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM organization_domains WHERE domain = $1")
            .bind(d)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(n, 1, "{d} stored {n} times");
    }
    // After recovery, everything answers again.
    let r = app.call(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, 200);
    end_private_cluster(pg).await;
}
