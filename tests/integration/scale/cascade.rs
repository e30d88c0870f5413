//! What references a session goes with it, set-wise (migration 0020): deleting sessions — one, a
//! purge batch, a user's — removes their member_sessions entries, grants, access tokens and derived
//! sessions in a few statements per DELETE instead of four trigger calls per deleted row, and a
//! reference to a missing session is still refused like the foreign keys refused it (23503, the
//! constraint's name), the lock included: an insert in flight holds off the purge of its session.

use sqlx::{Connection, PgConnection, PgPool};

use crate::support::db;

pub(super) const USER: &str = "usr_01CASCADE0000000000000000Y";
pub(super) const ORG: &str = "01CASCADE0000000000000000R";
pub(super) const CLIENT: &str = "cli_01CASCADE0000000000000000C";

/// A session id of the password family (`ses_` + 26 Crockford characters) from a short tag.
pub(super) fn sid(tag: &str) -> String {
    format!("ses_01CASCADE{tag:0>17}")
}

pub(super) async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

pub(super) async fn session(db: &PgPool, id: &str, parent: Option<&str>, expired: bool) {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, method, token_hash, created_at, expires_at, parent_id)
         VALUES ($1, $2, 'password', sha256(convert_to($1, 'UTF8')), now() - interval '2 days',
                 now() + CASE WHEN $3 THEN interval '-1 hour' ELSE interval '1 hour' END, $4)",
    )
    .bind(id)
    .bind(USER)
    .bind(expired)
    .bind(parent)
    .execute(db)
    .await
    .unwrap();
}

/// A grant on `on` with an access token (the derived session `child`) and a refresh token.
pub(super) async fn grant(db: &PgPool, grant_id: &str, on: &str, child: &str) {
    sqlx::query(
        "INSERT INTO oauth_grants (id, client_id, session_id, user_id, scope, auth_time)
         VALUES ($1, $2, $3, $4, 'openid', now())",
    )
    .bind(grant_id)
    .bind(CLIENT)
    .bind(on)
    .bind(USER)
    .execute(db)
    .await
    .unwrap();
    session(db, child, Some(on), false).await;
    sqlx::query(
        "INSERT INTO oauth_tokens (token_hash, grant_id, kind, session_id, expires_at) VALUES
           (sha256(convert_to($1 || ':a', 'UTF8')), $1, 'access', $2, now() + interval '1 hour'),
           (sha256(convert_to($1 || ':r', 'UTF8')), $1, 'refresh', NULL, now() + interval '1 day')",
    )
    .bind(grant_id)
    .bind(child)
    .execute(db)
    .await
    .unwrap();
}

/// Rows that name a session that does not exist, in every referencing column.
pub(super) async fn dangling(db: &PgPool) -> i64 {
    count(
        db,
        "SELECT (SELECT count(*) FROM member_sessions r WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = r.session_id))
              + (SELECT count(*) FROM oauth_grants r WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = r.session_id))
              + (SELECT count(*) FROM oauth_tokens r WHERE r.session_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = r.session_id))
              + (SELECT count(*) FROM sessions r WHERE r.parent_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = r.parent_id))",
    )
    .await
}

pub(super) async fn setup() -> (String, PgPool) {
    let url = db::fresh_database().await;
    let db = portico_store::connect(&url, 4).await.unwrap();
    sqlx::raw_sql(&format!(
        "INSERT INTO users (id, email, name) VALUES ('{USER}', 'cascade@example.com', 'Cascade');
         INSERT INTO organizations (id, slug, name) VALUES ('{ORG}', 'cascade', 'Cascade');
         INSERT INTO memberships (organization_id, user_id, role) VALUES ('{ORG}', '{USER}', 'member');
         INSERT INTO oauth_clients (id, name, public, redirect_uris) VALUES ('{CLIENT}', 'app', true, '{{https://app.example/cb}}');"
    ))
    .execute(&db)
    .await
    .unwrap();
    (url, db)
}

#[tokio::test]
async fn no_row_trigger_per_deleted_session() {
    let (_url, db) = setup().await;
    // The cost the purge measured: PostgreSQL's referential-action triggers, one call per deleted
    // session and per referencing foreign key (four before migration 0020).
    let per_row = count(
        &db,
        "SELECT count(*) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
         WHERE t.tgrelid = 'sessions'::regclass AND t.tgisinternal AND p.proname LIKE 'RI_FKey_%_del'",
    )
    .await;
    assert_eq!(per_row, 0, "row triggers run for every deleted session");
}

#[tokio::test]
async fn deleting_sessions_takes_what_references_them() {
    let (_url, db) = setup().await;
    let (keep, signin, token_session) = (sid("K"), sid("P"), sid("C"));
    session(&db, &keep, None, false).await;
    session(&db, &signin, None, true).await;
    grant(&db, "grt_01CASCADE0000000000000000G", &signin, &token_session).await;
    // A grant on the kept session too: the deletes are exact.
    grant(&db, "grt_01CASCADE0000000000000000H", &keep, &sid("D")).await;
    assert_eq!(
        count(&db, "SELECT count(*) FROM member_sessions").await,
        4,
        "every unscoped live session is listed"
    );

    // The purge deletes the expired sign-in: its grant, both its tokens, its access-token session
    // and their listing entries go in the same statement; nothing of the kept session does.
    let (n, _) = portico_store::sessions::purge_batch(&db, false, None, 250)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM sessions ORDER BY id")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(ids, vec![sid("D"), keep.clone()]);
    assert_eq!(count(&db, "SELECT count(*) FROM oauth_grants").await, 1);
    assert_eq!(count(&db, "SELECT count(*) FROM oauth_tokens").await, 2);
    let listed: Vec<String> = sqlx::query_scalar("SELECT session_id FROM member_sessions ORDER BY 1")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(listed, vec![sid("D"), keep.clone()]);
    assert_eq!(dangling(&db).await, 0);

    // A user's deletion cascades to sessions by foreign key, and from them onwards.
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(USER)
        .execute(&db)
        .await
        .unwrap();
    for table in ["sessions", "member_sessions", "oauth_grants", "oauth_tokens"] {
        assert_eq!(count(&db, &format!("SELECT count(*) FROM {table}")).await, 0, "{table}");
    }
}

#[tokio::test]
async fn a_reference_to_a_missing_session_is_refused() {
    let (_url, db) = setup().await;
    let live = sid("V");
    session(&db, &live, None, false).await;
    let missing = sid("MSSNG");
    let refused = [
        (
            "oauth_grants_session_id_fkey",
            format!("INSERT INTO oauth_grants (id, client_id, session_id, user_id, scope, auth_time) VALUES ('grt_01CASCADE000000000000000MG', '{CLIENT}', '{missing}', '{USER}', 'openid', now())"),
        ),
        (
            "sessions_parent_id_fkey",
            format!("INSERT INTO sessions (id, user_id, method, token_hash, expires_at, parent_id) VALUES ('{}', '{USER}', 'password', sha256('x'), now() + interval '1 hour', '{missing}')", sid("RPHAN")),
        ),
        (
            "member_sessions_session_id_fkey",
            format!("INSERT INTO member_sessions (organization_id, session_id) VALUES ('{ORG}', '{missing}')"),
        ),
        (
            "sessions_parent_id_fkey",
            format!("UPDATE sessions SET parent_id = '{missing}' WHERE id = '{live}'"),
        ),
    ];
    for (constraint, sql) in refused {
        let e = sqlx::query(&sql).execute(&db).await.expect_err(&sql);
        let d = e.as_database_error().expect("a database error");
        assert_eq!(d.code().as_deref(), Some("23503"), "{sql}: {d}");
        assert_eq!(d.constraint(), Some(constraint), "{sql}");
    }
    // The store's error mapping sees the same constraint violation as before.
    let e = sqlx::query(&format!(
        "INSERT INTO member_sessions (organization_id, session_id) VALUES ('{ORG}', '{missing}')"
    ))
    .execute(&db)
    .await
    .unwrap_err();
    assert!(
        matches!(portico_store::StoreError::from(e), portico_store::StoreError::Constraint(c) if c == "member_sessions_session_id_fkey")
    );

    // An access token inserted with its session in one statement (oauth_grants::issue_access's
    // shape) passes: the check runs after the statement, like the foreign key's.
    grant(&db, "grt_01CASCADE0000000000000000G", &live, &sid("C")).await;
    sqlx::query(
        "WITH d AS (INSERT INTO sessions (id, user_id, method, token_hash, expires_at, parent_id)
                    VALUES ($1, $2, 'password', sha256('y'), now() + interval '1 hour', $3) RETURNING id)
         INSERT INTO oauth_tokens (token_hash, grant_id, kind, session_id, expires_at)
         SELECT sha256('z'), 'grt_01CASCADE0000000000000000G', 'access', d.id, now() + interval '1 hour' FROM d",
    )
    .bind(sid("E"))
    .bind(USER)
    .bind(&live)
    .execute(&db)
    .await
    .unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM oauth_tokens").await, 3);
    assert_eq!(dangling(&db).await, 0);
}

#[tokio::test]
async fn an_insert_in_flight_holds_off_the_purge_of_its_session() {
    let (url, db) = setup().await;
    let s = sid("S");
    session(&db, &s, None, true).await;
    // A grant being written for the session (its transaction open) when the purge comes.
    let mut writer = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut writer).await.unwrap();
    sqlx::query(
        "INSERT INTO oauth_grants (id, client_id, session_id, user_id, scope, auth_time)
         VALUES ('grt_01CASCADE0000000000000000W', $1, $2, $3, 'openid', now())",
    )
    .bind(CLIENT)
    .bind(&s)
    .bind(USER)
    .execute(&mut writer)
    .await
    .unwrap();
    let purge = {
        let db = db.clone();
        tokio::spawn(async move { portico_store::sessions::purge_batch(&db, false, None, 250).await })
    };
    // The purge waits on the writer's lock (as it waited on the foreign key's) …
    let mut waited = false;
    for _ in 0..200 {
        let n = count(
            &db,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
               AND query LIKE 'WITH d AS (DELETE FROM sessions%'",
        )
        .await;
        if n > 0 {
            waited = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(waited, "the purge did not wait for the grant's transaction");
    assert!(!purge.is_finished());
    // … and, once the grant is committed, takes it along: nothing is left naming the session.
    sqlx::raw_sql("COMMIT").execute(&mut writer).await.unwrap();
    let (n, _) = purge.await.unwrap().unwrap();
    assert_eq!(n, 1);
    assert_eq!(count(&db, "SELECT count(*) FROM oauth_grants").await, 0);
    assert_eq!(dangling(&db).await, 0);

    // The other order: the session purged first, a grant for it afterwards is refused.
    let s2 = sid("T");
    session(&db, &s2, None, true).await;
    portico_store::sessions::purge(&db).await.unwrap();
    let e = sqlx::query(
        "INSERT INTO oauth_grants (id, client_id, session_id, user_id, scope, auth_time)
         VALUES ('grt_01CASCADE0000000000000000X', $1, $2, $3, 'openid', now())",
    )
    .bind(CLIENT)
    .bind(&s2)
    .bind(USER)
    .execute(&db)
    .await
    .unwrap_err();
    assert_eq!(e.as_database_error().and_then(|d| d.code()).as_deref(), Some("23503"));
}
