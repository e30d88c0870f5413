//! Auto-join by verified domain, directly or through join requests decided by admins; and
//! another organization's IdP asserting an address of a verified domain (refused outright:
//! `EMAIL_DOMAIN_CLAIMED`).

use reqwest::Method;
use serde_json::{json, Value};

use super::{
    app_with_dns, configure_oidc, org_call, org_path, password_user, patch_domain, role_in, session_token, sso_cookie,
    verified_domain, with_bearer,
};
use crate::support::dns::DnsServer;
use crate::support::oidc::{self, browser};
use crate::support::{assert_envelope_error, Owner, TestApp};

async fn join_requests(app: &TestApp, o: &Owner, query: &str) -> Vec<Value> {
    let r = org_call(app, o, Method::GET, &format!("/join-requests{query}"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn auto_join_directly_or_by_approved_request() {
    let dns = DnsServer::start().await;
    let app = app_with_dns(&dns).await;
    let o = app.owner("aj").await;
    let domain_id = verified_domain(&app, &dns, &o, "aj-corp.example").await;
    let patch = |body: Value| patch_domain(&app, &o, &domain_id, body);
    // Auto-join never grants owner; unknown fields are refused.
    assert_envelope_error(
        &patch(json!({"autoJoin": {"enabled": true, "role": "owner"}})).await,
        400,
        "VALIDATION_ERROR",
    );
    assert_envelope_error(
        &patch(json!({"autoJoin": {"enabled": true, "approve": true}})).await,
        400,
        "VALIDATION_ERROR",
    );

    // Off by default: signing in changes nothing.
    let u0 = password_user(&app, "u0@aj-corp.example", None).await;
    session_token(&app, "u0@aj-corp.example", None).await;
    assert_eq!(role_in(&app, &o.org_id, &u0).await, None);

    // On, without approval: a member at once, with the domain's role.
    let r = patch(json!({"autoJoin": {"enabled": true, "requireApproval": false, "role": "viewer"}})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["data"]["autoJoin"],
        json!({"enabled": true, "requireApproval": false, "role": "viewer"})
    );
    let u1 = password_user(&app, "U1@AJ-Corp.example", None).await;
    session_token(&app, "u1@aj-corp.example", None).await;
    assert_eq!(role_in(&app, &o.org_id, &u1).await.as_deref(), Some("viewer"));
    let joined: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'membership.auto_join' AND target_id = $1 AND organization_id = $2")
        .bind(&u1).bind(&o.org_id).fetch_one(&app.db).await.unwrap();
    assert_eq!(joined, 1);
    // Another domain's users are not concerned.
    let stranger = password_user(&app, "x@elsewhere.example", None).await;
    session_token(&app, "x@elsewhere.example", None).await;
    assert_eq!(role_in(&app, &o.org_id, &stranger).await, None);

    // With approval: a pending request (once, however often the user signs in).
    patch(json!({"autoJoin": {"requireApproval": true, "role": "member"}})).await;
    let u2 = password_user(&app, "u2@aj-corp.example", None).await;
    let u3 = password_user(&app, "u3@aj-corp.example", None).await;
    for email in ["u2@aj-corp.example", "u2@aj-corp.example", "u3@aj-corp.example"] {
        session_token(&app, email, None).await;
    }
    assert_eq!(role_in(&app, &o.org_id, &u2).await, None);
    let pending = join_requests(&app, &o, "").await;
    assert_eq!(pending.len(), 2, "{pending:?}");
    let req = |uid: &str| {
        pending.iter().find(|r| r["userId"] == uid).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (r2, r3) = (req(&u2), req(&u3));
    assert!(r2.starts_with("jrq_"));
    assert_eq!(pending[0]["status"], "pending");
    assert_eq!(pending[0]["domain"], "aj-corp.example");
    assert_eq!(join_requests(&app, &o, "?limit=1").await.len(), 1);

    // Members below admin cannot decide; an admin can.
    let u1_session = session_token(&app, "u1@aj-corp.example", None).await;
    let approve_r2 = org_path(&o, &format!("/join-requests/{r2}/approve"));
    let r = with_bearer(&app, Method::POST, &approve_r2, &u1_session, None).await;
    assert_envelope_error(&r, 403, "FORBIDDEN");
    let r = with_bearer(&app, Method::GET, &org_path(&o, "/join-requests"), &u1_session, None).await;
    assert_envelope_error(&r, 403, "FORBIDDEN");
    let r = with_bearer(&app, Method::GET, &org_path(&o, "/domains"), &u1_session, None).await;
    assert_envelope_error(&r, 403, "FORBIDDEN");
    portico_store::orgs::set_role(&app.db, &o.org_id, &u1, "admin")
        .await
        .unwrap();
    // Admins read domains but only the owner changes them.
    let r = with_bearer(&app, Method::GET, &org_path(&o, "/domains"), &u1_session, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for (m, path) in [
        (Method::POST, org_path(&o, &format!("/domains/{domain_id}/verify"))),
        (Method::DELETE, org_path(&o, &format!("/domains/{domain_id}"))),
        (Method::GET, org_path(&o, "/settings/security")),
    ] {
        assert_envelope_error(&with_bearer(&app, m, &path, &u1_session, None).await, 403, "FORBIDDEN");
    }
    let r = with_bearer(&app, Method::POST, &approve_r2, &u1_session, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["status"], "approved");
    assert_eq!(r.body["data"]["decidedBy"], u1.as_str());
    assert_eq!(role_in(&app, &o.org_id, &u2).await.as_deref(), Some("member"));
    let r = org_call(&app, &o, Method::POST, &format!("/join-requests/{r2}/reject"), None).await;
    assert_envelope_error(&r, 409, "CONFLICT");

    // Rejection: no membership, and the user is not asked about again.
    let r = org_call(&app, &o, Method::POST, &format!("/join-requests/{r3}/reject"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["status"], "rejected");
    session_token(&app, "u3@aj-corp.example", None).await;
    assert_eq!(role_in(&app, &o.org_id, &u3).await, None);
    assert!(join_requests(&app, &o, "").await.is_empty());
    let all = join_requests(&app, &o, "?status=all").await;
    assert_eq!(all.len(), 2);
    let statuses: Vec<(String, String)> = sqlx::query_as("SELECT user_id, status FROM join_requests ORDER BY user_id")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(statuses.len(), 2);
    assert!(statuses.contains(&(u2.clone(), "approved".into())) && statuses.contains(&(u3.clone(), "rejected".into())));
    assert_envelope_error(
        &org_call(&app, &o, Method::POST, "/join-requests/jrq_nope/approve", None).await,
        404,
        "NOT_FOUND",
    );

    // An organization that demands SSO of the auto-join role is not joined by password.
    sqlx::query("UPDATE organizations SET auth_required = 'sso' WHERE id = $1")
        .bind(&o.org_id)
        .execute(&app.db)
        .await
        .unwrap();
    patch(json!({"autoJoin": {"requireApproval": false}})).await;
    let u4 = password_user(&app, "u4@aj-corp.example", None).await;
    session_token(&app, "u4@aj-corp.example", None).await;
    assert_eq!(role_in(&app, &o.org_id, &u4).await, None);
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_events WHERE organization_id = $1 AND action LIKE 'join_request.%' ORDER BY id",
    )
    .bind(&o.org_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "join_request.create",
            "join_request.create",
            "join_request.approve",
            "join_request.reject"
        ]
    );
}

#[tokio::test]
async fn another_organizations_idp_cannot_auto_join_anyone() {
    // Org "victim" verified example.com with auto-join on; org "idp-owner" runs an IdP that
    // asserts alice@example.com (verified). Signing in there must not make alice a member of victim.
    let p = oidc::provider().await;
    let dns = DnsServer::start().await;
    let app = app_with_dns(&dns).await;
    let victim = app.owner("victim").await;
    let other = app.owner("idp-owner").await;
    let id = verified_domain(&app, &dns, &victim, "example.com").await;
    let r = patch_domain(
        &app,
        &victim,
        &id,
        json!({"autoJoin": {"enabled": true, "requireApproval": true}}),
    )
    .await;
    assert_eq!(r.status, 200);
    configure_oidc(&app, &other, &p.issuer).await;
    // Verified domains are authoritative (issue 13): idp-owner's IdP signs nobody in at
    // example.com, so it cannot make alice a member anywhere either.
    let location = idp_owner_sign_in(&app).await;
    assert!(location.ends_with("?error=EMAIL_DOMAIN_CLAIMED"), "{location}");
    assert_eq!(app.count("users WHERE email = 'alice@example.com'").await, 0);
    assert_eq!(app.count("join_requests").await, 0);
    // Without approval either.
    patch_domain(&app, &victim, &id, json!({"autoJoin": {"requireApproval": false}})).await;
    let location = idp_owner_sign_in(&app).await;
    assert!(location.ends_with("?error=EMAIL_DOMAIN_CLAIMED"), "{location}");
    assert_eq!(app.count("users WHERE email = 'alice@example.com'").await, 0);
    assert_eq!(app.count("memberships").await, 2, "the two owners");

    // Victim's own IdP signs the real alice in, into victim only.
    configure_oidc(&app, &victim, &p.issuer).await;
    sso_cookie(&app, "victim", "alice").await;
    let alice: String = sqlx::query_scalar("SELECT id FROM users WHERE email = 'alice@example.com'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(role_in(&app, &victim.org_id, &alice).await.is_some());
    assert_eq!(role_in(&app, &other.org_id, &alice).await, None);
}

/// alice signs in through idp-owner's IdP; where the browser is sent.
async fn idp_owner_sign_in(app: &TestApp) -> String {
    let b = browser();
    let cb = oidc::to_callback(app, &b, "/api/auth/sso/idp-owner/login", "alice", "alice-password").await;
    let r = oidc::finish(&b, &cb).await;
    r.headers["location"].to_str().unwrap().to_owned()
}
