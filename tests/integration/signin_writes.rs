//! The writes of a sign-in after the IdP's answer is verified (`services::signin`): a returning
//! identity signs in with one statement (replay record, identity, session, audit event), anything
//! that must change falls back to the full admission, and every outcome leaves exactly the rows
//! it should. Driven with synthetic verified identities, plus the SAML browser flow for the
//! single-use login transaction.

use chrono::{DateTime, Utc};
use portico_core::idp::ExternalIdentity;
use portico_server::extract::ClientInfo;
use portico_server::services::signin::{self, Completed, Failure};
use portico_store::connections::Connection;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::oidc::browser;
use crate::support::saml;
use crate::support::{error_of, session_cookie, sessions_by_method, Owner, TestApp};

fn client() -> ClientInfo {
    ClientInfo {
        request_id: Some("req-signin-1".into()),
        ip: Some("192.0.2.7".into()),
        user_agent: Some("signin-test/1.0".into()),
    }
}

fn ident(sub: &str, email: &str, groups: &[&str], assertion: Option<&str>) -> ExternalIdentity {
    ExternalIdentity {
        issuer: "https://idp.example.com".into(),
        subject: sub.into(),
        email: Some(email.into()),
        email_verified: Some(true),
        name: Some("N".into()),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        mfa: true,
        assertion_id: assertion.map(str::to_owned),
        ..Default::default()
    }
}

async fn connection(app: &TestApp, o: &Owner, extra: Value) -> Connection {
    let mut body = json!({
        "name": "W", "protocol": "oidc", "issuerUrl": "https://idp.example.com", "clientId": "c",
        "clientSecret": "s", "domains": ["w.example"], "jitProvisioning": true,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app
        .call(Method::POST, "/v1/sso/connections", Some(&o.key), Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    portico_store::connections::by_id(&app.db, r.body["id"].as_str().unwrap(), None)
        .await
        .unwrap()
        .unwrap()
}

async fn finish(app: &TestApp, c: &Connection, id: ExternalIdentity) -> Result<Completed, Failure> {
    signin::admission::finish(&app.state, &client(), c, id).await
}

fn code_of(r: Result<Completed, Failure>) -> &'static str {
    match r {
        Ok(_) => "OK",
        Err(f) => f.code,
    }
}

async fn scalar<T>(app: &TestApp, sql: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

async fn role_of(app: &TestApp, o: &Owner, user: &str) -> Option<String> {
    portico_store::orgs::role_of(&app.db, &o.org_id, user).await.unwrap()
}

/// The one success event of `session_id`: (actor, actor kind, connection, ip, request id, details).
type Event = (String, String, String, String, String, Value);

async fn event_of(app: &TestApp, session_id: &str) -> Event {
    sqlx::query_as(
        "SELECT actor_user_id, actor_kind, connection_id, ip, request_id, details FROM audit_events
         WHERE action = 'sign_in.sso' AND outcome = 'success' AND target_id = $1",
    )
    .bind(session_id)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn returning_sign_in_writes_exactly_its_rows_and_refuses_a_replay() {
    let app = TestApp::start().await;
    let o = app.owner("sw").await;
    let c = connection(&app, &o, json!({"groupMappings": {"Eng": ["repo:write"]}})).await;
    let first = finish(&app, &c, ident("s1", "dev@w.example", &["Eng"], Some("_a1")))
        .await
        .unwrap();
    assert!(first.admitted.provisioned);
    let uid = first.admitted.user.id.clone();
    let touched = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, DateTime<Utc>>("SELECT last_login_at FROM external_identities")
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    let t1 = touched(&app).await;

    let second = finish(&app, &c, ident("s1", "dev@w.example", &["Eng"], Some("_a2")))
        .await
        .unwrap();
    assert!(!second.admitted.provisioned);
    assert_eq!(second.admitted.user.id, uid);
    assert_eq!(second.admitted.user.email, "dev@w.example");
    assert!(second.admitted.user.is_active());
    assert_eq!(second.admitted.mapped_scopes, vec!["repo:write"]);
    let s = &second.session.session;
    assert!(s.id.starts_with("ssosess_"));
    assert_eq!(
        (s.user_id.as_str(), s.method.as_str(), s.mfa),
        (uid.as_str(), "oidc", true)
    );
    assert_eq!(s.organization_id.as_deref(), Some(o.org_id.as_str()));
    assert_eq!(s.connection_id.as_deref(), Some(c.id.as_str()));
    assert_eq!(s.idp_subject.as_deref(), Some("s1"));
    assert_eq!(
        (s.groups.clone(), s.mapped_scopes.clone()),
        (vec!["Eng".to_owned()], vec!["repo:write".to_owned()])
    );
    assert_eq!(s.ip.as_deref(), Some("192.0.2.7"));
    let ua: Option<String> = sqlx::query_scalar("SELECT user_agent FROM sessions WHERE id = $1")
        .bind(&s.id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(ua.as_deref(), Some("signin-test/1.0"));
    // The token that was handed out is the one stored.
    use secrecy::ExposeSecret;
    let me = app
        .me_with_cookie(&format!("portico_session={}", second.session.token.expose_secret()))
        .await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["data"]["user"]["id"], uid.as_str());

    for (done, provisioned) in [(&first, true), (&second, false)] {
        let (actor, kind, conn, ip, request, details) = event_of(&app, &done.session.session.id).await;
        assert_eq!(
            (
                actor.as_str(),
                kind.as_str(),
                conn.as_str(),
                ip.as_str(),
                request.as_str()
            ),
            (uid.as_str(), "user", c.id.as_str(), "192.0.2.7", "req-signin-1")
        );
        assert_eq!(
            details,
            json!({"protocol": "oidc", "subject": "s1", "provisioned": provisioned, "mfa": true})
        );
    }
    assert_eq!(app.count("sessions").await, 2);
    assert_eq!(app.count("audit_events WHERE action = 'sign_in.sso'").await, 2);
    assert_eq!(app.count("external_identities").await, 1);
    assert_eq!(app.count("users").await, 2, "the owner and the provisioned user");
    assert_eq!(app.count("memberships").await, 2);
    let replays: Vec<String> = sqlx::query_scalar("SELECT assertion_id FROM saml_replay_cache ORDER BY assertion_id")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(replays, vec!["_a1", "_a2"]);
    let t2 = touched(&app).await;
    assert!(t2 > t1, "the identity's last_login_at is touched");

    // The same assertion again: refused, and nothing at all is written.
    let r = finish(&app, &c, ident("s1", "dev@w.example", &["Eng"], Some("_a2"))).await;
    assert_eq!(code_of(r), "ASSERTION_REPLAYED");
    assert_eq!(app.count("sessions").await, 2);
    assert_eq!(app.count("audit_events WHERE action = 'sign_in.sso'").await, 2);
    assert_eq!(app.count("saml_replay_cache").await, 2);
    assert_eq!(touched(&app).await, t2);
    // An expired record of the same assertion no longer counts (it is replaced).
    sqlx::query("UPDATE saml_replay_cache SET expires_at = now() - interval '1 second' WHERE assertion_id = '_a2'")
        .execute(&app.db)
        .await
        .unwrap();
    let again = finish(&app, &c, ident("s1", "dev@w.example", &["Eng"], Some("_a2"))).await;
    assert!(again.is_ok());
    // Without an assertion ID (OIDC, LDAP) nothing goes to the replay cache.
    finish(&app, &c, ident("s1", "dev@w.example", &[], None)).await.unwrap();
    assert_eq!(app.count("saml_replay_cache").await, 2);
    assert_eq!(app.count("sessions").await, 4);
}

#[tokio::test]
async fn what_must_change_goes_through_admission() {
    let app = TestApp::start().await;
    let o = app.owner("swc").await;
    let c = connection(
        &app,
        &o,
        json!({"groupMappings": {"Admins": ["role:admin"]}, "defaultRole": "viewer"}),
    )
    .await;
    let uid = finish(&app, &c, ident("s1", "a@w.example", &["Admins"], Some("_1")))
        .await
        .unwrap()
        .admitted
        .user
        .id;
    assert_eq!(role_of(&app, &o, &uid).await.as_deref(), Some("admin"));
    // Same groups: the role stays.
    finish(&app, &c, ident("s1", "a@w.example", &["Admins"], Some("_2")))
        .await
        .unwrap();
    assert_eq!(role_of(&app, &o, &uid).await.as_deref(), Some("admin"));
    // Leaving the group demotes at the next sign-in.
    finish(&app, &c, ident("s1", "a@w.example", &[], Some("_3")))
        .await
        .unwrap();
    assert_eq!(role_of(&app, &o, &uid).await.as_deref(), Some("viewer"));
    // An owner is never changed by group mapping.
    sqlx::query("UPDATE memberships SET role = 'owner' WHERE user_id = $1")
        .bind(&uid)
        .execute(&app.db)
        .await
        .unwrap();
    finish(&app, &c, ident("s1", "a@w.example", &["Admins"], Some("_4")))
        .await
        .unwrap();
    assert_eq!(role_of(&app, &o, &uid).await.as_deref(), Some("owner"));
    // No longer a member: JIT makes the user one again, with the mapped role.
    portico_store::orgs::remove_member(&app.db, &o.org_id, &uid)
        .await
        .unwrap();
    finish(&app, &c, ident("s1", "a@w.example", &["Admins"], Some("_5")))
        .await
        .unwrap();
    assert_eq!(role_of(&app, &o, &uid).await.as_deref(), Some("admin"));
    assert_eq!(app.count("sessions").await, 5);

    // A disabled user is refused: the assertion is recorded, no session, no success event, and
    // the identity is not touched.
    portico_store::users::set_status(&app.db, &uid, portico_core::account::UserStatus::Disabled)
        .await
        .unwrap();
    let last_login = "SELECT last_login_at FROM external_identities";
    let before: DateTime<Utc> = scalar(&app, last_login).await;
    let r = finish(&app, &c, ident("s1", "a@w.example", &["Admins"], Some("_6"))).await;
    assert_eq!(code_of(r), "USER_DISABLED");
    assert_eq!(scalar::<DateTime<Utc>>(&app, last_login).await, before);
    assert_eq!(app.count("sessions").await, 5);
    assert_eq!(app.count("audit_events WHERE action = 'sign_in.sso'").await, 5);
    assert_eq!(app.count("saml_replay_cache WHERE assertion_id = '_6'").await, 1);
    let r = finish(&app, &c, ident("s1", "a@w.example", &["Admins"], Some("_6"))).await;
    assert_eq!(code_of(r), "ASSERTION_REPLAYED");
    portico_store::users::set_status(&app.db, &uid, portico_core::account::UserStatus::Active)
        .await
        .unwrap();

    // JIT off: a known identity that is no longer a member is refused.
    let r = app
        .call(
            Method::PATCH,
            &format!("/v1/sso/connections/{}", c.id),
            Some(&o.key),
            Some(json!({"jitProvisioning": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = portico_store::connections::by_id(&app.db, &c.id, None)
        .await
        .unwrap()
        .unwrap();
    portico_store::orgs::remove_member(&app.db, &o.org_id, &uid)
        .await
        .unwrap();
    let r = finish(&app, &c, ident("s1", "a@w.example", &["Admins"], Some("_7"))).await;
    assert_eq!(code_of(r), "NOT_PROVISIONED");
    assert_eq!(role_of(&app, &o, &uid).await, None);
    assert_eq!(app.count("sessions").await, 5);
}

#[tokio::test]
async fn a_sign_in_does_not_queue_behind_another_touching_the_same_identity() {
    let app = TestApp::start().await;
    let o = app.owner("swl").await;
    let c = connection(&app, &o, json!({})).await;
    finish(&app, &c, ident("s1", "a@w.example", &[], Some("_l1")))
        .await
        .unwrap();
    let last_login = "SELECT last_login_at FROM external_identities";
    let before: DateTime<Utc> = scalar(&app, last_login).await;
    // Another sign-in of the same identity holds the row until it commits.
    let mut other = app.db.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM external_identities FOR UPDATE")
        .execute(&mut *other)
        .await
        .unwrap();
    let done = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        finish(&app, &c, ident("s1", "a@w.example", &[], Some("_l2"))),
    )
    .await
    .expect("not blocked by the other sign-in's row lock")
    .unwrap();
    assert!(!done.admitted.provisioned);
    other.rollback().await.unwrap();
    assert_eq!(
        scalar::<DateTime<Utc>>(&app, last_login).await,
        before,
        "that sign-in's touch stands"
    );
    assert_eq!(app.count("sessions").await, 2);
    // Without the other, the identity is touched again.
    finish(&app, &c, ident("s1", "a@w.example", &[], Some("_l3")))
        .await
        .unwrap();
    assert!(scalar::<DateTime<Utc>>(&app, last_login).await > before);
}

#[tokio::test]
async fn refused_before_any_lookup_still_records_the_assertion() {
    let app = TestApp::start().await;
    let o = app.owner("swr").await;
    let c = connection(&app, &o, json!({})).await;
    let mut id = ident("s1", "a@w.example", &[], Some("_u1"));
    id.email_verified = Some(false);
    let r = finish(&app, &c, id.clone()).await;
    assert_eq!(code_of(r), "EMAIL_NOT_VERIFIED");
    assert_eq!(app.count("saml_replay_cache WHERE assertion_id = '_u1'").await, 1);
    let r = finish(&app, &c, id).await;
    assert_eq!(code_of(r), "ASSERTION_REPLAYED");
    let r = finish(&app, &c, ident("s2", "a@elsewhere.example", &[], Some("_u2"))).await;
    assert_eq!(code_of(r), "EMAIL_DOMAIN_NOT_ALLOWED");
    assert_eq!(app.count("saml_replay_cache").await, 2);
    assert_eq!(app.count("sessions").await, 0);
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("external_identities").await, 0);
    assert_eq!(
        scalar::<i64>(&app, "SELECT count(*) FROM audit_events WHERE action = 'sign_in.sso'").await,
        0
    );
}

#[tokio::test]
async fn saml_login_transaction_is_single_use_even_when_completion_fails() {
    let idp = saml::idp().await;
    let app = TestApp::start().await;
    let o = app.owner("swt").await;
    let body = json!({
        "name": "T", "protocol": "saml", "idpEntityId": idp.entity_id,
        "idpSsoUrl": format!("{}/sso/redirect", idp.base), "idpCertificate": idp.cert(),
        "domains": ["example.com"], "jitProvisioning": true,
    });
    let conn = app
        .call(Method::POST, "/v1/sso/connections", Some(&o.key), Some(body))
        .await;
    assert_eq!(conn.status, 201, "{}", conn.text);
    let sp = conn.body["spEntityId"].as_str().unwrap().to_owned();
    let login = "/api/auth/sso/swt/login?email=alice%40example.com";

    // A response that fails validation consumes the transaction: the valid one is refused after it.
    let b = browser();
    let form = saml::to_idp_form(&app, &b, login).await;
    assert_eq!(app.count("login_transactions").await, 1);
    let forged = idp
        .fixture("tampered", Some(&form.request_id()), &sp, &form.action)
        .await;
    let r = saml::post(&b, &form.action, &forged, &form.relay_state).await;
    assert_eq!(error_of(&r), "INVALID_ASSERTION");
    assert_eq!(app.count("login_transactions").await, 0);
    let r = saml::post(&b, &form.action, &form.saml_response, &form.relay_state).await;
    assert_eq!(error_of(&r), "INVALID_STATE");
    assert_eq!(
        app.count("saml_replay_cache").await,
        0,
        "never validated, never recorded"
    );

    // Signed in once (first sign-in), then again (returning): two sessions that work.
    for _ in 0..2 {
        let b = browser();
        let form = saml::to_idp_form(&app, &b, login).await;
        let r = saml::post(&b, &form.action, &form.saml_response, &form.relay_state).await;
        let cookie = session_cookie(&r).expect("session cookie");
        assert_eq!(app.me_with_cookie(&cookie).await.status, 200);
    }
    assert_eq!(sessions_by_method(&app, "saml").await, 2);

    // Refused after validation (disabled user): the transaction is gone all the same, the
    // assertion is recorded, the failure audited, and the same POST again finds no transaction.
    let uid: String = scalar(&app, "SELECT id FROM users WHERE email = 'alice@example.com'").await;
    portico_store::users::set_status(&app.db, &uid, portico_core::account::UserStatus::Disabled)
        .await
        .unwrap();
    let b = browser();
    let form = saml::to_idp_form(&app, &b, login).await;
    let r = saml::post(&b, &form.action, &form.saml_response, &form.relay_state).await;
    assert_eq!(error_of(&r), "USER_DISABLED");
    assert!(session_cookie(&r).is_none());
    assert_eq!(app.count("login_transactions").await, 0);
    assert_eq!(app.count("saml_replay_cache").await, 3);
    let r = saml::post(&b, &form.action, &form.saml_response, &form.relay_state).await;
    assert_eq!(error_of(&r), "INVALID_STATE");
    assert_eq!(sessions_by_method(&app, "saml").await, 2);
    let failures: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT reason, connection_id FROM audit_events WHERE action = 'sign_in.sso' AND outcome = 'failure' ORDER BY id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let codes: Vec<&str> = failures.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        codes,
        vec!["INVALID_ASSERTION", "INVALID_STATE", "USER_DISABLED", "INVALID_STATE"]
    );
    let conn_id = conn.body["id"].as_str().unwrap();
    assert_eq!(failures[2].1.as_deref(), Some(conn_id));
    assert_eq!(
        app.count("audit_events WHERE action = 'sign_in.sso' AND outcome = 'success'")
            .await,
        2
    );
}
