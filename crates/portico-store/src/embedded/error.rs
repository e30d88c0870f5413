//! [`EmbeddedError`]: why the embedded PostgreSQL could not be started or stopped.

use std::io;
use std::path::PathBuf;

use super::cluster::PASSWORD_FILE;

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

pub(super) fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> EmbeddedError {
    let context = context.into();
    move |source| EmbeddedError::Io { context, source }
}
