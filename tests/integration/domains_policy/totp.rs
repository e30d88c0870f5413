//! TOTP: enrolment from a session, wrong and replayed codes, single-use recovery codes, disabling,
//! key rotation of the sealed secret, and throttling of wrong second factors.

use portico_server::services::totp;
use reqwest::Method;
use serde_json::json;

use super::{
    code, code_at_step, confirm_totp, enable_totp, password_sign_in, recovery_codes, session_token, with_bearer,
};
use crate::support::{assert_envelope_error, Resp, TestApp};

/// `DELETE /api/user/mfa/totp` with `code`, as the user of `session`.
async fn disable_totp(app: &TestApp, session: &str, code: &str) -> Resp {
    with_bearer(
        app,
        Method::DELETE,
        "/api/user/mfa/totp",
        session,
        Some(json!({ "code": code })),
    )
    .await
}

#[tokio::test]
async fn totp_enrolment_wrong_and_replayed_codes_and_single_use_recovery_codes() {
    let app = TestApp::start().await;
    let o = app.owner("totp").await;
    let s = session_token(&app, &o.email, None).await;
    let r = with_bearer(&app, Method::GET, "/api/user/mfa/totp", &s, None).await;
    assert_eq!(r.body["data"]["enabled"], false, "{}", r.text);
    // Managed from a session only.
    assert_envelope_error(
        &app.call(Method::POST, "/api/user/mfa/totp", Some(&o.key), None).await,
        403,
        "FORBIDDEN",
    );

    let r = with_bearer(&app, Method::POST, "/api/user/mfa/totp", &s, None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.body["data"]["secret"].as_str().unwrap().to_owned();
    let uri = r.body["data"]["otpauthUri"].as_str().unwrap();
    assert_eq!(uri, format!("otpauth://totp/Portico:owner%40totp.example?secret={secret}&issuer=Portico&algorithm=SHA1&digits=6&period=30"));
    let stored: String = sqlx::query_scalar("SELECT totp_secret FROM users WHERE id = $1")
        .bind(&o.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(stored.starts_with("v1:") && !stored.contains(&secret), "sealed at rest");
    // Pending is not enforced yet.
    session_token(&app, &o.email, None).await;

    // A wrong first code does not confirm.
    let now = code(&secret, 0);
    let wrong = (0..1_000_000u32)
        .map(|n| format!("{n:06}"))
        .find(|c| *c != now && *c != code(&secret, -1) && *c != code(&secret, 1))
        .unwrap();
    let r = confirm_totp(&app, &s, &wrong).await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    let step = portico_core::totp::current_step();
    let confirm_code = code_at_step(&secret, step);
    let r = confirm_totp(&app, &s, &confirm_code).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let recovery = recovery_codes(&r);
    assert_eq!(recovery.len(), 10);
    let hashes: Vec<Vec<u8>> = sqlx::query_scalar("SELECT code_hash FROM mfa_recovery_codes WHERE user_id = $1")
        .bind(&o.user_id)
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 10);
    assert!(hashes.iter().all(|h| h.len() == 32), "stored as digests");

    // Now required at sign-in: missing, wrong, replayed → MFA_REQUIRED and no session.
    let sessions_before = app.count("sessions").await;
    assert_envelope_error(&password_sign_in(&app, &o.email, None).await, 403, "MFA_REQUIRED");
    assert_envelope_error(
        &password_sign_in(&app, &o.email, Some(&wrong)).await,
        403,
        "MFA_REQUIRED",
    );
    assert_envelope_error(
        &password_sign_in(&app, &o.email, Some(&confirm_code)).await,
        403,
        "MFA_REQUIRED",
    );
    assert_eq!(app.count("sessions").await, sessions_before);
    // The next step's code works once (the skew window), and the session has MFA.
    let next = code_at_step(&secret, step + 1);
    let r = password_sign_in(&app, &o.email, Some(&next)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["session"]["mfa"], true);
    let me = with_bearer(
        &app,
        Method::GET,
        "/api/user/me",
        r.body["data"]["token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(me.body["data"]["authentication"]["mfa"], true);
    assert_envelope_error(
        &password_sign_in(&app, &o.email, Some(&next)).await,
        403,
        "MFA_REQUIRED",
    );
    // A recovery code works once, in any case and with or without dashes.
    let r = password_sign_in(&app, &o.email, Some(&recovery[0].to_uppercase().replace('-', ""))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["session"]["mfa"], true);
    assert_envelope_error(
        &password_sign_in(&app, &o.email, Some(&recovery[0])).await,
        403,
        "MFA_REQUIRED",
    );
    let used: i64 = sqlx::query_scalar("SELECT count(*) FROM mfa_recovery_codes WHERE used_at IS NOT NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(used, 1);
    let r = with_bearer(&app, Method::GET, "/api/user/mfa/totp", &s, None).await;
    assert_eq!(
        r.body["data"],
        json!({"enabled": true, "pending": false, "enabledAt": r.body["data"]["enabledAt"], "recoveryCodesLeft": 9})
    );
    let reasons: Vec<String> =
        sqlx::query_scalar("SELECT reason FROM audit_events WHERE action = 'sign_in.password' AND outcome = 'failure'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    for reason in ["mfa_required", "mfa_invalid", "mfa_replayed"] {
        assert!(reasons.iter().any(|r| r == reason), "{reason} not audited: {reasons:?}");
    }

    // Enrolling again while on is refused; disabling needs a valid second factor.
    assert_envelope_error(
        &with_bearer(&app, Method::POST, "/api/user/mfa/totp", &s, None).await,
        409,
        "CONFLICT",
    );
    let r = disable_totp(&app, &s, &recovery[0]).await;
    assert_envelope_error(&r, 400, "VALIDATION_ERROR");
    let r = disable_totp(&app, &s, &recovery[1]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (secret_col, left): (Option<String>, i64) =
        sqlx::query_as("SELECT totp_secret, (SELECT count(*) FROM mfa_recovery_codes) FROM users WHERE id = $1")
            .bind(&o.user_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((secret_col, left), (None, 0));
    let r = password_sign_in(&app, &o.email, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["session"]["mfa"], false);

    // The sealed column is in the key-rotation registry, and rotation reads it.
    with_bearer(&app, Method::POST, "/api/user/mfa/totp", &s, None).await;
    assert!(portico_store::sealed::SEALED_COLUMNS.contains(&("users", "totp_secret")));
    let mut tx = app.db.begin().await.unwrap();
    let rows = portico_store::sealed::lock_all(&mut *tx, "users", "totp_secret")
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, o.user_id);
    drop(tx);
    assert_eq!(
        portico_server::cli::keys::rotate(&app.db, &app.state.secrets)
            .await
            .unwrap(),
        0,
        "already sealed with the current key"
    );
}

#[tokio::test]
async fn repeated_wrong_second_factors_are_throttled() {
    let app = TestApp::start().await;
    let o = app.owner("totp-throttle").await;
    let s = session_token(&app, &o.email, None).await;
    let (secret, _) = enable_totp(&app, &s).await;
    for _ in 0..totp::MAX_FAILURES {
        assert_envelope_error(
            &password_sign_in(&app, &o.email, Some("000000x")).await,
            403,
            "MFA_REQUIRED",
        );
    }
    let r = password_sign_in(&app, &o.email, Some(&code(&secret, 1))).await;
    assert_envelope_error(&r, 429, "RATE_LIMITED");
    assert!(r.headers.contains_key("retry-after"));
}
