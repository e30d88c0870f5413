//! The purges delete in bounded batches, walk a backlog forward, and delete exactly what is due:
//! expired sessions, sessions revoked more than a day ago, audit events past retention.

use portico_store::{audit, sessions};

use super::seed;
use crate::support::db;

async fn count(db: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

#[tokio::test]
async fn session_purge_is_batched_and_exact() {
    let url = db::fresh_database().await;
    seed(&url, 2_000, 0).await;
    let db = portico_store::connect(&url, 2).await.unwrap();
    // A session revoked an hour ago stays (a day's grace), like every live one.
    sqlx::query("UPDATE sessions SET revoked_at = now() - interval '1 hour' WHERE id = (SELECT min(id) FROM sessions WHERE revoked_at IS NULL AND expires_at > now())")
        .execute(&db)
        .await
        .unwrap();
    let expired = count(&db, "SELECT count(*) FROM sessions WHERE expires_at < now()").await;
    let revoked = count(
        &db,
        "SELECT count(*) FROM sessions WHERE revoked_at < now() - interval '1 day' AND expires_at >= now()",
    )
    .await;
    let kept = count(&db, "SELECT count(*) FROM sessions WHERE expires_at >= now() AND (revoked_at IS NULL OR revoked_at >= now() - interval '1 day')").await;
    assert!(
        expired > 100 && revoked > 10,
        "the seed leaves a backlog: {expired} expired, {revoked} revoked"
    );

    // Batches of 25: each at most 25 rows, the watermark moving forward, until a short batch.
    let mut total = 0;
    for kind in [false, true] {
        let (mut from, mut batches) = (None, 0);
        loop {
            let (n, mark) = sessions::purge_batch(&db, kind, from, 25).await.unwrap();
            assert!(n <= 25);
            if let (Some(a), Some(b)) = (from, mark) {
                assert!(b >= a, "the watermark never moves back");
            }
            total += n;
            batches += 1;
            if n < 25 {
                break;
            }
            from = mark;
        }
        assert!(batches > 1, "the backlog took several batches");
    }
    assert_eq!(i64::try_from(total).unwrap(), expired + revoked);
    assert_eq!(count(&db, "SELECT count(*) FROM sessions").await, kept);
    assert_eq!(sessions::purge(&db).await.unwrap(), 0);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM sessions WHERE revoked_at >= now() - interval '1 day'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn audit_retention_deletes_what_is_past_it_in_batches() {
    let url = db::fresh_database().await;
    seed(&url, 4_000, 2).await;
    let db = portico_store::connect(&url, 2).await.unwrap();
    let total = count(&db, "SELECT count(*) FROM audit_events").await;
    let old = count(
        &db,
        "SELECT count(*) FROM audit_events WHERE created_at < now() - interval '400 days'",
    )
    .await;
    assert!(old > audit::PURGE_BATCH, "more than one batch is due: {old} of {total}");

    portico_server::jobs::purge_audit(&db, 0).await;
    assert_eq!(
        count(&db, "SELECT count(*) FROM audit_events").await,
        total,
        "0 keeps everything"
    );

    // One batch: at most the batch size, the oldest first.
    let before = chrono::Utc::now() - chrono::Duration::days(400);
    let (n, last) = audit::purge_batch(&db, before, None, 10).await.unwrap();
    assert_eq!(n, 10);
    let last = last.unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM audit_events").await, total - 10);
    let below: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE id <= $1")
        .bind(&last)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(below, 0, "the ten oldest went");

    portico_server::jobs::purge_audit(&db, 400).await;
    assert_eq!(count(&db, "SELECT count(*) FROM audit_events").await, total - old);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM audit_events WHERE created_at < now() - interval '400 days'"
        )
        .await,
        0
    );
}
