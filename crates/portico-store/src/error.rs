//! Store errors, with unique and check violations surfaced by constraint name, and every error
//! that means "the database is not reachable or not accepting work" folded into one variant.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was violated (constraint name).
    #[error("conflict on {0}")]
    Conflict(String),
    /// A check or foreign-key constraint refused the row (constraint name).
    #[error("constraint {0} refused the row")]
    Constraint(String),
    /// A text value PostgreSQL cannot store (NUL, or not representable in the encoding).
    #[error("value not representable as database text")]
    BadText,
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The database is unreachable or not accepting work (restart, failover, overload); the
    /// request may succeed when retried. A write that met this may or may not have committed.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::RowNotFound = e {
            return Self::NotFound;
        }
        if is_unavailable(&e) {
            if !matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed) && !is_timed_out(&e) {
                note_fault();
            }
            return Self::Unavailable(e);
        }
        if let Some(db) = e.as_database_error() {
            let name = db.constraint().unwrap_or("unknown").to_owned();
            match db.code().as_deref() {
                Some("23505") => return Self::Conflict(name),
                Some("23514") | Some("23503") | Some("23502") => return Self::Constraint(name),
                // character_not_in_repertoire (NUL in text), untranslatable_character
                Some("22021") | Some("22P05") => return Self::BadText,
                _ => {}
            }
        }
        Self::Database(e)
    }
}

/// Whether `e` means the database cannot be reached or will not do work now (as opposed to a
/// bug or a refused statement): I/O and TLS failures, a refused or timed-out connect, a closed or
/// exhausted pool, SQLSTATE class 08 (connection exception), 53300 (too many connections),
/// 57P01–57P03 (admin/crash shutdown, cannot connect now) and 25006 (read-only transaction: a
/// failover's new standby, or a primary demoted under us), and 57014 (a statement cancelled by
/// `statement_timeout`: the database is too slow or a lock is held; the connection is fine).
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().as_deref().is_some_and(unavailable_sqlstate),
        _ => false,
    }
}

fn unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "53300" | "57P01" | "57P02" | "57P03" | "25006" | "57014")
}

/// A statement cancelled by `statement_timeout` (its connection stays usable).
fn is_timed_out(e: &sqlx::Error) -> bool {
    e.as_database_error().and_then(|d| d.code()).as_deref() == Some("57014")
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Milliseconds after `epoch()` of the last connection-class failure (0: none yet).
static LAST_FAULT_MS: AtomicU64 = AtomicU64::new(0);

fn note_fault() {
    let ms = u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX).max(1);
    LAST_FAULT_MS.store(ms, Ordering::Relaxed);
}

/// How long after a connection-class failure older connections stay suspect.
const SUSPECT_FOR: Duration = Duration::from_secs(10);

/// Whether a pooled connection of age `age` was opened before a connection-class failure seen in
/// this process in the last few seconds (so it may be one the database dropped). Steady traffic
/// after that window pays no ping again.
pub(crate) fn opened_before_recent_fault(age: Duration) -> bool {
    let fault = LAST_FAULT_MS.load(Ordering::Relaxed);
    if fault == 0 {
        return false;
    }
    let fault = Duration::from_millis(fault);
    let now = epoch().elapsed();
    now.saturating_sub(fault) < SUSPECT_FOR && now.saturating_sub(age) <= fault
}
