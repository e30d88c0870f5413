//! Finding the PostgreSQL server binaries (initdb, pg_ctl, postgres) and their version.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::EmbeddedError;

/// Where Debian/Ubuntu install the server binaries, one folder per major version.
const LIB_ROOT: &str = "/usr/lib/postgresql";
const INSTALL_HINT: &str = "install the PostgreSQL server with `apt-get install postgresql` \
    (Debian/Ubuntu: binaries in /usr/lib/postgresql/<version>/bin), or put a folder holding \
    initdb, pg_ctl and postgres on PATH";

/// A folder holding initdb, pg_ctl and postgres, and their version.
#[derive(Debug, Clone)]
pub(super) struct Binaries {
    pub(super) dir: PathBuf,
    /// Full version, e.g. `15.18`.
    pub(super) version: String,
}

pub(super) fn is_executable(path: &Path) -> bool {
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
pub(super) fn candidate_dirs(path_var: Option<&std::ffi::OsStr>, lib_root: &Path) -> Vec<PathBuf> {
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

/// `"15"` → `[15]`, `"9.6"` → `[9, 6]`; None for names that are not versions.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|p| p.parse().ok()).collect()
}

/// Major version of a full version string: "15.18" → "15", "9.6.24" → "9.6", "17beta1" → "17".
pub(super) fn major_of(version: &str) -> String {
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
pub(super) async fn find_binaries(cluster: Option<&str>, data_dir: &Path) -> Result<Binaries, EmbeddedError> {
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

pub(super) fn no_binaries() -> EmbeddedError {
    EmbeddedError::NoBinaries {
        hint: INSTALL_HINT.to_owned(),
    }
}
