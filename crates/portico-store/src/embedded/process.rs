//! Running the PostgreSQL commands, as the `postgres` system user under root; looking at processes
//! through /proc; the watcher that stops the server once its owner process is gone.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::binaries::is_executable;
use super::error::io_err;
use super::files::read_trimmed;
use super::{EmbeddedError, EmbeddedPostgres};

/// Unprivileged system user the cluster runs as when Portico runs as root.
const SYSTEM_USER: &str = "postgres";

/// Environment that could redirect the PostgreSQL tools elsewhere.
const PG_ENV: &[&str] = &["PGDATA", "PGPORT", "PGHOST", "PGOPTIONS", "PGUSER", "PGPASSWORD"];

/// Who runs the PostgreSQL commands.
#[derive(Debug, Clone)]
pub(super) enum RunAs {
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
    pub(super) fn owner(&self) -> Option<(u32, u32)> {
        match self {
            RunAs::Current => None,
            RunAs::User { uid, gid, .. } => Some((*uid, *gid)),
        }
    }

    /// Program and arguments that run `program args` as this user.
    pub(super) fn argv(&self, program: &Path, args: &[OsString]) -> (OsString, Vec<OsString>) {
        match self {
            RunAs::Current => (program.into(), args.to_vec()),
            RunAs::User { name, runuser, .. } => {
                let mut all: Vec<OsString> = vec!["-u".into(), name.into(), "--".into(), program.into()];
                all.extend_from_slice(args);
                (runuser.into(), all)
            }
        }
    }

    pub(super) fn tokio_command(&self, program: &Path, args: &[OsString]) -> tokio::process::Command {
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

    pub(super) fn std_command(&self, program: &Path, args: &[OsString]) -> std::process::Command {
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

/// Runs a command to completion with a time limit; its output (stdout+stderr) on success, a
/// [`EmbeddedError::Command`] otherwise.
pub(super) async fn run(
    mut cmd: tokio::process::Command,
    what: &str,
    limit: Duration,
) -> Result<String, EmbeddedError> {
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
pub(super) fn not_running(output: &str) -> bool {
    output.contains("Is server running?") || output.contains("does not exist")
}

/// Root runs the cluster as the `postgres` system user (created when missing).
pub(super) async fn run_as() -> Result<RunAs, EmbeddedError> {
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

pub(super) fn effective_uid() -> Option<u32> {
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

pub(super) async fn user_groups(name: &str, gid: u32) -> Vec<u32> {
    let mut groups: Vec<u32> = id_of(&["-G", name])
        .await
        .map(|s| s.split_whitespace().filter_map(|g| g.parse().ok()).collect())
        .unwrap_or_default();
    groups.push(gid);
    groups
}

pub(super) fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Field 22 of /proc/PID/stat (start time in clock ticks since boot): tells a pid from its reuse.
pub(super) fn process_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` is a PostgreSQL server whose working folder is `data_dir` (the postmaster
/// chdirs into its data folder).
pub(super) fn is_postmaster_of(pid: u32, data_dir: &Path) -> bool {
    let exe_ok = fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .is_some_and(|n| n.starts_with("postgres") || n.starts_with("postmaster"));
    let cwd_ok = fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|p| p == data_dir);
    exe_ok && cwd_ok
}

impl EmbeddedPostgres {
    /// Ties the server to this process: a small `sh` loop stops it (`pg_ctl stop -m fast`) once this
    /// process is gone without having stopped it — killed, crashed, or holding the value in a
    /// `static` that is never dropped. It ignores SIGINT/SIGHUP (a Ctrl-C to the terminal's process
    /// group must not remove the safety net), leaves by itself when the server stops, and stops only
    /// the postmaster it was started for.
    pub(super) fn spawn_watcher(&mut self, owner: u32) {
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

    pub(super) fn end_watcher(&mut self) {
        if let Some(mut child) = self.watcher.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
