//! The cluster in its data folder: initdb, the password file, the settings Portico writes, file
//! ownership and permissions, pg_ctl start, the owner record and a previous run's leftovers.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::io_err;
use super::files::{chown_recursive, log_tail, read_trimmed, write_private};
use super::process::{is_postmaster_of, not_running, process_alive, process_start_time, run};
use super::{EmbeddedError, EmbeddedPostgres, Password, SUPERUSER};

/// Superuser password, 0600, inside the data folder.
pub(super) const PASSWORD_FILE: &str = "portico_superuser_password";
/// Per-start settings (port, listen address, socket folder), included by `postgresql.conf`.
const SETTINGS_FILE: &str = "portico.conf";
const INCLUDE_LINE: &str = "include_if_exists = 'portico.conf'";
/// `<pid> <start time>` of the process that started the running server.
pub(super) const OWNER_FILE: &str = "portico.owner";
/// Server log (stderr of the postmaster), rotated once at start when larger than `LOG_ROTATE_BYTES`.
const LOG_FILE: &str = "portico-postgres.log";
const LOG_ROTATE_BYTES: u64 = 16 * 1024 * 1024;
/// `sun_path` is 108 bytes; the socket file is `<dir>/.s.PGSQL.<port>`.
const MAX_SOCKET_PATH: usize = 107;
const INITDB_TIMEOUT: Duration = Duration::from_secs(300);
pub(super) const PG_CTL_WAIT_SECS: u64 = 90;

impl EmbeddedPostgres {
    pub(super) fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    pub(super) fn stop_args(&self) -> Vec<OsString> {
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
    pub(super) fn fix_ownership(&self) -> Result<(), EmbeddedError> {
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
    pub(super) async fn initdb(&mut self) -> Result<(), EmbeddedError> {
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

    pub(super) fn read_password(&self) -> Result<Password, EmbeddedError> {
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
    pub(super) fn ensure_include(&self) -> Result<(), EmbeddedError> {
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

    pub(super) fn write_settings(&self) -> Result<(), EmbeddedError> {
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
    pub(super) async fn clear_leftovers(&self) -> Result<(), EmbeddedError> {
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

    pub(super) fn rotate_log(&self) {
        let log = self.data_dir.join(LOG_FILE);
        if fs::metadata(&log).map(|m| m.len() > LOG_ROTATE_BYTES).unwrap_or(false) {
            let _ = fs::rename(&log, self.data_dir.join(format!("{LOG_FILE}.old")));
        }
    }

    pub(super) async fn pg_ctl_start(&self) -> Result<(), EmbeddedError> {
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

    pub(super) fn write_owner(&self) {
        let me = std::process::id();
        let record = format!("{me} {}\n", process_start_time(me).unwrap_or(0));
        let path = self.data_dir.join(OWNER_FILE);
        if let Err(e) = write_private(&path, &record, self.run_as.owner()) {
            tracing::warn!(error = %e, "cannot record the embedded PostgreSQL's owner");
        }
    }
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
pub(super) fn conf_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}
