//! Sign-in throttling state (LDAP): failure counters with a growing lock, per (connection, key),
//! shared by every replica. Times come from the database clock, so replicas with skewed clocks
//! agree. Keys are opaque 32-byte digests (or empty for a connection-wide counter): the store
//! never sees a username or a password.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::StoreError;

/// When a key locks and for how long.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    /// The attempt that brings the count to this number (and every later one) sets a lock.
    pub threshold: i32,
    /// The first lock, in seconds; each further counted failure doubles it.
    pub base_delay_secs: f64,
    /// The longest lock, in seconds.
    pub max_delay_secs: f64,
    /// A key whose last counted failure is this old starts again from zero.
    pub reset_after_secs: f64,
}

impl Policy {
    /// The lock after the `failures`-th counted attempt, if any.
    pub fn delay_for(&self, failures: i32) -> Option<f64> {
        if failures < self.threshold {
            return None;
        }
        let doublings = (failures - self.threshold).min(30);
        Some((self.base_delay_secs * f64::from(1u32 << doublings)).min(self.max_delay_secs))
    }
}

/// The outcome of asking to attempt.
#[derive(Clone, Debug, PartialEq)]
pub enum Admission {
    /// Go ahead; the attempt is already counted. Keep the ticket for [`release`].
    Allowed(Ticket),
    /// Locked: retry after this many seconds (at least 1).
    Locked {
        /// Seconds until the lock ends, rounded up.
        retry_after_secs: u64,
    },
}

/// A counted attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct Ticket {
    /// The count after this attempt.
    pub failures: i32,
    /// The lock this attempt set (it reached the threshold), as stored.
    pub lock_set: Option<DateTime<Utc>>,
}

/// Counts an attempt on (`connection_id`, `key`) unless the key is locked. The attempt counts as
/// a failure until [`release`] or [`clear`] says otherwise.
pub async fn begin(db: &PgPool, connection_id: &str, key: &[u8], policy: &Policy) -> Result<Admission, StoreError> {
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO ldap_throttle (connection_id, subject_key) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(connection_id)
        .bind(key)
        .execute(&mut *tx)
        .await?;
    let (failures, quiet_secs, locked_for): (i32, f64, Option<f64>) = sqlx::query_as(
        "SELECT failures, EXTRACT(EPOCH FROM (now() - last_failure_at))::float8, EXTRACT(EPOCH FROM (locked_until - now()))::float8
         FROM ldap_throttle WHERE connection_id = $1 AND subject_key = $2 FOR UPDATE",
    )
    .bind(connection_id)
    .bind(key)
    .fetch_one(&mut *tx)
    .await?;
    if let Some(secs) = locked_for.filter(|s| *s > 0.0) {
        tx.commit().await?;
        return Ok(Admission::Locked {
            retry_after_secs: secs.ceil().max(1.0) as u64,
        });
    }
    let failures = if quiet_secs >= policy.reset_after_secs {
        1
    } else {
        failures.saturating_add(1)
    };
    let lock_set: Option<DateTime<Utc>> = sqlx::query_scalar(
        "UPDATE ldap_throttle SET failures = $3, last_failure_at = now(),
             locked_until = CASE WHEN $4::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $4::float8) END
         WHERE connection_id = $1 AND subject_key = $2 RETURNING locked_until",
    )
    .bind(connection_id)
    .bind(key)
    .bind(failures)
    .bind(policy.delay_for(failures))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Admission::Allowed(Ticket { failures, lock_set }))
}

/// Uncounts an attempt (it ended without a verdict on the password, or it succeeded and the key
/// is connection-wide), lifting the lock it set, if it set one that is still in place.
pub async fn release(db: &PgPool, connection_id: &str, key: &[u8], ticket: &Ticket) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE ldap_throttle SET failures = greatest(failures - 1, 0),
             locked_until = CASE WHEN $3::timestamptz IS NOT NULL AND locked_until = $3 THEN NULL ELSE locked_until END
         WHERE connection_id = $1 AND subject_key = $2",
    )
    .bind(connection_id)
    .bind(key)
    .bind(ticket.lock_set)
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets a key (a successful sign-in clears its username's failures and lock).
pub async fn clear(db: &PgPool, connection_id: &str, key: &[u8]) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM ldap_throttle WHERE connection_id = $1 AND subject_key = $2")
        .bind(connection_id)
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes rows that are unlocked and whose last failure is older than `older_than_secs`.
pub async fn purge(db: &PgPool, older_than_secs: f64) -> Result<u64, StoreError> {
    let r = sqlx::query(
        "DELETE FROM ldap_throttle
         WHERE last_failure_at < now() - make_interval(secs => $1::float8) AND (locked_until IS NULL OR locked_until < now())",
    )
    .bind(older_than_secs)
    .execute(db)
    .await?;
    Ok(r.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_the_threshold_up_to_the_cap() {
        let p = Policy {
            threshold: 5,
            base_delay_secs: 5.0,
            max_delay_secs: 900.0,
            reset_after_secs: 3600.0,
        };
        assert_eq!(p.delay_for(4), None);
        assert_eq!(p.delay_for(5), Some(5.0));
        assert_eq!(p.delay_for(6), Some(10.0));
        assert_eq!(p.delay_for(9), Some(80.0));
        assert_eq!(p.delay_for(20), Some(900.0));
        assert_eq!(p.delay_for(i32::MAX), Some(900.0));
    }
}
