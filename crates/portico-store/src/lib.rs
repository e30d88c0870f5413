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
pub mod nullable;
pub mod oauth_clients;
pub mod oauth_grants;
pub mod orgs;
pub mod page;
pub mod replay;
pub mod scim;
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

/// How long a request waits for a pooled connection (and a connect keeps retrying a refused
/// server) before the store answers [`StoreError::Unavailable`].
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A pooled connection idle longer than this is pinged before use (a quiet night's database
/// restart leaves every idle connection dead; under load they are idle for milliseconds).
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(2);
/// How long that ping may take before the connection is discarded.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Opens a pool to `url` with at most `max_connections`.
/// No statement timeout: for tools and tests, not the request path.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    connect_with(url, max_connections, DEFAULT_ACQUIRE_TIMEOUT, Duration::ZERO).await
}

/// Opens a pool to `url` with at most `max_connections`, waiting at most `acquire_timeout` for a
/// connection; every statement on its connections is cancelled by PostgreSQL after
/// `statement_timeout` (`Duration::ZERO`: no limit), which the store answers as
/// [`StoreError::Unavailable`] (SQLSTATE 57014).
///
/// Connections are checked before use only when they may be dead: idle for a while, or opened
/// before the last connection-class failure this process saw (a restart drops them all; the
/// first failure marks every older one suspect, so the next requests ping, discard and reopen
/// instead of failing too). A ping before every acquire would double the round trips of short
/// statements, so steady-state traffic pays none.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
    statement_timeout: Duration,
) -> Result<PgPool, StoreError> {
    pool_options(max_connections, acquire_timeout)
        .connect_with(connect_options(url, statement_timeout)?)
        .await
        .map_err(StoreError::from)
}

/// [`connect_with`] without connecting: the pool opens its connections when first used, so a
/// server can start (and answer `/healthz`) before the database is reachable. Fails only on a
/// malformed URL. See [`probe`] to wait for the database.
pub fn connect_lazy(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
    statement_timeout: Duration,
) -> Result<PgPool, StoreError> {
    Ok(pool_options(max_connections, acquire_timeout).connect_lazy_with(connect_options(url, statement_timeout)?))
}

/// One fresh connection to the pool's database, within `limit`, closed again: the database
/// answers. The error is the connect error (refused, unknown host, authentication, ...).
pub async fn probe(pool: &PgPool, limit: Duration) -> Result<(), String> {
    use sqlx::Connection;
    let opts = pool.connect_options();
    match tokio::time::timeout(limit, sqlx::PgConnection::connect_with(&opts)).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
    }
}

/// Where the pool connects: `host:port` (or the socket folder), never the credentials.
pub fn server_address(pool: &PgPool) -> String {
    let opts = pool.connect_options();
    format!("{}:{}", opts.get_host(), opts.get_port())
}

/// The connection settings of `url`, with PostgreSQL's NOTICE messages off
/// (`client_min_messages = warning`): they are informational (e.g. "relation _sqlx_migrations
/// already exists, skipping" on every start) and would reach the logs as INFO lines; and
/// `statement_timeout` set at connect (a start-up parameter: no extra round trip, and it holds
/// for every statement of the connection's life).
fn connect_options(url: &str, statement_timeout: Duration) -> Result<sqlx::postgres::PgConnectOptions, StoreError> {
    let opts: sqlx::postgres::PgConnectOptions = url.parse().map_err(StoreError::from)?;
    let ms = statement_timeout.as_millis().to_string();
    Ok(opts.options([("client_min_messages", "warning"), ("statement_timeout", ms.as_str())]))
}

fn pool_options(max_connections: u32, acquire_timeout: Duration) -> sqlx::postgres::PgPoolOptions {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for < PING_IF_IDLE_FOR && !error::opened_before_recent_fault(meta.age) {
                    return Ok(true);
                }
                use sqlx::Connection;
                match tokio::time::timeout(PING_TIMEOUT, conn.ping()).await {
                    Ok(Ok(())) => Ok(true),
                    // Discarded; the pool opens a fresh one.
                    Ok(Err(_)) | Err(_) => Ok(false),
                }
            })
        })
}

/// Applies every pending migration from `migrations/`.
///
/// Migrations run on a connection of their own with no statement timeout (an index built over a
/// large table may rightly take minutes); that connection is closed afterwards rather than
/// returned to the pool with the request path's limit lifted.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?.detach();
    sqlx::query("SET statement_timeout = 0").execute(&mut conn).await?;
    let result = sqlx::migrate!("../../migrations")
        .run(&mut conn)
        .await
        .map_err(|e| StoreError::Migration(e.to_string()));
    use sqlx::Connection;
    let _ = conn.close().await;
    result
}

/// The latest migration applied (`None` before the first).
pub async fn schema_version(pool: &PgPool) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map_err(StoreError::from)
}

/// True when the database answers a trivial query within `limit` (waiting for a pooled
/// connection included).
pub async fn ping(pool: &PgPool, limit: Duration) -> bool {
    matches!(
        tokio::time::timeout(limit, sqlx::query("SELECT 1").execute(pool)).await,
        Ok(Ok(_))
    )
}
