//! TOTP guesses are counted atomically. Attack: an attacker who knows the password fires many
//! sign-ins with guessed codes at once; each used to pass the "fewer than 10 failures" check
//! before any failure was written, so a burst got far more than 10 guesses per 5 minutes.

use portico_core::totp::{code_at, current_step, decode_secret};
use portico_server::services::totp::MAX_FAILURES;
use reqwest::Method;
use serde_json::json;

use super::{bearer, owner_session};
use crate::support::TestApp;

#[tokio::test]
async fn a_burst_of_concurrent_guesses_gets_at_most_ten_comparisons() {
    let app = TestApp::start_with(|s| s.rate_limit.sign_in_per_ip_per_minute = 0).await;
    let o = app.owner("totp-race").await;
    let (session, _) = owner_session(&app, &o).await;
    let r = bearer(&app, Method::POST, "/api/user/mfa/totp", &session, None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret_b32 = r.body["data"]["secret"].as_str().unwrap().to_owned();
    let secret = decode_secret(&secret_b32).unwrap();
    let r = bearer(
        &app,
        Method::POST,
        "/api/user/mfa/totp/confirm",
        &session,
        Some(json!({ "code": code_at(&secret, current_step()) })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let right = code_at(&secret, current_step() + 1);
    let guesses: Vec<String> = (0..30u32)
        .map(|i| format!("{:06}", (i * 7919 + 13) % 1_000_000))
        .filter(|g| *g != right && *g != code_at(&secret, current_step()) && *g != code_at(&secret, current_step() - 1))
        .take(16)
        .collect();
    let sessions_before = app.count("sessions").await;
    let tasks = guesses.into_iter().map(|g| {
        let http = app.http.clone();
        let url = format!("{}/api/auth/sign-in/password", app.base);
        let body = json!({ "email": o.email, "password": "owner-password-1", "totpCode": g });
        tokio::spawn(async move { http.post(url).json(&body).send().await.unwrap().status().as_u16() })
    });
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let refused_as_wrong = statuses.iter().filter(|s| **s == 403).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(refused_as_wrong + throttled, statuses.len(), "{statuses:?}");
    assert!(
        refused_as_wrong as i64 <= MAX_FAILURES,
        "{refused_as_wrong} guesses were compared: {statuses:?}"
    );
    let compared: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE outcome = 'failure' AND reason = 'mfa_invalid' AND actor_user_id = $1",
    )
    .bind(&o.user_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(compared <= MAX_FAILURES, "{compared} wrong codes compared");
    // Even the right code waits out the window now, and no session was created.
    let r = app
        .call(
            Method::POST,
            "/api/auth/sign-in/password",
            None,
            Some(json!({ "email": o.email, "password": "owner-password-1", "totpCode": right })),
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(app.count("sessions").await, sessions_before);
}
