//! Files and folders: the permission checks for the `postgres` user, handing a folder over to it,
//! private (0600) files, and small reads.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::error::io_err;
use super::EmbeddedError;

/// Every ancestor of `dir` must grant `uid` the search (x) permission.
pub(super) fn check_traversable(dir: &Path, user: &str, uid: u32, groups: &[u32]) -> Result<(), EmbeddedError> {
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
pub(super) fn can_search(mode: u32, owner: u32, group: u32, uid: u32, groups: &[u32]) -> bool {
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

pub(super) fn chown_recursive(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if fs::symlink_metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_recursive(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Writes a 0600 file (created or truncated), owned by `owner` when given.
pub(super) fn write_private(path: &Path, contents: &str, owner: Option<(u32, u32)>) -> io::Result<()> {
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

pub(super) fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|t| t.trim().to_owned())
}

pub(super) fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
