//! Against the real OpenID Provider (panva's oidc-provider, `tests/peers/oidc-provider.sh`).

use std::time::{Duration, Instant};

use chrono::Utc;
use portico_core::idp::{IdentityProvider, IdpError};
use portico_http::OutboundPolicy;
use portico_oidc::{ClientAuth, OidcProvider, OidcRuntime};

use crate::support::*;

const SECRET: &str = "test-secret";

fn provider(client_id: &str, auth: Option<ClientAuth>) -> OidcProvider {
    OidcProvider::new(settings(&peer().issuer, client_id, SECRET, auth), lab_runtime())
}

#[tokio::test]
async fn alice_signs_in_with_client_secret_basic_and_rs256() {
    let issuer = &peer().issuer;
    // client_auth None: chosen from discovery, which lists client_secret_basic first choice.
    let p = provider("test-client", None);
    let ctx = login_ctx(Some("alice@example.com"));
    let (url, pending) = begin(&p, &ctx).await;

    assert_eq!(url.as_str().split('?').next(), Some(format!("{issuer}/auth").as_str()));
    assert_eq!(query(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(query(&url, "client_id").as_deref(), Some("test-client"));
    assert_eq!(query(&url, "state").as_deref(), Some(ctx.state.as_str()));
    assert_eq!(query(&url, "redirect_uri").as_deref(), Some(ctx.redirect_uri.as_str()));
    assert_eq!(query(&url, "login_hint").as_deref(), Some("alice@example.com"));
    assert_eq!(query(&url, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query(&url, "scope").as_deref(), Some("openid email profile"));
    assert_eq!(query(&url, "nonce"), pending.nonce);
    assert!(
        pending.nonce.as_ref().is_some_and(|n| n.len() >= 22),
        "high-entropy nonce"
    );
    let verifier = pending.pkce_verifier.clone().expect("PKCE verifier kept");
    assert!(verifier.len() >= 43);
    assert!(
        query(&url, "code_challenge").is_some_and(|c| c != verifier),
        "S256, not plain"
    );
    assert_eq!(pending.redirect_uri, ctx.redirect_uri);

    let cb = browse(&url, &ctx.redirect_uri, "alice", "alice-password").await;
    assert_eq!(cb.state.as_deref(), Some(ctx.state.as_str()));
    assert_eq!(
        cb.iss.as_deref(),
        Some(issuer.as_str()),
        "oidc-provider sends RFC 9207 iss"
    );

    let before = Utc::now();
    let id = p
        .complete_login(&complete_ctx(&pending), code_input(&cb.code, cb.iss.as_deref()))
        .await
        .unwrap();
    assert_eq!(id.issuer, *issuer);
    assert_eq!(id.subject, "alice");
    assert_eq!(id.email.as_deref(), Some("alice@example.com"));
    assert_eq!(id.email_verified, Some(true));
    assert_eq!(id.name.as_deref(), Some("Alice Example"));
    assert_eq!(id.amr, vec!["pwd".to_owned()]);
    assert!(!id.mfa);
    let exp = id.expires_at.expect("expires_at = exp");
    assert!(
        exp > before + chrono::Duration::minutes(30) && exp < before + chrono::Duration::hours(2),
        "{exp}"
    );
    let raw = id.raw.as_object().unwrap();
    assert_eq!(raw["sub"], "alice");
    assert_eq!(raw["aud"], "test-client");
    for token_field in ["access_token", "id_token", "refresh_token", "code"] {
        assert!(!raw.contains_key(token_field), "raw has no {token_field}");
    }
    assert!(
        !id.raw.to_string().contains(&cb.code),
        "the code is nowhere in the identity"
    );
}

#[tokio::test]
async fn alice_signs_in_with_client_secret_post_and_es256() {
    let p = provider("test-client-es256", Some(ClientAuth::Post));
    let id = login(&p, "alice").await.unwrap();
    assert_eq!(id.subject, "alice");
    assert_eq!(id.email.as_deref(), Some("alice@example.com"));
    assert_eq!(id.email_verified, Some(true));
    assert_eq!(id.name.as_deref(), Some("Alice Example"));
}

#[tokio::test]
async fn carol_has_mfa() {
    // test-client-post: client_secret_post with RS256.
    let p = provider("test-client-post", Some(ClientAuth::Post));
    let id = login(&p, "carol").await.unwrap();
    assert_eq!(id.subject, "carol");
    assert_eq!(id.email.as_deref(), Some("carol@example.com"));
    assert_eq!(id.email_verified, Some(true));
    assert_eq!(id.amr, vec!["pwd".to_owned(), "mfa".to_owned()]);
    assert!(id.mfa);
}

#[tokio::test]
async fn bob_email_is_not_verified() {
    let p = provider("test-client", None);
    let id = login(&p, "bob").await.unwrap();
    assert_eq!(id.subject, "bob");
    assert_eq!(id.email.as_deref(), Some("bob@example.com"));
    assert_eq!(id.email_verified, Some(false));
    assert!(!id.mfa);
}

#[tokio::test]
async fn wrong_client_secret_is_a_token_exchange_failure() {
    let wrong = "not-the-secret-4711";
    let p = OidcProvider::new(settings(&peer().issuer, "test-client", wrong, None), lab_runtime());
    let ctx = login_ctx(None);
    let (url, pending) = begin(&p, &ctx).await;
    let cb = browse(&url, &ctx.redirect_uri, "alice", "alice-password").await;
    let err = p
        .complete_login(&complete_ctx(&pending), code_input(&cb.code, cb.iss.as_deref()))
        .await
        .unwrap_err();
    assert!(matches!(err, IdpError::TokenExchange(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("invalid_client"), "{msg}");
    assert!(
        !msg.contains(wrong) && !msg.contains(&cb.code),
        "no secret or code in: {msg}"
    );
}

#[tokio::test]
async fn a_code_is_redeemed_once() {
    let p = provider("test-client", None);
    let ctx = login_ctx(None);
    let (url, pending) = begin(&p, &ctx).await;
    let cb = browse(&url, &ctx.redirect_uri, "alice", "alice-password").await;
    p.complete_login(&complete_ctx(&pending), code_input(&cb.code, cb.iss.as_deref()))
        .await
        .unwrap();
    let err = p
        .complete_login(&complete_ctx(&pending), code_input(&cb.code, cb.iss.as_deref()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdpError::TokenExchange(ref m) if m.contains("invalid_grant")),
        "{err:?}"
    );
    assert!(!err.to_string().contains(&cb.code));
}

#[tokio::test]
async fn wrong_pkce_verifier_is_refused() {
    let p = provider("test-client", None);
    let ctx = login_ctx(None);
    let (url, mut pending) = begin(&p, &ctx).await;
    let cb = browse(&url, &ctx.redirect_uri, "alice", "alice-password").await;
    pending.pkce_verifier = Some("x".repeat(43));
    let err = p
        .complete_login(&complete_ctx(&pending), code_input(&cb.code, cb.iss.as_deref()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdpError::TokenExchange(ref m) if m.contains("invalid_grant")),
        "{err:?}"
    );
}

#[tokio::test]
async fn nonce_of_another_login_is_refused() {
    let p = provider("test-client", None);
    let ctx = login_ctx(None);
    let (url, mut pending) = begin(&p, &ctx).await;
    let cb = browse(&url, &ctx.redirect_uri, "alice", "alice-password").await;
    pending.nonce = Some("another-login-nonce".into());
    let err = p
        .complete_login(&complete_ctx(&pending), code_input(&cb.code, cb.iss.as_deref()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdpError::InvalidAssertion(ref m) if m.contains("nonce")),
        "{err:?}"
    );
}

#[tokio::test]
async fn rfc9207_iss_of_another_issuer_is_refused_before_the_code_is_used() {
    let p = provider("test-client", None);
    let ctx = login_ctx(None);
    let (url, pending) = begin(&p, &ctx).await;
    let cb = browse(&url, &ctx.redirect_uri, "alice", "alice-password").await;
    let err = p
        .complete_login(
            &complete_ctx(&pending),
            code_input(&cb.code, Some("https://attacker.example")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdpError::InvalidAssertion(ref m) if m.contains("RFC 9207")),
        "{err:?}"
    );
    // The code was not spent: the genuine response still completes.
    let id = p
        .complete_login(&complete_ctx(&pending), code_input(&cb.code, cb.iss.as_deref()))
        .await
        .unwrap();
    assert_eq!(id.subject, "alice");
}

#[tokio::test]
async fn check_passes_discovery_issuer_and_jwks() {
    for issuer in [peer().issuer.clone(), format!("{}/", peer().issuer)] {
        let p = OidcProvider::new(settings(&issuer, "test-client", SECRET, None), lab_runtime());
        let report = p.check().await;
        assert!(report.success(), "{issuer}: {report:?}");
        let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["discovery", "issuer", "jwks"]);
        assert!(
            report.checks[2].message.contains("rs256-") && report.checks[2].message.contains("es256-1/ES256"),
            "{:?}",
            report.checks[2]
        );
    }
}

#[tokio::test]
async fn issuer_mismatch_fails_check_and_login() {
    // Same server, another spelling of the issuer: discovery answers, its issuer differs.
    let port = url::Url::parse(&peer().issuer).unwrap().port().unwrap();
    let configured = format!("http://localhost:{port}");
    let p = OidcProvider::new(settings(&configured, "test-client", SECRET, None), lab_runtime());
    let report = p.check().await;
    assert!(!report.success());
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["discovery", "issuer"], "stops at the first failure: {report:?}");
    assert_eq!(report.first_failure().unwrap().name, "issuer");
    assert!(
        report.first_failure().unwrap().message.contains("issuer mismatch"),
        "{report:?}"
    );

    let err = p.begin_login(&login_ctx(None)).await.unwrap_err();
    assert!(
        matches!(err, IdpError::Metadata(ref m) if m.contains("issuer mismatch")),
        "{err:?}"
    );
    assert_eq!(err.code(), "IDP_METADATA_INVALID");
}

#[tokio::test]
async fn issuer_with_an_extra_path_fails_at_discovery() {
    let configured = format!("{}/tenant-a", peer().issuer);
    let p = OidcProvider::new(settings(&configured, "test-client", SECRET, None), lab_runtime());
    let report = p.check().await;
    assert_eq!(report.checks.len(), 1, "{report:?}");
    assert_eq!(report.first_failure().unwrap().name, "discovery");
    assert!(matches!(
        p.begin_login(&login_ctx(None)).await,
        Err(IdpError::Metadata(_))
    ));
}

#[tokio::test]
async fn provider_down_is_unavailable_within_the_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let policy = OutboundPolicy {
        timeout: Duration::from_secs(2),
        ..lab_policy()
    };
    let p = OidcProvider::new(
        settings(&format!("http://127.0.0.1:{port}"), "test-client", SECRET, None),
        OidcRuntime::new(policy),
    );
    let t0 = Instant::now();
    let err = p.begin_login(&login_ctx(None)).await.unwrap_err();
    assert!(matches!(err, IdpError::Unavailable(_)), "{err:?}");
    assert_eq!(err.code(), "IDP_UNAVAILABLE");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    let report = p.check().await;
    assert_eq!(report.checks.len(), 1);
    assert_eq!(report.first_failure().unwrap().name, "discovery");
}

#[tokio::test]
async fn live_key_rotation_costs_one_jwks_refetch() {
    let Some(dir) = peer().dir.clone() else {
        eprintln!("skipped: PORTICO_TEST_OIDC_DIR is not set, so the provider cannot be rotated");
        return;
    };
    let runtime = lab_runtime();
    let p = OidcProvider::new(settings(&peer().issuer, "test-client", SECRET, None), runtime.clone());
    login(&p, "alice").await.unwrap();
    let before = runtime.stats();
    assert_eq!(
        (before.discovery_fetches, before.jwks_fetches, before.jwks_refetches),
        (1, 1, 0)
    );

    let rotated = rotate(&dir);
    assert!(rotated.starts_with("rotated"), "{rotated}");

    let id = login(&p, "alice").await.unwrap();
    assert_eq!(id.subject, "alice");
    let after = runtime.stats();
    assert_eq!(after.discovery_fetches, 1, "discovery stayed cached");
    assert_eq!(after.jwks_refetches, 1, "one refetch for the new kid");
    assert_eq!(after.jwks_fetches, 2);

    // The refreshed JWKS is now cached: the next login costs nothing.
    login(&p, "alice").await.unwrap();
    assert_eq!(runtime.stats(), after);
}
