//! Real clusters started from the machine's PostgreSQL binaries, and the pure helpers.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sqlx::Connection;

use super::binaries::{candidate_dirs, major_of, no_binaries};
use super::cluster::{conf_quote, OWNER_FILE, PASSWORD_FILE};
use super::files::{can_search, read_trimmed};
use super::process::{effective_uid, is_postmaster_of, process_alive};
use super::{url_encode, EmbeddedError, EmbeddedPostgres};

/// A temporary folder, removed on drop (our clusters are stopped first).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "portico-embedded-{tag}-{}",
            portico_core::token::random_urlsafe(6)
        ));
        fs::create_dir_all(&p).unwrap();
        // Traversable by the `postgres` user when the tests run as root.
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

async fn value_in(pg: &EmbeddedPostgres) -> String {
    let mut c = sqlx::PgConnection::connect(&pg.database_url("postgres")).await.unwrap();
    let v: String = sqlx::query_scalar("SELECT v FROM kept")
        .fetch_one(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    v
}

#[tokio::test]
async fn starts_stops_and_keeps_data_across_restarts() {
    let tmp = TempDir::new("persist");
    let data = tmp.0.join("nested").join("pg");
    let mut pg = EmbeddedPostgres::start(&data).await.unwrap();
    assert!(pg.port() > 0);

    // The password: 0600 file in the folder, hidden from Debug, in the URL.
    let pw_path = pg.data_dir().join(PASSWORD_FILE);
    let pw = fs::read_to_string(&pw_path).unwrap().trim().to_owned();
    assert!(pw.len() >= 40);
    assert_eq!(fs::metadata(&pw_path).unwrap().permissions().mode() & 0o777, 0o600);
    let dbg = format!("{pg:?}");
    assert!(!dbg.contains(&pw), "Debug must not show the password: {dbg}");
    assert!(dbg.contains("[redacted]"));
    let url = pg.database_url("postgres");
    assert_eq!(
        url,
        format!("postgres://postgres:{pw}@127.0.0.1:{}/postgres", pg.port())
    );

    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE kept (v text)").execute(&mut c).await.unwrap();
    sqlx::query("INSERT INTO kept VALUES ('persisted')")
        .execute(&mut c)
        .await
        .unwrap();
    // Defaults kept (durability), and SCRAM.
    let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(&mut c).await.unwrap();
    assert_eq!(fsync, "on");
    let listen: String = sqlx::query_scalar("SHOW listen_addresses")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(listen, "127.0.0.1");
    c.close().await.unwrap();

    // The password is required.
    let bad = format!("postgres://postgres:wrong@127.0.0.1:{}/postgres", pg.port());
    assert!(sqlx::PgConnection::connect(&bad).await.is_err());

    pg.ensure_database("portico_dev").await.unwrap();
    pg.ensure_database("portico_dev").await.unwrap();
    sqlx::PgConnection::connect(&pg.database_url("portico_dev"))
        .await
        .unwrap()
        .close()
        .await
        .unwrap();

    let old_url = pg.database_url("postgres");
    pg.stop().await.unwrap();
    pg.stop().await.unwrap(); // idempotent
    assert!(sqlx::PgConnection::connect(&old_url).await.is_err());
    assert!(!pg.data_dir().join("postmaster.pid").exists());

    let mut again = EmbeddedPostgres::start(&data).await.unwrap();
    assert_eq!(value_in(&again).await, "persisted");
    again.stop().await.unwrap();
}

#[tokio::test]
async fn recovers_from_what_a_crashed_run_left_behind() {
    let tmp = TempDir::new("crash");
    let data = tmp.0.join("pg");
    let mut pg = EmbeddedPostgres::start(&data).await.unwrap();
    let mut c = sqlx::PgConnection::connect(&pg.database_url("postgres")).await.unwrap();
    sqlx::query("CREATE TABLE kept AS SELECT 'x'::text AS v")
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();

    // 1. Portico died without stopping its server: the server runs on, orphaned, and its
    //    owner record names a process that is gone.
    let orphan_pid = read_trimmed(&data.join("postmaster.pid")).unwrap();
    let orphan_pid: u32 = orphan_pid.lines().next().unwrap().parse().unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    fs::write(pg.data_dir().join(OWNER_FILE), format!("{gone_pid} 1\n")).unwrap();
    pg.stopped = true; // as if the process had died: no stop, no drop-stop
    drop(pg);
    assert!(process_alive(orphan_pid));

    let mut pg = EmbeddedPostgres::start(&data).await.unwrap();
    assert_eq!(value_in(&pg).await, "x");
    assert!(!is_postmaster_of(orphan_pid, &fs::canonicalize(&data).unwrap()));

    // 2. While it runs, a second start on the same folder is refused.
    match EmbeddedPostgres::start(&data).await {
        Err(EmbeddedError::InUse { owner_pid, .. }) => {
            assert_eq!(owner_pid, std::process::id())
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    pg.stop().await.unwrap();

    // 3. The machine died: postmaster.pid stayed, and its pid now belongs to another live
    //    process (here: this test), which PostgreSQL alone would take for a running server.
    let pidfile = data.join("postmaster.pid");
    fs::write(
        &pidfile,
        format!(
            "{}\n{}\n0\n5432\n\n127.0.0.1\n0 0\nready   \n",
            std::process::id(),
            data.display()
        ),
    )
    .unwrap();
    let mut pg = EmbeddedPostgres::start(&data).await.unwrap();
    assert_eq!(value_in(&pg).await, "x");
    pg.stop().await.unwrap();
}

#[tokio::test]
async fn stops_by_itself_once_the_owner_process_is_gone() {
    let tmp = TempDir::new("owner");
    let mut pg = EmbeddedPostgres::start(&tmp.0.join("pg")).await.unwrap();
    let pidfile = pg.data_dir().join("postmaster.pid");
    let postmaster: u32 = read_trimmed(&pidfile).unwrap().lines().next().unwrap().parse().unwrap();
    // Watch a short-lived stand-in for this process instead of this test process.
    pg.end_watcher();
    let mut owner = std::process::Command::new("sleep").arg("0.5").spawn().unwrap();
    pg.spawn_watcher(owner.id());
    owner.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while process_alive(postmaster) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!process_alive(postmaster), "the watcher did not stop the server");
    assert!(!pidfile.exists());
    pg.stopped = true; // already stopped, by the watcher
}

#[tokio::test]
async fn dropping_a_running_cluster_stops_it() {
    let tmp = TempDir::new("drop");
    let pg = EmbeddedPostgres::start(&tmp.0.join("pg")).await.unwrap();
    let port = pg.port();
    let pidfile = pg.data_dir().join("postmaster.pid");
    drop(pg);
    assert!(!pidfile.exists());
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err());
}

#[tokio::test]
async fn refuses_a_folder_the_postgres_user_cannot_reach() {
    if effective_uid() != Some(0) {
        return; // only root hands the cluster to another user
    }
    let tmp = TempDir::new("private");
    let private = tmp.0.join("private");
    fs::DirBuilder::new().mode(0o700).create(&private).unwrap();
    match EmbeddedPostgres::start(&private.join("pg")).await {
        Err(EmbeddedError::NotTraversable { path, user }) => {
            assert_eq!(path, fs::canonicalize(&private).unwrap());
            assert_eq!(user, "postgres");
        }
        other => panic!("expected NotTraversable, got {other:?}"),
    }
}

#[tokio::test]
async fn refuses_a_non_empty_folder_without_a_cluster() {
    let tmp = TempDir::new("notcluster");
    fs::write(tmp.0.join("something"), "x").unwrap();
    match EmbeddedPostgres::start(&tmp.0).await {
        Err(EmbeddedError::NotACluster { .. }) => {}
        other => panic!("expected NotACluster, got {other:?}"),
    }
}

#[test]
fn no_binaries_names_the_package_to_install() {
    let empty = TempDir::new("nobin");
    assert!(candidate_dirs(Some(std::ffi::OsStr::new("")), &empty.0).is_empty());
    let msg = no_binaries().to_string();
    assert!(msg.contains("apt-get install postgresql"), "{msg}");
}

#[test]
fn finds_versioned_binaries_highest_first() {
    let root = TempDir::new("libroot");
    for v in ["9.6", "15", "13", "notaversion"] {
        let bin = root.0.join(v).join("bin");
        fs::create_dir_all(&bin).unwrap();
        for b in ["initdb", "pg_ctl", "postgres"] {
            fs::write(bin.join(b), "#!/bin/sh\n").unwrap();
            fs::set_permissions(bin.join(b), fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    fs::create_dir_all(root.0.join("16").join("bin")).unwrap(); // no binaries: skipped
    let dirs = candidate_dirs(None, &root.0);
    let names: Vec<String> = dirs
        .iter()
        .map(|d| d.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["15", "13", "9.6"]);
}

#[test]
fn versions_and_permissions() {
    assert_eq!(major_of("15.18"), "15");
    assert_eq!(major_of("9.6.24"), "9.6");
    assert_eq!(major_of("17beta1"), "17");
    assert!(can_search(0o755, 0, 0, 101, &[104]));
    assert!(!can_search(0o700, 0, 0, 101, &[104]));
    assert!(can_search(0o710, 0, 104, 101, &[104]));
    assert!(!can_search(0o701, 0, 104, 101, &[104])); // group class applies, not other
    assert!(can_search(0o700, 101, 0, 101, &[]));
    assert_eq!(url_encode("a b/c@d"), "a%20b%2Fc%40d");
    assert_eq!(conf_quote("/x/it's"), "'/x/it''s'");
}
