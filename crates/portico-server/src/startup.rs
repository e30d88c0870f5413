//! Start-up against a database that may not be there yet: wait for it with capped exponential
//! backoff (one log line per attempt) up to `database.connect_timeout_secs`, then apply the
//! migrations; and the [`Readiness`] flag `/readyz` and the request gate read meanwhile.
//!
//! Containers start together: where `depends_on: condition: service_healthy` is not enforced
//! (podman-compose, older Compose, Kubernetes without init containers) Portico is up before
//! PostgreSQL, and exiting at once makes the engine restart it in a tight loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use portico_store::PgPool;

use crate::config::Settings;

/// First pause between two attempts; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest pause between two attempts (and longest single attempt).
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Whether the database has been reached and migrated (cheap to clone, shared by the state).
#[derive(Clone, Debug)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Ready from the start (the database was reached before the state was built).
    pub fn ready() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }

    /// Not ready until [`Readiness::set_ready`].
    pub fn waiting() -> Self {
        Self(Arc::new(AtomicBool::new(false)))
    }

    /// True once the database answered and the migrations ran.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Marks the database reached and migrated.
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Waits for the database (see [`wait_for_database`]) and applies pending migrations.
pub async fn prepare_database(pool: &PgPool, settings: &Settings) -> anyhow::Result<()> {
    wait_for_database(pool, Duration::from_secs(settings.database.connect_timeout_secs)).await?;
    portico_store::migrate(pool).await.context("applying migrations")?;
    Ok(())
}

/// Tries to connect until one attempt succeeds or `limit` has passed: pauses of 0.25 s doubling
/// up to 5 s, a warning per failed attempt naming the host, then an error naming the host, the
/// time waited and the last cause.
pub async fn wait_for_database(pool: &PgPool, limit: Duration) -> anyhow::Result<()> {
    let host = portico_store::server_address(pool);
    let started = Instant::now();
    let mut pause = FIRST_BACKOFF;
    let mut attempt: u32 = 1;
    loop {
        let remaining = limit.saturating_sub(started.elapsed());
        let budget = remaining.clamp(Duration::from_millis(250), MAX_BACKOFF);
        let error = match portico_store::probe(pool, budget).await {
            Ok(()) => {
                if attempt > 1 {
                    tracing::info!(%host, attempt, waited_ms = started.elapsed().as_millis() as u64,
                        "database at {host} reachable");
                }
                return Ok(());
            }
            Err(e) => e,
        };
        let remaining = limit.saturating_sub(started.elapsed());
        if remaining.is_zero() {
            bail!(
                "database at {host} not reachable after {} s ({attempt} attempts; database.connect_timeout_secs): {error}",
                limit.as_secs()
            );
        }
        let wait = pause.min(remaining);
        tracing::warn!(%host, attempt, error = %error, retry_in_ms = wait.as_millis() as u64,
            "database at {host} not reachable yet (attempt {attempt}); retrying in {} ms", wait.as_millis());
        tokio::time::sleep(wait).await;
        pause = (pause * 2).min(MAX_BACKOFF);
        attempt += 1;
    }
}
