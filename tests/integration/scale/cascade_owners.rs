//! Migration 0020 keeps every cascade that reached sessions through their owners: deleting a
//! connection, an organization or a user removes exactly what it removed when the four foreign
//! keys into sessions cascaded row by row (each SSO session, its grants, tokens, derived sessions
//! and listing entries), nothing more; a referenced session's id still cannot change; and a DELETE
//! in flight makes a reference to its session wait, then fail like the foreign key's check did.

use sqlx::{Connection, PgConnection, PgPool};

use super::cascade::{count, dangling, grant, session, setup, sid, ORG, USER};

/// An SSO session id (`ssosess_` + 26 Crockford characters) from a short tag.
fn sso_sid(tag: &str) -> String {
    format!("ssosess_01CASCADE{tag:0>17}")
}

fn conn_id(tag: &str) -> String {
    format!("sso_01CASCADE{tag:0>17}")
}

/// A connection of the organization with one live SSO session through it.
async fn sso_session(db: &PgPool, conn: &str, id: &str) {
    sqlx::query("INSERT INTO sso_connections (id, organization_id, name, protocol) VALUES ($1, $2, 'idp', 'oidc')")
        .bind(conn)
        .bind(ORG)
        .execute(db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO sessions (id, user_id, organization_id, connection_id, method, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, 'oidc', sha256(convert_to($1, 'UTF8')), now() + interval '1 hour')",
    )
    .bind(id)
    .bind(USER)
    .bind(ORG)
    .bind(conn)
    .execute(db)
    .await
    .unwrap();
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn ids(db: &PgPool, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql).fetch_all(db).await.unwrap()
}

#[tokio::test]
async fn deleting_a_connection_an_organization_or_a_user_cascades_as_before() {
    let (_url, db) = setup().await;
    // A password sign-in with a grant, and one SSO sign-in with a grant through each of two
    // connections; every grant has an access token (a derived session) and a refresh token.
    let (password, via_a, via_b) = (sid("P"), sso_sid("A"), sso_sid("B"));
    session(&db, &password, None, false).await;
    grant(&db, "grt_01CASCADE0000000000000000P", &password, &sid("CP")).await;
    sso_session(&db, &conn_id("A"), &via_a).await;
    grant(&db, "grt_01CASCADE0000000000000000A", &via_a, &sid("CA")).await;
    sso_session(&db, &conn_id("B"), &via_b).await;
    grant(&db, "grt_01CASCADE0000000000000000B", &via_b, &sid("CB")).await;
    // Unscoped live sessions of a member are listed: the password one and the three derived ones.
    assert_eq!(count(&db, "SELECT count(*) FROM member_sessions").await, 4);

    // The connection goes: its SSO session, that session's grant, tokens and derived session
    // (and the derived session's listing entry) with it; nothing else.
    sqlx::query("DELETE FROM sso_connections WHERE id = $1")
        .bind(conn_id("A"))
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(
        ids(&db, "SELECT id FROM sessions ORDER BY id").await,
        sorted(vec![sid("CB"), sid("CP"), sid("P"), via_b.clone()])
    );
    assert_eq!(
        ids(&db, "SELECT id FROM oauth_grants ORDER BY id").await,
        vec!["grt_01CASCADE0000000000000000B", "grt_01CASCADE0000000000000000P"]
    );
    assert_eq!(count(&db, "SELECT count(*) FROM oauth_tokens").await, 4);
    assert_eq!(
        ids(&db, "SELECT session_id FROM member_sessions ORDER BY 1").await,
        sorted(vec![sid("CB"), sid("CP"), sid("P")])
    );
    assert_eq!(dangling(&db).await, 0);

    // The organization goes: its other connection's SSO session and what hangs off it, and every
    // listing entry of the organization; the user's password sign-in and its grant stay.
    sqlx::query("DELETE FROM organizations WHERE id = $1")
        .bind(ORG)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(
        ids(&db, "SELECT id FROM sessions ORDER BY id").await,
        sorted(vec![sid("CP"), sid("P")])
    );
    assert_eq!(
        ids(&db, "SELECT id FROM oauth_grants").await,
        vec!["grt_01CASCADE0000000000000000P"]
    );
    assert_eq!(count(&db, "SELECT count(*) FROM oauth_tokens").await, 2);
    assert_eq!(count(&db, "SELECT count(*) FROM member_sessions").await, 0);
    assert_eq!(dangling(&db).await, 0);

    // The user goes: everything.
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
async fn a_referenced_session_id_cannot_change() {
    let (_url, db) = setup().await;
    let (held, free) = (sid("H"), sid("F"));
    session(&db, &held, None, false).await;
    grant(&db, "grt_01CASCADE0000000000000000H", &held, &sid("CH")).await;
    session(&db, &free, None, false).await;
    let e = sqlx::query("UPDATE sessions SET id = $2 WHERE id = $1")
        .bind(&held)
        .bind(sid("H2"))
        .execute(&db)
        .await
        .unwrap_err();
    let d = e.as_database_error().expect("a database error");
    assert_eq!(d.code().as_deref(), Some("23503"), "{d}");
    assert!(d.constraint().is_some_and(|c| c.ends_with("_fkey")), "{d}");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM sessions WHERE id = 'ses_01CASCADE0000000000000000H'"
        )
        .await,
        1
    );

    // A session nothing references (revoked: no longer listed) may change its id, as before.
    sqlx::query("UPDATE sessions SET revoked_at = now() WHERE id = $1")
        .bind(&free)
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("UPDATE sessions SET id = $2 WHERE id = $1")
        .bind(&free)
        .bind(sid("F2"))
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(dangling(&db).await, 0);
}

/// Runs `grant_for(session)` on the pool while `deleter` holds the session's DELETE open, waits
/// until the insert blocks on the deleter's lock, then ends the deleter with `end` and returns the
/// insert's outcome.
async fn insert_behind_delete(url: &str, db: &PgPool, s: &str, end: &str) -> Result<(), sqlx::Error> {
    let mut deleter = PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut deleter).await.unwrap();
    sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(s)
        .execute(&mut deleter)
        .await
        .unwrap();
    let insert = {
        let (db, s) = (db.clone(), s.to_owned());
        tokio::spawn(async move {
            sqlx::query(
                "INSERT INTO oauth_grants (id, client_id, session_id, user_id, scope, auth_time)
                 VALUES ('grt_01CASCADE0000000000000000Q', $1, $2, $3, 'openid', now())",
            )
            .bind(super::cascade::CLIENT)
            .bind(&s)
            .bind(USER)
            .execute(&db)
            .await
            .map(|_| ())
        })
    };
    let mut waited = false;
    for _ in 0..200 {
        let n = count(
            db,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
               AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO oauth_grants%'",
        )
        .await;
        if n > 0 {
            waited = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(waited, "the insert did not wait for the deleting transaction");
    sqlx::raw_sql(end).execute(&mut deleter).await.unwrap();
    insert.await.unwrap()
}

#[tokio::test]
async fn a_reference_waits_for_a_delete_in_flight() {
    let (url, db) = setup().await;
    // The delete commits: the waiting insert is refused by the old constraint name.
    let gone = sid("G");
    session(&db, &gone, None, false).await;
    let e = insert_behind_delete(&url, &db, &gone, "COMMIT").await.unwrap_err();
    let d = e.as_database_error().expect("a database error");
    assert_eq!(d.code().as_deref(), Some("23503"), "{d}");
    assert_eq!(d.constraint(), Some("oauth_grants_session_id_fkey"));
    assert_eq!(dangling(&db).await, 0);

    // The delete rolls back: the session is still there and the insert passes.
    let kept = sid("K");
    session(&db, &kept, None, false).await;
    insert_behind_delete(&url, &db, &kept, "ROLLBACK").await.unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM oauth_grants").await, 1);
    assert_eq!(dangling(&db).await, 0);
}
