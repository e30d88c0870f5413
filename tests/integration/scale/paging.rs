//! Keyset paging stays exact: walking every page (several page sizes) yields exactly the rows of
//! the plain reference query, in order — for the two-branch session listing above all.

use portico_store::{audit, join_requests, orgs, sessions, Page, Paged};
use sqlx::PgPool;

use super::{seed, SMALL_ORG};
use crate::support::db;

/// Walks every page of a listing and returns the ids, checking each page's size.
async fn walk<F, Fut>(limit: i64, mut fetch: F) -> Vec<String>
where
    F: FnMut(Page) -> Fut,
    Fut: std::future::Future<Output = Paged<String>>,
{
    let (mut out, mut cursor) = (Vec::new(), None);
    loop {
        let page = fetch(Page { limit, cursor }).await;
        assert!(page.items.len() <= usize::try_from(limit).unwrap());
        if page.next_cursor.is_some() {
            assert_eq!(
                page.items.len(),
                usize::try_from(limit).unwrap(),
                "a full page before a cursor"
            );
        }
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

fn ids<T>(p: Paged<T>, id: impl Fn(&T) -> String) -> Paged<String> {
    Paged {
        items: p.items.iter().map(id).collect(),
        next_cursor: p.next_cursor,
    }
}

/// The old single-condition definition of an organization's live sessions, as the reference.
async fn reference_sessions(db: &PgPool, org: &str, sso_only: bool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT s.id FROM sessions s
         WHERE (s.organization_id = $1 OR (NOT $2 AND s.organization_id IS NULL
                AND s.user_id IN (SELECT user_id FROM memberships WHERE organization_id = $1)))
           AND ($2 = false OR s.connection_id IS NOT NULL)
           AND s.revoked_at IS NULL AND s.expires_at > now()
         ORDER BY s.id",
    )
    .bind(org)
    .bind(sso_only)
    .fetch_all(db)
    .await
    .unwrap()
}

#[tokio::test]
async fn keyset_pages_are_exact() {
    let url = db::fresh_database().await;
    seed(&url, 2_000, 2).await;
    let db = portico_store::connect(&url, 2).await.unwrap();
    // Edge cases in the small organization: a member with more unscoped sessions than a page, a
    // revoked and an expired one, and a member's session scoped to another organization; then the
    // writes the members' listing index (member_sessions) must follow: a member removed (their
    // unscoped session leaves the list, their SSO session stays), a session revoked by UPDATE, and
    // a person with two live sessions who becomes a member afterwards (both join the list).
    sqlx::raw_sql(
        "INSERT INTO sessions (id, user_id, method, token_hash, expires_at)
         SELECT 'ses_00SCA1EX' || lpad(g::text, 18, '0'), 'usr_00SCA1ES' || lpad('3', 18, '0'), 'password',
                sha256(convert_to('x' || g, 'UTF8')), now() + interval '1 hour' FROM generate_series(1, 7) g;
         INSERT INTO sessions (id, user_id, method, token_hash, expires_at, revoked_at)
         VALUES ('ses_00SCA1EXR00000000000000000', 'usr_00SCA1ES' || lpad('4', 18, '0'), 'password',
                 sha256(convert_to('r', 'UTF8')), now() + interval '1 hour', now());
         INSERT INTO sessions (id, user_id, method, token_hash, created_at, expires_at)
         VALUES ('ses_00SCA1EXE00000000000000000', 'usr_00SCA1ES' || lpad('5', 18, '0'), 'password',
                 sha256(convert_to('e', 'UTF8')), now() - interval '2 hours', now() - interval '1 hour');
         INSERT INTO sessions (id, user_id, organization_id, method, token_hash, expires_at, connection_id)
         SELECT 'ssosess_00SCA1EXB00000000000000000', 'usr_00SCA1ES' || lpad('6', 18, '0'), organization_id, 'oidc',
                sha256(convert_to('b', 'UTF8')), now() + interval '1 hour', id
         FROM sso_connections WHERE organization_id <> '00SCA1ESMA1100000000000000' ORDER BY id LIMIT 1;
         DELETE FROM memberships WHERE organization_id = '00SCA1ESMA1100000000000000'
                                   AND user_id = 'usr_00SCA1ES' || lpad('7', 18, '0');
         UPDATE sessions SET revoked_at = now() WHERE id = 'ses_00SCA1ES' || lpad('8', 18, '0');
         INSERT INTO users (id, email) VALUES ('usr_00SCA1EN000000000000000001', 'newcomer@small.scale.test');
         INSERT INTO sessions (id, user_id, method, token_hash, expires_at)
         SELECT 'ses_00SCA1EN' || lpad(g::text, 18, '0'), 'usr_00SCA1EN000000000000000001', 'password',
                sha256(convert_to('n' || g, 'UTF8')), now() + interval '1 hour' FROM generate_series(1, 2) g;
         INSERT INTO memberships (organization_id, user_id, role)
         VALUES ('00SCA1ESMA1100000000000000', 'usr_00SCA1EN000000000000000001', 'member');",
    )
    .execute(&db)
    .await
    .unwrap();
    let biggest: String = sqlx::query_scalar(
        "SELECT organization_id FROM memberships WHERE organization_id NOT LIKE '00SCA1E%'
         GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
    )
    .fetch_one(&db)
    .await
    .unwrap();

    for org in [SMALL_ORG, biggest.as_str()] {
        for sso_only in [false, true] {
            let want = reference_sessions(&db, org, sso_only).await;
            assert!(!want.is_empty(), "{org} has sessions");
            for limit in [1, 3, 50] {
                let got = walk(limit, |p| {
                    let db = db.clone();
                    async move {
                        ids(sessions::for_org(&db, org, sso_only, &p).await.unwrap(), |v| {
                            v.session.id.clone()
                        })
                    }
                })
                .await;
                assert_eq!(got, want, "sessions of {org}, sso_only {sso_only}, limit {limit}");
            }
        }
        let want: Vec<String> =
            sqlx::query_scalar("SELECT user_id FROM memberships WHERE organization_id = $1 ORDER BY user_id")
                .bind(org)
                .fetch_all(&db)
                .await
                .unwrap();
        for limit in [2, 7] {
            let got = walk(limit, |p| {
                let db = db.clone();
                async move { ids(orgs::members(&db, org, &p).await.unwrap(), |m| m.user_id.clone()) }
            })
            .await;
            assert_eq!(got, want, "members of {org}");
        }
        let want: Vec<String> =
            sqlx::query_scalar("SELECT id FROM audit_events WHERE organization_id = $1 ORDER BY id DESC")
                .bind(org)
                .fetch_all(&db)
                .await
                .unwrap();
        let got = walk(3, |p| {
            let db = db.clone();
            async move { ids(audit::for_org(&db, org, &p).await.unwrap(), |e| e.id.clone()) }
        })
        .await;
        assert_eq!(got, want, "audit events of {org}");
    }
    // 14 members' password and SSO sessions, the 7 extra ones, minus the removed member's and the
    // revoked password sessions, plus the newcomer's two.
    assert_eq!(
        reference_sessions(&db, SMALL_ORG, false).await.len(),
        14 * 2 + 7 - 2 + 2
    );

    // Join requests, with and without a status filter.
    let org: String =
        sqlx::query_scalar("SELECT organization_id FROM join_requests GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
            .fetch_one(&db)
            .await
            .unwrap();
    sqlx::query("UPDATE join_requests SET status = 'rejected', decided_at = now() WHERE id = (SELECT min(id) FROM join_requests WHERE organization_id = $1)")
        .bind(&org)
        .execute(&db)
        .await
        .unwrap();
    use portico_core::org::JoinRequestStatus;
    for status in [
        None,
        Some(JoinRequestStatus::Pending),
        Some(JoinRequestStatus::Rejected),
    ] {
        let want: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM join_requests WHERE organization_id = $1 AND status = coalesce($2, status) ORDER BY id",
        )
        .bind(&org)
        .bind(status.map(JoinRequestStatus::as_str))
        .fetch_all(&db)
        .await
        .unwrap();
        assert!(!want.is_empty());
        let got = walk(1, |p| {
            let (db, org) = (db.clone(), org.clone());
            async move {
                ids(join_requests::list(&db, &org, status, &p).await.unwrap(), |r| {
                    r.id.clone()
                })
            }
        })
        .await;
        assert_eq!(got, want, "join requests, status {status:?}");
    }

    // A user's organizations (a user with two memberships).
    let user: String = sqlx::query_scalar("SELECT user_id FROM memberships GROUP BY 1 HAVING count(*) > 1 LIMIT 1")
        .fetch_one(&db)
        .await
        .unwrap();
    let want: Vec<String> =
        sqlx::query_scalar("SELECT organization_id FROM memberships WHERE user_id = $1 ORDER BY organization_id")
            .bind(&user)
            .fetch_all(&db)
            .await
            .unwrap();
    let got = walk(1, |p| {
        let (db, user) = (db.clone(), user.clone());
        async move { ids(orgs::for_user(&db, &user, &p).await.unwrap(), |m| m.org.id.clone()) }
    })
    .await;
    assert_eq!(got, want);
}
