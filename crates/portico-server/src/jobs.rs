//! Background housekeeping: purge expired login transactions, sessions, SAML replay records, LDAP
//! throttle rows, and audit events past their retention. Every purge deletes in bounded batches
//! found through an index, so a run costs a few milliseconds per batch at any table size.

use std::time::Duration;

use portico_store::{audit, logins, sessions, PgPool};

use crate::startup::Readiness;

/// How often the audit retention runs (its cutoff moves by days, not minutes).
const AUDIT_EVERY: u32 = 60;

/// Starts the purge loop (every minute once the database is `ready`; audit retention every
/// hour, and at the first ready tick). `audit_retention_days` 0 keeps audit events forever.
pub fn spawn(db: PgPool, ready: Readiness, audit_retention_days: u32) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        let mut n: u32 = 0;
        loop {
            tick.tick().await;
            if !ready.is_ready() {
                continue;
            }
            purge_once(&db).await;
            if n.is_multiple_of(AUDIT_EVERY) {
                purge_audit(&db, audit_retention_days).await;
            }
            n = n.wrapping_add(1);
        }
    })
}

/// One purge pass; failures are logged and retried next time.
pub async fn purge_once(db: &PgPool) {
    match logins::purge(db).await {
        Ok(n) if n > 0 => tracing::debug!(purged = n, "expired login transactions purged"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "purging login transactions failed"),
    }
    if let Err(e) = portico_store::replay::purge(db).await {
        tracing::warn!(error = %e, "purging the SAML replay cache failed");
    }
    if let Err(e) = portico_store::throttle::purge(db, 86_400.0).await {
        tracing::warn!(error = %e, "purging LDAP throttle rows failed");
    }
    if let Err(e) = portico_store::oauth_grants::purge(db).await {
        tracing::warn!(error = %e, "purging OAuth codes and tokens failed");
    }
    match sessions::purge(db).await {
        Ok(n) if n > 0 => tracing::debug!(purged = n, "expired sessions purged"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "purging sessions failed"),
    }
}

/// Deletes audit events older than `retention_days` (0: none); failures are logged and retried
/// at the next run.
pub async fn purge_audit(db: &PgPool, retention_days: u32) {
    if retention_days == 0 {
        return;
    }
    match audit::purge_older_than(db, retention_days).await {
        Ok(n) if n > 0 => tracing::info!(purged = n, retention_days, "audit events past retention purged"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "purging audit events failed"),
    }
}
