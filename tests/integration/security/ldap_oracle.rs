//! No password oracle at the LDAP endpoint (SPEC §3 LDAP). Attack: after a successful bind,
//! refusals used to be distinct 403s (`EMAIL_DOMAIN_NOT_ALLOWED`, `NOT_PROVISIONED`,
//! `USER_DISABLED`…) — each one confirms the directory password — and they released the throttle.

use serde_json::json;

use crate::support::ldap::{self, browser_sign_in, connection_body, create_connection, sdk_sign_in};
use crate::support::TestApp;

async fn failures(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT coalesce(max(failures), 0)::bigint FROM ldap_throttle WHERE length(subject_key) > 0")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn refusals_after_the_bind_answer_like_a_wrong_password_and_count() {
    let dir = ldap::shared().await;
    let app = TestApp::start().await;
    let o = app.owner("ldap-oracle").await;
    // alice@example.com is outside this connection's domains.
    let id = create_connection(
        &app,
        &o,
        connection_body(dir, json!({"domains": ["corp.example"], "jitProvisioning": false})),
    )
    .await;
    let wrong = sdk_sign_in(&app, &o, &id, "alice", "not-her-password").await;
    let right = sdk_sign_in(&app, &o, &id, "alice", "alice-password").await;
    for r in [&wrong, &right] {
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(r.body["code"], "SSO_AUTH_FAILED", "{}", r.text);
    }
    assert_eq!(wrong.body["message"], right.body["message"]);
    let b_wrong = browser_sign_in(&app, "ldap-oracle", "alice", "not-her-password").await;
    let b_right = browser_sign_in(&app, "ldap-oracle", "alice", "alice-password").await;
    assert_eq!(b_wrong.status, b_right.status, "{} / {}", b_wrong.text, b_right.text);
    assert_eq!(b_wrong.body["code"], b_right.body["code"]);
    assert_eq!(b_wrong.body["message"], b_right.body["message"]);
    // Every attempt counted toward the username's throttle, the right password's included.
    assert_eq!(failures(&app).await, 4);
    // The precise reason is in the audit log only.
    let details: Vec<String> = sqlx::query_scalar(
        "SELECT coalesce(details->>'detail', '') FROM audit_events
         WHERE action = 'sign_in.sso' AND outcome = 'failure' ORDER BY id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(details.len(), 4, "{details:?}");
    assert!(
        details[1].starts_with("EMAIL_DOMAIN_NOT_ALLOWED after a successful bind"),
        "{details:?}"
    );
    assert_eq!(app.count("sessions").await, 0);
    assert_eq!(app.count("users").await, 1, "only the owner");
}
