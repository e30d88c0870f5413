//! A private PostgreSQL cluster for the quick start (`portico serve` without a database URL) and for
//! local development, started from the machine's own PostgreSQL server binaries.
//!
//! - The binaries are looked up on `PATH`, then in `/usr/lib/postgresql/<version>/bin` (highest
//!   version first; an existing cluster picks the binaries of its own major version).
//! - One folder holds everything: the cluster, the superuser password (a 0600 file written at
//!   `initdb`), the settings Portico rewrites at each start (`portico.conf`) and the server log.
//! - The server listens on 127.0.0.1 only, on a free port chosen at each start, and on a unix
//!   socket inside the folder; every connection needs the password (SCRAM-SHA-256). Durability
//!   settings stay at PostgreSQL's defaults.
//! - `initdb` and `postgres` refuse to run as root: under root the cluster belongs to the
//!   unprivileged `postgres` system user (created when missing) and every PostgreSQL command runs
//!   through `runuser -u postgres --`.
//! - The server belongs to the process that started it: [`EmbeddedPostgres::stop`], or dropping
//!   the value, stops it; if that process ends without either (killed, crashed, or the value sits in
//!   a `static` that is never dropped), a small watcher process stops it within a second.
//! - A run that died without stopping its server leaves either a stale `postmaster.pid` or an
//!   orphaned server; the next [`EmbeddedPostgres::start`] deals with both (see
//!   `clear_leftovers`).

// The public API is in this file; the rest, by topic:
mod binaries; // finding initdb, pg_ctl and postgres
mod cluster; // initdb, settings, password file, pg_ctl start, stale pid and orphan handling
mod error; // EmbeddedError
mod files; // permission checks, chown, private (0600) files, small reads
mod process; // running commands (as the postgres user under root), /proc, the owner watcher
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

pub use error::EmbeddedError;

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use binaries::find_binaries;
use cluster::{OWNER_FILE, PG_CTL_WAIT_SECS};
use error::io_err;
use files::{check_traversable, read_trimmed};
use process::{not_running, run, run_as, user_groups, RunAs};

/// Name of the cluster's superuser role.
const SUPERUSER: &str = "postgres";
const START_ATTEMPTS: usize = 3;

/// The superuser password; never printed.
#[derive(Clone)]
struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A private PostgreSQL server running from a local data folder. Stop it with [`stop`](Self::stop);
/// dropping a running one stops it too (synchronously, best effort).
pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    version: String,
    port: u16,
    password: Password,
    run_as: RunAs,
    stopped: bool,
    /// Stops the server once this process is gone (see `spawn_watcher`).
    watcher: Option<std::process::Child>,
}

impl fmt::Debug for EmbeddedPostgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedPostgres")
            .field("data_dir", &self.data_dir)
            .field("bin_dir", &self.bin_dir)
            .field("version", &self.version)
            .field("port", &self.port)
            .field("user", &SUPERUSER)
            .field("password", &self.password)
            .field("run_as", &self.run_as)
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

impl EmbeddedPostgres {
    /// initdb into `data_dir` if it holds no cluster, else reuse it; start postgres on a free
    /// 127.0.0.1 port; wait until it accepts connections.
    pub async fn start(data_dir: &Path) -> Result<Self, EmbeddedError> {
        let t0 = Instant::now();
        let run_as = run_as().await?;

        // The folder: create it (0700, parents with the default mode), resolve it, check access.
        if !data_dir.exists() {
            if let Some(parent) = data_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(io_err(format!("create {}", parent.display())))?;
            }
            match fs::DirBuilder::new().mode(0o700).create(data_dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(format!("create {}", data_dir.display()))(e)),
            }
        }
        let data_dir = fs::canonicalize(data_dir).map_err(io_err(format!("resolve {}", data_dir.display())))?;
        if let RunAs::User { name, uid, gid, .. } = &run_as {
            let groups = user_groups(name, *gid).await;
            check_traversable(&data_dir, name, *uid, &groups)?;
        }

        let cluster_version = read_trimmed(&data_dir.join("PG_VERSION"));
        let binaries = find_binaries(cluster_version.as_deref(), &data_dir).await?;

        let mut pg = EmbeddedPostgres {
            bin_dir: binaries.dir.clone(),
            version: binaries.version.clone(),
            port: 0,
            password: Password(String::new()),
            run_as,
            stopped: true,
            watcher: None,
            data_dir,
        };
        pg.fix_ownership()?;
        if cluster_version.is_none() {
            pg.initdb().await?;
        } else {
            pg.password = pg.read_password()?;
        }
        pg.ensure_include()?;
        pg.clear_leftovers().await?;
        pg.rotate_log();

        let mut attempt = 0;
        loop {
            attempt += 1;
            pg.port = free_port()?;
            pg.write_settings()?;
            match pg.pg_ctl_start().await {
                Ok(()) => break,
                // Someone took the port between our probe and the server's bind: pick another.
                Err(EmbeddedError::Command { output, .. })
                    if attempt < START_ATTEMPTS && output.contains("Address already in use") =>
                {
                    tracing::warn!(port = pg.port, "port taken meanwhile, retrying on another");
                }
                Err(e) => return Err(e),
            }
        }
        pg.stopped = false;
        pg.write_owner();
        pg.spawn_watcher(std::process::id());
        wait_for_tcp(pg.port, Duration::from_secs(10)).await?;
        tracing::info!(
            data_dir = %pg.data_dir.display(),
            port = pg.port,
            version = %pg.version,
            elapsed_ms = t0.elapsed().as_millis() as u64,
            "embedded PostgreSQL started"
        );
        Ok(pg)
    }

    /// postgres://USER:PASSWORD@127.0.0.1:PORT/{database}
    pub fn database_url(&self, database: &str) -> String {
        format!(
            "postgres://{}:{}@127.0.0.1:{}/{}",
            url_encode(SUPERUSER),
            url_encode(&self.password.0),
            self.port,
            url_encode(database)
        )
    }

    /// The TCP port on 127.0.0.1, chosen at this start.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The (resolved) data folder.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Creates `database` (owned by the superuser) unless it exists; safe against a concurrent
    /// creator.
    pub async fn ensure_database(&self, database: &str) -> Result<(), EmbeddedError> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.database_url("postgres")).await?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(database)
            .fetch_optional(&mut conn)
            .await?;
        if exists.is_none() {
            let sql = format!("CREATE DATABASE \"{}\"", database.replace('"', "\"\""));
            match sqlx::query(&sql).execute(&mut conn).await {
                Ok(_) => tracing::info!(database, "created database in the embedded PostgreSQL"),
                // 42P04 duplicate_database: created meanwhile by someone else.
                Err(e) if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("42P04") => {}
                Err(e) => return Err(e.into()),
            }
        }
        conn.close().await?;
        Ok(())
    }

    /// pg_ctl stop -m fast, waiting.
    pub async fn stop(&mut self) -> Result<(), EmbeddedError> {
        if self.stopped {
            return Ok(());
        }
        self.end_watcher();
        let args = self.stop_args();
        let cmd = self.run_as.tokio_command(&self.bin("pg_ctl"), &args);
        match run(cmd, "pg_ctl stop", Duration::from_secs(PG_CTL_WAIT_SECS + 10)).await {
            Ok(_) => {}
            Err(EmbeddedError::Command { output, .. }) if not_running(&output) => {
                tracing::warn!(data_dir = %self.data_dir.display(), "embedded PostgreSQL was not running");
            }
            Err(e) => return Err(e),
        }
        self.stopped = true;
        let _ = fs::remove_file(self.data_dir.join(OWNER_FILE));
        tracing::info!(data_dir = %self.data_dir.display(), port = self.port, "embedded PostgreSQL stopped");
        Ok(())
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.end_watcher();
        let mut cmd = self.run_as.std_command(&self.bin("pg_ctl"), &self.stop_args());
        match cmd.output() {
            Ok(out) if out.status.success() => {
                let _ = fs::remove_file(self.data_dir.join(OWNER_FILE));
                tracing::info!(data_dir = %self.data_dir.display(), "embedded PostgreSQL stopped (on drop)");
            }
            Ok(out) => tracing::warn!(
                status = %out.status,
                output = %String::from_utf8_lossy(&out.stderr).trim(),
                "could not stop the embedded PostgreSQL on drop"
            ),
            Err(e) => tracing::warn!(error = %e, "could not run pg_ctl stop on drop"),
        }
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> Result<u16, EmbeddedError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(io_err("find a free port on 127.0.0.1"))?;
    let port = listener
        .local_addr()
        .map_err(io_err("find a free port on 127.0.0.1"))?
        .port();
    Ok(port)
}

async fn wait_for_tcp(port: u16, limit: Duration) -> Result<(), EmbeddedError> {
    let deadline = Instant::now() + limit;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(EmbeddedError::NotReady {
                port,
                secs: limit.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
