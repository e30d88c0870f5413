//! Every foreign key has an index whose leading columns are the key's: deleting a referenced row
//! (an organization, a domain, a connection, a user) then finds the referencing rows through it.

use crate::support::db;

/// Foreign keys no index covers, as `table (columns)`. Covered: some index (a partial one too
/// when its predicate is `… IS NOT NULL`, which the referencing `col = $1` implies) starts with
/// exactly the key's columns, in any order.
async fn uncovered(pool: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.conrelid::regclass || ' (' || string_agg(a.attname, ', ' ORDER BY a.attnum) || ')'
         FROM pg_constraint c
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
         WHERE c.contype = 'f'
           AND NOT EXISTS (
               SELECT 1 FROM pg_index i
               WHERE i.indrelid = c.conrelid
                 AND (i.indpred IS NULL OR pg_get_expr(i.indpred, i.indrelid) ~ 'IS NOT NULL')
                 AND (SELECT array_agg(k ORDER BY k)
                      FROM unnest((string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)]) k)
                     = (SELECT array_agg(k ORDER BY k) FROM unnest(c.conkey) k))
         GROUP BY c.oid, c.conrelid ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_foreign_key_has_an_index() {
    let url = db::fresh_database().await;
    let pool = portico_store::connect(&url, 1).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_constraint WHERE contype = 'f'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(n >= 15, "the schema's foreign keys are counted: {n}");
    assert_eq!(
        uncovered(&pool).await,
        Vec::<String>::new(),
        "foreign keys without an index"
    );

    // The check can fail: without the index migration 0009 added, the key is reported.
    sqlx::query("DROP INDEX api_tokens_org").execute(&pool).await.unwrap();
    assert_eq!(uncovered(&pool).await, vec!["api_tokens (organization_id)".to_owned()]);
}
