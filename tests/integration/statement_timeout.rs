//! `database.statement_timeout_ms`: a request whose statement cannot finish (a slow query, a
//! lock another session holds) is cancelled by PostgreSQL and answered 503 SERVICE_UNAVAILABLE
//! with `Retry-After` — not a 500, and not a request (and pooled connection) held for ever —
//! and the same connections serve the next requests once the obstacle is gone.

use std::time::Duration;

use reqwest::Method;
use sqlx::Connection;

use crate::support::TestApp;

/// A held lock makes the request's own statement wait: with the limit it is cut and answered
/// 503; the lock released, the same request succeeds on the same pool (no restart).
#[tokio::test]
async fn a_statement_over_the_limit_is_a_503_with_retry_after_not_a_hang() {
    let app = TestApp::start_with(|s| s.database.statement_timeout_ms = 300).await;
    let owner = app.owner("slowdb").await;
    let path = format!("/api/user/organizations/{}", owner.org_id);
    assert_eq!(app.call(Method::GET, &path, Some(&owner.key), None).await.status, 200);

    // Another session (an operator's transaction, a migration) holds the organizations table.
    let mut holder = lock_organizations(&app).await;

    let r = tokio::time::timeout(
        Duration::from_secs(10),
        app.call(Method::GET, &path, Some(&owner.key), None),
    )
    .await
    .expect("the request must be answered, not held until the lock goes");
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.body["code"], "SERVICE_UNAVAILABLE", "{}", r.text);
    assert!(r.headers.get("retry-after").is_some(), "503 without Retry-After");

    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let r = app.call(Method::GET, &path, Some(&owner.key), None).await;
    assert_eq!(r.status, 200, "after the lock went: {}", r.text);
}

/// Without the limit (the behaviour before `statement_timeout_ms`), the same request waits for
/// as long as the lock is held: the attack the limit answers.
#[tokio::test]
async fn without_the_limit_a_held_lock_holds_the_request() {
    let app = TestApp::start_with(|s| s.database.statement_timeout_ms = 0).await;
    let owner = app.owner("slowdb0").await;
    let path = format!("/api/user/organizations/{}", owner.org_id);
    let mut holder = lock_organizations(&app).await;
    let waited = tokio::time::timeout(
        Duration::from_secs(2),
        app.call(Method::GET, &path, Some(&owner.key), None),
    )
    .await;
    assert!(
        waited.is_err(),
        "answered while the lock was held: {:?}",
        waited.map(|r| r.status)
    );
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
}

/// A slow statement itself (`pg_sleep`) is cancelled with SQLSTATE 57014, which the store maps
/// to `Unavailable` (the 503 of every family), not to a bug.
#[tokio::test]
async fn pg_sleep_over_the_limit_is_unavailable() {
    let app = TestApp::start_with(|s| s.database.statement_timeout_ms = 200).await;
    let e = sqlx::query("SELECT pg_sleep(2)").execute(&app.db).await.unwrap_err();
    assert_eq!(e.as_database_error().and_then(|d| d.code()).as_deref(), Some("57014"));
    let e = portico_store::StoreError::from(e);
    assert!(matches!(e, portico_store::StoreError::Unavailable(_)), "{e:?}");
    // the connection that was cancelled still works
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&app.db).await.unwrap();
    assert_eq!(one, 1);
}

/// Another session that holds the organizations table in an open transaction until it is rolled back.
async fn lock_organizations(app: &TestApp) -> sqlx::PgConnection {
    let mut holder = sqlx::PgConnection::connect_with(&app.db.connect_options())
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("LOCK TABLE organizations IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    holder
}
