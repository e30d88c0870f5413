//! Portico's PostgreSQL store: the pool, embedded migrations, one repository module per
//! aggregate, and the private development PostgreSQL ([`embedded`]). Repository functions take
//! any executor (`&PgPool` or `&mut *tx`) so services compose transactions.
#![forbid(unsafe_code)]

pub mod audit;
pub mod connections;
pub mod domains;
pub mod embedded;
pub mod error;
pub mod identities;
pub mod join_requests;
pub mod logins;
pub mod mfa;
pub mod orgs;
pub mod page;
pub mod replay;
pub mod sealed;
pub mod sessions;
pub mod signin;
pub mod throttle;
pub mod tokens;
pub mod users;

pub use error::StoreError;
pub use page::{Page, Paged};
pub use sqlx::{PgPool, Postgres, Transaction};

use std::time::Duration;

/// Opens a pool to `url` with at most `max_connections`.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        // No ping before every acquire: that doubled the round trips of short statements. A
        // connection broken by a database restart fails its next statement once and is replaced.
        .test_before_acquire(false)
        .connect(url)
        .await
        .map_err(StoreError::from)
}

/// Applies every pending migration from `migrations/`.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::migrate!("../../migrations")
        .run(pool)
        .await
        .map_err(|e| StoreError::Migration(e.to_string()))
}

/// True when the database answers a trivial query.
pub async fn ping(pool: &PgPool) -> bool {
    sqlx::query("SELECT 1").execute(pool).await.is_ok()
}
