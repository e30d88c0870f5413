//! Background housekeeping: purge expired login transactions and sessions.

use std::time::Duration;

use portico_store::{logins, sessions, PgPool};

/// Starts the purge loop (every minute).
pub fn spawn(db: PgPool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            purge_once(&db).await;
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
