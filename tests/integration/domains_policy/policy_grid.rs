//! The organization security policy (`authRequired` × `requireMfa` × role) enforced cell by cell on
//! the organization routes, for password, password + TOTP, SSO, SSO with IdP MFA and PAT callers.

use reqwest::Method;
use serde_json::{json, Value};

use super::{
    code, configure_oidc, enable_totp, org_call, org_path, password_sign_in, password_user, session_token, sso_cookie,
    with_bearer, with_cookie,
};
use crate::support::oidc;
use crate::support::{assert_envelope_error, Owner, Resp, TestApp};

/// `PUT …/settings/security` with `body`.
async fn put_security(app: &TestApp, o: &Owner, body: Value) -> Resp {
    org_call(app, o, Method::PUT, "/settings/security", Some(body)).await
}

/// Gives every member of the organization but its owner `role`.
async fn set_members_role(app: &TestApp, o: &Owner, role: &str) {
    sqlx::query("UPDATE memberships SET role = $2 WHERE organization_id = $1 AND user_id <> $3")
        .bind(&o.org_id)
        .bind(role)
        .bind(&o.user_id)
        .execute(&app.db)
        .await
        .unwrap();
}

#[derive(Clone, Copy, Debug)]
enum Expect {
    Ok,
    Mfa,
    Sso,
}

fn check(r: &Resp, want: Expect, cell: &str) {
    match want {
        Expect::Ok => assert_eq!(r.status, 200, "{cell}: {}", r.text),
        Expect::Mfa => {
            assert_envelope_error(r, 403, "MFA_REQUIRED");
        }
        Expect::Sso => {
            assert_envelope_error(r, 403, "SSO_REQUIRED");
            assert!(
                r.body["loginUrl"]
                    .as_str()
                    .unwrap()
                    .ends_with("/api/auth/sso/grid/login"),
                "{cell}: {}",
                r.text
            );
        }
    }
}

#[tokio::test]
async fn every_policy_cell_is_enforced_on_the_organizations_routes() {
    let p = oidc::provider().await;
    let app = TestApp::start().await;
    let o = app.owner("grid").await;
    let r = org_call(&app, &o, Method::GET, "/settings/security", None).await;
    assert_eq!(
        r.body["data"],
        json!({"authRequired": "any", "requireMfa": false, "exemptRoles": ["owner"]}),
        "{}",
        r.text
    );
    let r = put_security(&app, &o, json!({"authRequired": "strict"})).await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    let r = put_security(&app, &o, json!({"authRequired": "any", "exemptRoles": ["Not A Role"]})).await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");

    // SSO cannot be required before a connection has passed its test.
    configure_oidc(&app, &o, &p.issuer).await;
    let r = put_security(&app, &o, json!({"authRequired": "sso"})).await;
    assert_envelope_error(&r, 409, "SSO_NOT_READY");
    let stored: String = sqlx::query_scalar("SELECT auth_required FROM organizations WHERE id = $1")
        .bind(&o.org_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, "any");
    let r = org_call(&app, &o, Method::POST, "/settings/sso/test", None).await;
    assert_eq!(r.body["data"]["success"], true, "{}", r.text);

    // The callers: password, password + TOTP, SSO without IdP MFA (alice), with (carol), a PAT.
    let pw_user = password_user(&app, "pat@grid.example", Some((&o.org_id, "member"))).await;
    let totp_user = password_user(&app, "tina@grid.example", Some((&o.org_id, "member"))).await;
    let pw_session = session_token(&app, "pat@grid.example", None).await;
    let tina_plain = session_token(&app, "tina@grid.example", None).await;
    let (tina_secret, _) = enable_totp(&app, &tina_plain).await;
    let tina = password_sign_in(&app, "tina@grid.example", Some(&code(&tina_secret, 1))).await;
    assert_eq!(tina.body["data"]["session"]["mfa"], true, "{}", tina.text);
    let totp_session = tina.body["data"]["token"].as_str().unwrap().to_owned();
    let alice = sso_cookie(&app, "grid", "alice").await;
    let carol = sso_cookie(&app, "grid", "carol").await;
    let r = with_bearer(
        &app,
        Method::POST,
        "/api/user/tokens",
        &pw_session,
        Some(json!({"name": "grid-pat", "organizationId": o.org_id})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let pat = r.body["data"]["token"].as_str().unwrap().to_owned();
    let users: Vec<String> =
        sqlx::query_scalar("SELECT user_id FROM memberships WHERE organization_id = $1 AND user_id <> $2")
            .bind(&o.org_id)
            .bind(&o.user_id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(users.len(), 4, "pat, tina, alice, carol");
    assert!(users.contains(&pw_user) && users.contains(&totp_user));

    let read = org_path(&o, "");
    use Expect::*;
    // (authRequired, requireMfa) × role × [password, password+TOTP, SSO, SSO+MFA, PAT]. The PAT
    // was minted from the password session: policy judges it as that session (issue 13).
    let grid: [(&str, bool, &str, [Expect; 5]); 8] = [
        ("any", false, "owner", [Ok, Ok, Ok, Ok, Ok]),
        ("any", false, "member", [Ok, Ok, Ok, Ok, Ok]),
        ("mfa", false, "owner", [Mfa, Ok, Mfa, Ok, Mfa]),
        ("mfa", false, "member", [Mfa, Ok, Mfa, Ok, Mfa]),
        ("sso", false, "owner", [Ok, Ok, Ok, Ok, Ok]),
        ("sso", false, "member", [Sso, Sso, Ok, Ok, Sso]),
        ("any", true, "member", [Mfa, Ok, Mfa, Ok, Mfa]),
        ("sso", true, "member", [Sso, Sso, Mfa, Ok, Sso]),
    ];
    for (auth_required, require_mfa, role, expected) in grid {
        set_members_role(&app, &o, role).await;
        let r = put_security(
            &app,
            &o,
            json!({"authRequired": auth_required, "requireMfa": require_mfa}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["data"]["authRequired"], auth_required);
        let cell = |who: &str| format!("{auth_required}/requireMfa={require_mfa}/{role}/{who}");
        check(
            &with_bearer(&app, Method::GET, &read, &pw_session, None).await,
            expected[0],
            &cell("password"),
        );
        check(
            &with_bearer(&app, Method::GET, &read, &totp_session, None).await,
            expected[1],
            &cell("password+totp"),
        );
        check(&with_cookie(&app, &read, &alice).await, expected[2], &cell("sso"));
        check(&with_cookie(&app, &read, &carol).await, expected[3], &cell("sso+mfa"));
        check(
            &app.call(Method::GET, &read, Some(&pat), None).await,
            expected[4],
            &cell("pat"),
        );
    }
    // Password sign-in itself under `sso`: refused for members with the login URL, not for owners.
    set_members_role(&app, &o, "member").await;
    let r = password_sign_in(&app, "pat@grid.example", None).await;
    assert_envelope_error(&r, 403, "SSO_REQUIRED");
    assert_eq!(r.body["loginUrl"], format!("{}/api/auth/sso/grid/login", app.base));
    assert_eq!(password_sign_in(&app, &o.email, None).await.status, 200);
    // Under `mfa`, a TOTP user signing in without a code is asked for it.
    put_security(&app, &o, json!({"authRequired": "mfa", "requireMfa": false})).await;
    assert_envelope_error(
        &password_sign_in(&app, "tina@grid.example", None).await,
        403,
        "MFA_REQUIRED",
    );
    let changes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE action = 'security_policy.update' AND organization_id = $1",
    )
    .bind(&o.org_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(changes, 9, "every change audited");
}
