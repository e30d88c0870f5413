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

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Name of the cluster's superuser role.
const SUPERUSER: &str = "postgres";
/// Unprivileged system user the cluster runs as when Portico runs as root.
const SYSTEM_USER: &str = "postgres";
/// Superuser password, 0600, inside the data folder.
const PASSWORD_FILE: &str = "portico_superuser_password";
/// Per-start settings (port, listen address, socket folder), included by `postgresql.conf`.
const SETTINGS_FILE: &str = "portico.conf";
const INCLUDE_LINE: &str = "include_if_exists = 'portico.conf'";
/// `<pid> <start time>` of the process that started the running server.
const OWNER_FILE: &str = "portico.owner";
/// Server log (stderr of the postmaster), rotated once at start when larger than `LOG_ROTATE_BYTES`.
const LOG_FILE: &str = "portico-postgres.log";
const LOG_ROTATE_BYTES: u64 = 16 * 1024 * 1024;
/// Where Debian/Ubuntu install the server binaries, one folder per major version.
const LIB_ROOT: &str = "/usr/lib/postgresql";
const INSTALL_HINT: &str = "install the PostgreSQL server with `apt-get install postgresql` \
    (Debian/Ubuntu: binaries in /usr/lib/postgresql/<version>/bin), or put a folder holding \
    initdb, pg_ctl and postgres on PATH";
/// `sun_path` is 108 bytes; the socket file is `<dir>/.s.PGSQL.<port>`.
const MAX_SOCKET_PATH: usize = 107;
const INITDB_TIMEOUT: Duration = Duration::from_secs(300);
const PG_CTL_WAIT_SECS: u64 = 90;
const START_ATTEMPTS: usize = 3;

/// Why the embedded PostgreSQL could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// No PostgreSQL server binaries on this machine.
    #[error("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: {hint}")]
    NoBinaries {
        /// What to install.
        hint: String,
    },
    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A command (initdb, pg_ctl, useradd, …) failed; `output` is its output or the log's tail.
    #[error("`{command}` failed ({status}): {output}")]
    Command {
        /// The command line, without secrets.
        command: String,
        /// Exit status, or why it did not finish.
        status: String,
        /// What it printed (never contains the password).
        output: String,
    },
    /// The `postgres` system user cannot reach the data folder.
    #[error(
        "{path} is not traversable by the `{user}` user that runs the embedded PostgreSQL \
         (running as root): allow it with `chmod o+x {path}`, or choose a data folder outside it \
         (e.g. under /var/lib or /srv)"
    )]
    NotTraversable {
        /// The ancestor folder lacking the search (x) permission.
        path: PathBuf,
        /// The system user.
        user: String,
    },
    /// The folder holds files but no PostgreSQL cluster.
    #[error(
        "{path} is not empty but holds no PostgreSQL cluster (no PG_VERSION): \
         empty it or choose another data folder"
    )]
    NotACluster {
        /// The data folder.
        path: PathBuf,
    },
    /// The cluster has no Portico password file (not created by Portico, or initdb was interrupted).
    #[error(
        "the cluster in {data_dir} has no password file {PASSWORD_FILE} (it was not created by \
         Portico, or its initdb was interrupted): remove the folder to start afresh"
    )]
    MissingPassword {
        /// The data folder.
        data_dir: PathBuf,
    },
    /// The cluster's major version differs from every installed server's.
    #[error(
        "the cluster in {data_dir} is PostgreSQL {cluster}, the binaries found are PostgreSQL \
         {binaries}: install postgresql-{cluster}, or move the folder aside to start afresh"
    )]
    VersionMismatch {
        /// The data folder.
        data_dir: PathBuf,
        /// Major version in `PG_VERSION`.
        cluster: String,
        /// Major version of the binaries found.
        binaries: String,
    },
    /// Another live process runs a server on this folder.
    #[error(
        "{data_dir} is in use: its PostgreSQL (pid {postmaster_pid}) was started by process \
         {owner_pid}, which is still running; stop it first"
    )]
    InUse {
        /// The data folder.
        data_dir: PathBuf,
        /// The running postmaster.
        postmaster_pid: u32,
        /// The process that started it.
        owner_pid: u32,
    },
    /// The server started but 127.0.0.1:port does not answer.
    #[error("PostgreSQL started but 127.0.0.1:{port} did not accept connections within {secs}s")]
    NotReady {
        /// The port.
        port: u16,
        /// How long we waited.
        secs: u64,
    },
    /// A query on the embedded server failed.
    #[error("embedded PostgreSQL: {0}")]
    Sqlx(#[from] sqlx::Error),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> EmbeddedError {
    let context = context.into();
    move |source| EmbeddedError::Io { context, source }
}

/// The superuser password; never printed.
#[derive(Clone)]
struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Who runs the PostgreSQL commands.
#[derive(Debug, Clone)]
enum RunAs {
    /// The current (non-root) user.
    Current,
    /// A system user, through `runuser` (we are root).
    User {
        name: String,
        uid: u32,
        gid: u32,
        runuser: PathBuf,
    },
}

impl RunAs {
    fn owner(&self) -> Option<(u32, u32)> {
        match self {
            RunAs::Current => None,
            RunAs::User { uid, gid, .. } => Some((*uid, *gid)),
        }
    }

    /// Program and arguments that run `program args` as this user.
    fn argv(&self, program: &Path, args: &[OsString]) -> (OsString, Vec<OsString>) {
        match self {
            RunAs::Current => (program.into(), args.to_vec()),
            RunAs::User { name, runuser, .. } => {
                let mut all: Vec<OsString> = vec!["-u".into(), name.into(), "--".into(), program.into()];
                all.extend_from_slice(args);
                (runuser.into(), all)
            }
        }
    }

    fn tokio_command(&self, program: &Path, args: &[OsString]) -> tokio::process::Command {
        let (prog, all) = self.argv(program, args);
        let mut cmd = tokio::process::Command::new(prog);
        cmd.args(all)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for var in PG_ENV {
            cmd.env_remove(var);
        }
        cmd
    }

    fn std_command(&self, program: &Path, args: &[OsString]) -> std::process::Command {
        let (prog, all) = self.argv(program, args);
        let mut cmd = std::process::Command::new(prog);
        cmd.args(all)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for var in PG_ENV {
            cmd.env_remove(var);
        }
        cmd
    }
}

/// Environment that could redirect the PostgreSQL tools elsewhere.
const PG_ENV: &[&str] = &["PGDATA", "PGPORT", "PGHOST", "PGOPTIONS", "PGUSER", "PGPASSWORD"];

/// A folder holding initdb, pg_ctl and postgres, and their version.
#[derive(Debug, Clone)]
struct Binaries {
    dir: PathBuf,
    /// Full version, e.g. `15.18`.
    version: String,
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

    fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    fn stop_args(&self) -> Vec<OsString> {
        vec![
            "stop".into(),
            "-D".into(),
            self.data_dir.clone().into(),
            "-m".into(),
            "fast".into(),
            "-w".into(),
            "-t".into(),
            PG_CTL_WAIT_SECS.to_string().into(),
            "-s".into(),
        ]
    }

    /// Under root, the cluster must belong to the system user (a folder created by root, or by a
    /// non-root run earlier, is handed over).
    fn fix_ownership(&self) -> Result<(), EmbeddedError> {
        let Some((uid, gid)) = self.run_as.owner() else {
            return Ok(());
        };
        let md = fs::metadata(&self.data_dir).map_err(io_err(format!("stat {}", self.data_dir.display())))?;
        if md.uid() != uid || md.gid() != gid {
            chown_recursive(&self.data_dir, uid, gid)
                .map_err(io_err(format!("chown -R {}", self.data_dir.display())))?;
        }
        let mode = md.permissions().mode() & 0o777;
        if mode & 0o027 != 0 {
            fs::set_permissions(&self.data_dir, fs::Permissions::from_mode(0o700))
                .map_err(io_err(format!("chmod 700 {}", self.data_dir.display())))?;
        }
        Ok(())
    }

    /// Creates the cluster: superuser `postgres` with a fresh random password, SCRAM everywhere.
    async fn initdb(&mut self) -> Result<(), EmbeddedError> {
        let non_empty = fs::read_dir(&self.data_dir)
            .map_err(io_err(format!("read {}", self.data_dir.display())))?
            .next()
            .is_some();
        if non_empty {
            return Err(EmbeddedError::NotACluster {
                path: self.data_dir.clone(),
            });
        }
        let password = Password(portico_core::token::random_urlsafe(32));
        // initdb reads the password from a file; it lives in a private temporary folder only for
        // the duration of initdb (the data folder must be empty for initdb).
        let tmp = std::env::temp_dir().join(format!("portico-initdb-{}", portico_core::token::random_urlsafe(9)));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .map_err(io_err(format!("create {}", tmp.display())))?;
        let result = self.initdb_with(&tmp, &password).await;
        let _ = fs::remove_dir_all(&tmp);
        result?;
        write_private(&self.data_dir.join(PASSWORD_FILE), &password.0, self.run_as.owner())
            .map_err(io_err("write the superuser password file"))?;
        self.password = password;
        Ok(())
    }

    async fn initdb_with(&self, tmp: &Path, password: &Password) -> Result<(), EmbeddedError> {
        let pwfile = tmp.join("pw");
        write_private(&pwfile, &password.0, self.run_as.owner())
            .map_err(io_err(format!("write {}", pwfile.display())))?;
        if let Some((uid, gid)) = self.run_as.owner() {
            std::os::unix::fs::chown(tmp, Some(uid), Some(gid)).map_err(io_err(format!("chown {}", tmp.display())))?;
        }
        let t0 = Instant::now();
        // C.UTF-8: byte-order collation, Unicode-aware lower()/upper(); plain C where it is missing.
        let mut last = None;
        for locale in ["C.UTF-8", "C"] {
            let args: Vec<OsString> = vec![
                "-D".into(),
                self.data_dir.clone().into(),
                "-U".into(),
                SUPERUSER.into(),
                {
                    let mut a = OsString::from("--pwfile=");
                    a.push(&pwfile);
                    a
                },
                "--auth-local=scram-sha-256".into(),
                "--auth-host=scram-sha-256".into(),
                "--encoding=UTF8".into(),
                format!("--locale={locale}").into(),
            ];
            let cmd = self.run_as.tokio_command(&self.bin("initdb"), &args);
            match run(cmd, "initdb", INITDB_TIMEOUT).await {
                Ok(_) => {
                    tracing::info!(
                        data_dir = %self.data_dir.display(),
                        locale,
                        elapsed_ms = t0.elapsed().as_millis() as u64,
                        "initialised a new embedded PostgreSQL cluster"
                    );
                    return Ok(());
                }
                Err(EmbeddedError::Command { ref output, .. }) if locale != "C" && output.contains("locale") => {
                    tracing::warn!(locale, "initdb refused the locale, retrying with C");
                    last = Some(EmbeddedError::Command {
                        command: "initdb".into(),
                        status: "failed".into(),
                        output: output.clone(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(EmbeddedError::Command {
            command: "initdb".into(),
            status: "failed".into(),
            output: String::new(),
        }))
    }

    fn read_password(&self) -> Result<Password, EmbeddedError> {
        let path = self.data_dir.join(PASSWORD_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(EmbeddedError::MissingPassword {
                    data_dir: self.data_dir.clone(),
                })
            }
            Err(e) => return Err(io_err(format!("read {}", path.display()))(e)),
        };
        // Keep it private even if someone loosened it.
        let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o600));
        let pw = text.trim().to_owned();
        if pw.is_empty() {
            return Err(EmbeddedError::MissingPassword {
                data_dir: self.data_dir.clone(),
            });
        }
        Ok(Password(pw))
    }

    /// `postgresql.conf` includes `portico.conf`, rewritten at each start.
    fn ensure_include(&self) -> Result<(), EmbeddedError> {
        let conf = self.data_dir.join("postgresql.conf");
        let text = fs::read_to_string(&conf).map_err(io_err(format!("read {}", conf.display())))?;
        if !text.lines().any(|l| l.trim() == INCLUDE_LINE) {
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(&conf)
                .map_err(io_err(format!("open {}", conf.display())))?;
            writeln!(
                f,
                "\n# Portico: listen address, port and socket folder, rewritten at each start\n{INCLUDE_LINE}"
            )
            .map_err(io_err(format!("append to {}", conf.display())))?;
        }
        Ok(())
    }

    fn write_settings(&self) -> Result<(), EmbeddedError> {
        let dir = self.data_dir.to_string_lossy();
        let socket_dirs = if dir.len() + "/.s.PGSQL.65535".len() <= MAX_SOCKET_PATH {
            conf_quote(&dir)
        } else {
            tracing::warn!(
                data_dir = %dir,
                "data folder path too long for a unix socket; TCP on 127.0.0.1 only"
            );
            "''".to_owned()
        };
        let text = format!(
            "# Written by Portico at each start of the embedded cluster; edits are overwritten.\n\
             listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = {socket_dirs}\n\
             unix_socket_permissions = 0700\n\
             password_encryption = 'scram-sha-256'\n",
            port = self.port
        );
        let path = self.data_dir.join(SETTINGS_FILE);
        write_private(&path, &text, self.run_as.owner()).map_err(io_err(format!("write {}", path.display())))
    }

    /// A previous run may have died without stopping its server:
    /// - `postmaster.pid` names a dead process: PostgreSQL removes it itself;
    /// - it names a live process that is not a postmaster of this folder (the pid was reused after
    ///   a reboot or in a container): PostgreSQL would refuse to start, so we remove it;
    /// - it names our live postmaster whose starter (the `portico.owner` record) is gone: an
    ///   orphan, stopped here before starting afresh; if the starter still runs, [`EmbeddedError::InUse`].
    async fn clear_leftovers(&self) -> Result<(), EmbeddedError> {
        let pidfile = self.data_dir.join("postmaster.pid");
        let Some(pid) =
            read_trimmed(&pidfile).and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
        else {
            return Ok(());
        };
        if !process_alive(pid) {
            tracing::info!(pid, "stale postmaster.pid of a dead server; PostgreSQL will recover");
            return Ok(());
        }
        if !is_postmaster_of(pid, &self.data_dir) {
            tracing::warn!(
                pid,
                "removing a stale postmaster.pid (pid now belongs to another process)"
            );
            return fs::remove_file(&pidfile).map_err(io_err(format!("remove {}", pidfile.display())));
        }
        if let Some(owner) = read_owner(&self.data_dir) {
            if owner.alive() {
                return Err(EmbeddedError::InUse {
                    data_dir: self.data_dir.clone(),
                    postmaster_pid: pid,
                    owner_pid: owner.pid,
                });
            }
        }
        tracing::warn!(
            pid,
            "stopping an orphaned embedded PostgreSQL left running by a previous run"
        );
        let cmd = self.run_as.tokio_command(&self.bin("pg_ctl"), &self.stop_args());
        match run(cmd, "pg_ctl stop", Duration::from_secs(PG_CTL_WAIT_SECS + 10)).await {
            Err(EmbeddedError::Command { output, .. }) if not_running(&output) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    fn rotate_log(&self) {
        let log = self.data_dir.join(LOG_FILE);
        if fs::metadata(&log).map(|m| m.len() > LOG_ROTATE_BYTES).unwrap_or(false) {
            let _ = fs::rename(&log, self.data_dir.join(format!("{LOG_FILE}.old")));
        }
    }

    async fn pg_ctl_start(&self) -> Result<(), EmbeddedError> {
        let log = self.data_dir.join(LOG_FILE);
        let args: Vec<OsString> = vec![
            "start".into(),
            "-D".into(),
            self.data_dir.clone().into(),
            "-l".into(),
            log.clone().into(),
            "-w".into(),
            "-t".into(),
            PG_CTL_WAIT_SECS.to_string().into(),
            "-s".into(),
        ];
        let cmd = self.run_as.tokio_command(&self.bin("pg_ctl"), &args);
        match run(cmd, "pg_ctl start", Duration::from_secs(PG_CTL_WAIT_SECS + 10)).await {
            Ok(_) => Ok(()),
            Err(EmbeddedError::Command {
                command,
                status,
                output,
            }) => {
                // pg_ctl only says "examine the log output": put the log's tail in the error.
                let tail = log_tail(&log, 15);
                Err(EmbeddedError::Command {
                    command,
                    status,
                    output: format!("{output}\n--- {} (tail) ---\n{tail}", log.display()),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Ties the server to this process: a small `sh` loop stops it (`pg_ctl stop -m fast`) once this
    /// process is gone without having stopped it — killed, crashed, or holding the value in a
    /// `static` that is never dropped. It ignores SIGINT/SIGHUP (a Ctrl-C to the terminal's process
    /// group must not remove the safety net), leaves by itself when the server stops, and stops only
    /// the postmaster it was started for.
    fn spawn_watcher(&mut self, owner: u32) {
        const SCRIPT: &str = r#"trap '' INT HUP
owner=$1 pm=$2 pidfile=$3; shift 3
while [ -d "/proc/$owner" ] && [ -d "/proc/$pm" ]; do sleep 1; done
if [ -d "/proc/$pm" ] && [ "$(head -n 1 "$pidfile" 2>/dev/null)" = "$pm" ]; then exec "$@"; fi"#;
        let pidfile = self.data_dir.join("postmaster.pid");
        let Some(pm) = read_trimmed(&pidfile).and_then(|t| t.lines().next().map(str::to_owned)) else {
            return;
        };
        let (prog, args) = self.run_as.argv(&self.bin("pg_ctl"), &self.stop_args());
        let spawned = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("portico-pg-watch")
            .arg(owner.to_string())
            .arg(pm)
            .arg(&pidfile)
            .arg(prog)
            .args(args)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match spawned {
            Ok(child) => self.watcher = Some(child),
            Err(e) => tracing::warn!(error = %e, "cannot watch the embedded PostgreSQL's owner"),
        }
    }

    fn end_watcher(&mut self) {
        if let Some(mut child) = self.watcher.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn write_owner(&self) {
        let me = std::process::id();
        let record = format!("{me} {}\n", process_start_time(me).unwrap_or(0));
        let path = self.data_dir.join(OWNER_FILE);
        if let Err(e) = write_private(&path, &record, self.run_as.owner()) {
            tracing::warn!(error = %e, "cannot record the embedded PostgreSQL's owner");
        }
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

/// Runs a command to completion with a time limit; its output (stdout+stderr) on success, a
/// [`EmbeddedError::Command`] otherwise.
async fn run(mut cmd: tokio::process::Command, what: &str, limit: Duration) -> Result<String, EmbeddedError> {
    let out = match tokio::time::timeout(limit, cmd.output()).await {
        Err(_) => {
            return Err(EmbeddedError::Command {
                command: what.into(),
                status: format!("no answer within {}s", limit.as_secs()),
                output: String::new(),
            })
        }
        Ok(r) => r.map_err(io_err(format!("run {what}")))?,
    };
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        Err(EmbeddedError::Command {
            command: what.into(),
            status: out.status.to_string(),
            output: text.trim().to_owned(),
        })
    }
}

/// pg_ctl's way of saying there was no server to stop.
fn not_running(output: &str) -> bool {
    output.contains("Is server running?") || output.contains("does not exist")
}

/// Root runs the cluster as the `postgres` system user (created when missing).
async fn run_as() -> Result<RunAs, EmbeddedError> {
    if effective_uid() != Some(0) {
        return Ok(RunAs::Current);
    }
    let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| is_executable(p))
        .unwrap_or_else(|| PathBuf::from("runuser"));
    if lookup_user(SYSTEM_USER).await.is_none() {
        tracing::info!(
            user = SYSTEM_USER,
            "creating the system user that runs the embedded PostgreSQL"
        );
        let mut cmd = tokio::process::Command::new("useradd");
        cmd.args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            "--comment",
            "PostgreSQL administrator",
            SYSTEM_USER,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let created = run(cmd, "useradd --system postgres", Duration::from_secs(30)).await;
        // A concurrent start may have created it meanwhile.
        if lookup_user(SYSTEM_USER).await.is_none() {
            created?;
        }
    }
    let (uid, gid) = lookup_user(SYSTEM_USER).await.ok_or_else(|| EmbeddedError::Command {
        command: format!("id {SYSTEM_USER}"),
        status: "failed".into(),
        output: "the user does not exist after useradd".into(),
    })?;
    Ok(RunAs::User {
        name: SYSTEM_USER.into(),
        uid,
        gid,
        runuser,
    })
}

fn effective_uid() -> Option<u32> {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        // "Uid:\treal\teffective\tsaved\tfs"
        if let Some(line) = status.lines().find(|l| l.starts_with("Uid:")) {
            return line.split_whitespace().nth(2).and_then(|v| v.parse().ok());
        }
    }
    let out = std::process::Command::new("id").arg("-u").output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

async fn id_of(args: &[&str]) -> Option<String> {
    let out = tokio::process::Command::new("id")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

async fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let uid = id_of(&["-u", name]).await?.parse().ok()?;
    let gid = id_of(&["-g", name]).await?.parse().ok()?;
    Some((uid, gid))
}

async fn user_groups(name: &str, gid: u32) -> Vec<u32> {
    let mut groups: Vec<u32> = id_of(&["-G", name])
        .await
        .map(|s| s.split_whitespace().filter_map(|g| g.parse().ok()).collect())
        .unwrap_or_default();
    groups.push(gid);
    groups
}

/// Every ancestor of `dir` must grant `uid` the search (x) permission.
fn check_traversable(dir: &Path, user: &str, uid: u32, groups: &[u32]) -> Result<(), EmbeddedError> {
    for ancestor in dir.ancestors().skip(1) {
        let md = fs::metadata(ancestor).map_err(io_err(format!("stat {}", ancestor.display())))?;
        if !can_search(md.mode(), md.uid(), md.gid(), uid, groups) {
            return Err(EmbeddedError::NotTraversable {
                path: ancestor.to_path_buf(),
                user: user.to_owned(),
            });
        }
    }
    Ok(())
}

/// Unix permission check for "x" on a directory (ACLs aside).
fn can_search(mode: u32, owner: u32, group: u32, uid: u32, groups: &[u32]) -> bool {
    if uid == 0 {
        true
    } else if owner == uid {
        mode & 0o100 != 0
    } else if groups.contains(&group) {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

fn chown_recursive(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if fs::symlink_metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_recursive(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Writes a 0600 file (created or truncated), owned by `owner` when given.
fn write_private(path: &Path, contents: &str, owner: Option<(u32, u32)>) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(fs::Permissions::from_mode(0o600))?;
    f.write_all(contents.as_bytes())?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
    }
    Ok(())
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|t| t.trim().to_owned())
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn has_server_binaries(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|b| is_executable(&dir.join(b)))
}

/// Folders holding initdb, pg_ctl and postgres: those on `path_var` (resolving symlinks), then
/// `lib_root/<version>/bin`, highest version first.
fn candidate_dirs(path_var: Option<&std::ffi::OsStr>, lib_root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    if let Some(path_var) = path_var {
        for dir in std::env::split_paths(path_var) {
            let Ok(real) = fs::canonicalize(dir.join("initdb")) else {
                continue;
            };
            if let Some(d) = real.parent() {
                if has_server_binaries(d) && !out.iter().any(|o| o == d) {
                    out.push(d.to_path_buf());
                }
            }
        }
    }
    let mut versioned: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(lib_root)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| {
                    let key = version_key(&e.file_name().to_string_lossy())?;
                    let bin = e.path().join("bin");
                    has_server_binaries(&bin).then_some((key, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    versioned.sort_by(|a, b| b.0.cmp(&a.0));
    for (_, bin) in versioned {
        let bin = fs::canonicalize(&bin).unwrap_or(bin);
        if !out.contains(&bin) {
            out.push(bin);
        }
    }
    out
}

/// "15" → [15], "9.6" → [9, 6]; None for names that are not versions.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|p| p.parse().ok()).collect()
}

/// Major version of a full version string: "15.18" → "15", "9.6.24" → "9.6", "17beta1" → "17".
fn major_of(version: &str) -> String {
    let mut parts = version.split('.');
    let first: String = parts
        .next()
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    match first.parse::<u32>() {
        Ok(n) if n < 10 => {
            let second: String = parts
                .next()
                .unwrap_or("0")
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            format!("{n}.{second}")
        }
        _ => first,
    }
}

/// `postgres --version` → "15.18" (from "postgres (PostgreSQL) 15.18 (Debian …)").
async fn server_version(dir: &Path) -> Option<String> {
    let out = tokio::process::Command::new(dir.join("postgres"))
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rest = text.split("(PostgreSQL)").nth(1)?;
    rest.split_whitespace().next().map(str::to_owned)
}

/// The binaries to use: the first candidate, or for an existing cluster the first of its major
/// version.
async fn find_binaries(cluster: Option<&str>, data_dir: &Path) -> Result<Binaries, EmbeddedError> {
    let path_var = std::env::var_os("PATH");
    let dirs = candidate_dirs(path_var.as_deref(), Path::new(LIB_ROOT));
    if dirs.is_empty() {
        return Err(no_binaries());
    }
    let mut first: Option<Binaries> = None;
    for dir in dirs {
        let Some(version) = server_version(&dir).await else {
            continue;
        };
        let found = Binaries { dir, version };
        match cluster {
            None => return Ok(found),
            Some(c) if major_of(&found.version) == c => return Ok(found),
            Some(_) => {
                first.get_or_insert(found);
            }
        }
    }
    match (first, cluster) {
        (Some(b), Some(c)) => Err(EmbeddedError::VersionMismatch {
            data_dir: data_dir.to_path_buf(),
            cluster: c.to_owned(),
            binaries: major_of(&b.version),
        }),
        _ => Err(no_binaries()),
    }
}

fn no_binaries() -> EmbeddedError {
    EmbeddedError::NoBinaries {
        hint: INSTALL_HINT.to_owned(),
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

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Field 22 of /proc/PID/stat (start time in clock ticks since boot): tells a pid from its reuse.
fn process_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` is a PostgreSQL server whose working folder is `data_dir` (the postmaster
/// chdirs into its data folder).
fn is_postmaster_of(pid: u32, data_dir: &Path) -> bool {
    let exe_ok = fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .is_some_and(|n| n.starts_with("postgres") || n.starts_with("postmaster"));
    let cwd_ok = fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|p| p == data_dir);
    exe_ok && cwd_ok
}

struct Owner {
    pid: u32,
    start_time: u64,
}

impl Owner {
    fn alive(&self) -> bool {
        process_alive(self.pid) && (self.start_time == 0 || process_start_time(self.pid) == Some(self.start_time))
    }
}

fn read_owner(data_dir: &Path) -> Option<Owner> {
    let text = read_trimmed(&data_dir.join(OWNER_FILE))?;
    let mut it = text.split_whitespace();
    let pid = it.next()?.parse().ok()?;
    let start_time = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    Some(Owner { pid, start_time })
}

/// A single-quoted postgresql.conf string.
fn conf_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use sqlx::Connection;

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
}
