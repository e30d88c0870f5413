//! Against the hostile provider of `fixture.rs`: every forged ID token is refused, and the
//! honest token from the same fixture is accepted (so the fixture can pass).

use std::time::{Duration, Instant};

use chrono::Utc;
use portico_core::idp::{CompleteContext, ExternalIdentity, IdentityProvider, IdpError, LoginInput, PendingLogin};
use portico_http::OutboundPolicy;
use portico_oidc::{OidcProvider, OidcRuntime};
use serde_json::{json, Value};

use crate::fixture::{sign, Hostile, Signer, TokenReply, CLIENT_ID, KID};
use crate::support::*;

const SECRET: &str = "hostile-secret";

struct Setup {
    fx: Hostile,
    runtime: OidcRuntime,
    provider: OidcProvider,
}

async fn setup() -> Setup {
    setup_with(lab_policy(), "").await
}

async fn setup_with(policy: OutboundPolicy, issuer_suffix: &str) -> Setup {
    let fx = Hostile::start().await;
    let runtime = OidcRuntime::new(policy);
    let issuer = format!("{}{issuer_suffix}", fx.base);
    let provider = OidcProvider::new(settings(&issuer, CLIENT_ID, SECRET, None), runtime.clone());
    Setup { fx, runtime, provider }
}

fn now() -> i64 {
    Utc::now().timestamp()
}

fn honest_claims(fx: &Hostile, nonce: &str) -> Value {
    json!({
        "iss": fx.base,
        "aud": CLIENT_ID,
        "sub": "user-123",
        "exp": now() + 300,
        "iat": now(),
        "nonce": nonce,
        "email": "user@example.com",
        "email_verified": true,
        "name": "User Example",
        "groups": ["admins", "staff"],
        "amr": ["pwd", "otp"],
    })
}

fn unique_code() -> String {
    format!("code-{}", new_state())
}

/// One login whose ID token is `edit(honest claims)` signed by `signer`; the authorization
/// response carries `iss` = the fixture's issuer.
async fn attempt(s: &Setup, edit: impl FnOnce(&mut Value), signer: Signer<'_>) -> Result<ExternalIdentity, IdpError> {
    let (_, pending) = begin(&s.provider, &login_ctx(None)).await;
    let mut claims = honest_claims(&s.fx, pending.nonce.as_deref().unwrap());
    edit(&mut claims);
    let code = unique_code();
    s.fx.on_code(&code, TokenReply::IdToken(Some(sign(&claims, signer))));
    s.provider
        .complete_login(&complete_ctx(&pending), code_input(&code, Some(&s.fx.base)))
        .await
}

fn refused(result: Result<ExternalIdentity, IdpError>, fragment: &str) -> String {
    match result {
        Err(IdpError::InvalidAssertion(m)) => {
            assert!(m.contains(fragment), "expected `{fragment}` in: {m}");
            assert_eq!(IdpError::InvalidAssertion(m.clone()).code(), "INVALID_ASSERTION");
            m
        }
        other => panic!("expected InvalidAssertion containing `{fragment}`, got {other:?}"),
    }
}

#[tokio::test]
async fn the_honest_token_is_accepted() {
    let s = setup().await;
    let id = attempt(&s, |_| {}, Signer::Issuer).await.unwrap();
    assert_eq!(id.issuer, s.fx.base);
    assert_eq!(id.subject, "user-123");
    assert_eq!(id.email.as_deref(), Some("user@example.com"));
    assert_eq!(id.email_verified, Some(true));
    assert_eq!(id.name.as_deref(), Some("User Example"));
    assert_eq!(id.groups, ["admins", "staff"]);
    assert_eq!(id.amr, ["pwd", "otp"]);
    assert!(id.mfa);
    assert_eq!(id.raw["groups"], json!(["admins", "staff"]));
    assert_eq!(s.fx.hits("/userinfo"), 0, "complete ID token: no userinfo call");
    // discovery lists client_secret_post first, but basic is preferred
    let form = s.fx.state.lock().unwrap().last_token_form.clone().unwrap();
    assert!(
        !form.contains("client_secret"),
        "basic auth keeps the secret out of the body: {form}"
    );
    assert!(form.contains("code_verifier="), "{form}");
}

#[tokio::test]
async fn client_authentication_follows_settings_then_discovery() {
    use portico_oidc::ClientAuth;
    let form_and_auth = |s: &Setup| {
        let st = s.fx.state.lock().unwrap();
        (st.last_token_form.clone().unwrap(), st.last_token_authorization.clone())
    };

    // Default: discovery lists post and basic; basic is preferred.
    let s = setup().await;
    attempt(&s, |_| {}, Signer::Issuer).await.unwrap();
    let (form, auth) = form_and_auth(&s);
    assert!(auth.is_some_and(|a| a.starts_with("Basic ")), "basic");
    assert!(!form.contains("client_secret="), "{form}");

    // Discovery lists only client_secret_post: post.
    let s = setup().await;
    s.fx.state.lock().unwrap().auth_methods = Some(json!(["client_secret_post"]));
    attempt(&s, |_| {}, Signer::Issuer).await.unwrap();
    let (form, auth) = form_and_auth(&s);
    assert!(auth.is_none(), "{auth:?}");
    assert!(
        form.contains(&format!("client_id={CLIENT_ID}")) && form.contains(&format!("client_secret={SECRET}")),
        "{form}"
    );

    // Discovery silent: basic (RFC 8414 default).
    let s = setup().await;
    s.fx.state.lock().unwrap().auth_methods = Some(Value::Null);
    attempt(&s, |_| {}, Signer::Issuer).await.unwrap();
    assert!(form_and_auth(&s).1.is_some_and(|a| a.starts_with("Basic ")));

    // Settings override discovery.
    let mut s = setup().await;
    s.provider = OidcProvider::new(
        settings(&s.fx.base, CLIENT_ID, SECRET, Some(ClientAuth::Post)),
        s.runtime.clone(),
    );
    attempt(&s, |_| {}, Signer::Issuer).await.unwrap();
    let (form, auth) = form_and_auth(&s);
    assert!(auth.is_none() && form.contains("client_secret="), "{form}");

    // Only methods Portico cannot do: a configuration error, before anything is sent.
    let s = setup().await;
    s.fx.state.lock().unwrap().auth_methods = Some(json!(["private_key_jwt", "tls_client_auth"]));
    let err = s.provider.begin_login(&login_ctx(None)).await.unwrap_err();
    assert!(
        matches!(err, IdpError::Config(ref m) if m.contains("private_key_jwt")),
        "{err:?}"
    );
    assert_eq!(s.provider.check().await.first_failure().unwrap().name, "discovery");
}

#[tokio::test]
async fn alg_none_is_refused() {
    let s = setup().await;
    refused(attempt(&s, |_| {}, Signer::None).await, "alg `none`");
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_refused() {
    let s = setup().await;
    refused(attempt(&s, |_| {}, Signer::HmacWithPublicKey).await, "alg `HS256`");
}

#[tokio::test]
async fn a_signature_by_another_key_is_refused() {
    let s = setup().await;
    refused(
        attempt(&s, |_| {}, Signer::Attacker(KID)).await,
        "signature does not verify",
    );
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let s = setup().await;
    refused(
        attempt(&s, |c| c["aud"] = json!("someone-else"), Signer::Issuer).await,
        "audience",
    );
    refused(attempt(&s, |c| c["aud"] = json!([]), Signer::Issuer).await, "audience");
}

#[tokio::test]
async fn azp_rules() {
    let s = setup().await;
    refused(
        attempt(&s, |c| c["azp"] = json!("someone-else"), Signer::Issuer).await,
        "azp",
    );
    refused(
        attempt(&s, |c| c["aud"] = json!([CLIENT_ID, "someone-else"]), Signer::Issuer).await,
        "several audiences",
    );
    let id = attempt(
        &s,
        |c| {
            c["aud"] = json!([CLIENT_ID, "someone-else"]);
            c["azp"] = json!(CLIENT_ID);
        },
        Signer::Issuer,
    )
    .await
    .unwrap();
    assert_eq!(id.subject, "user-123");
}

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let s = setup().await;
    refused(
        attempt(&s, |c| c["iss"] = json!("https://attacker.example"), Signer::Issuer).await,
        "issuer",
    );
    // exact comparison: even a trailing slash is another issuer in the token
    let base = s.fx.base.clone();
    refused(
        attempt(&s, |c| c["iss"] = json!(format!("{base}/")), Signer::Issuer).await,
        "issuer",
    );
}

#[tokio::test]
async fn expiry_and_issue_time_allow_only_a_small_skew() {
    let s = setup().await;
    refused(
        attempt(&s, |c| c["exp"] = json!(now() - 90), Signer::Issuer).await,
        "expired",
    );
    refused(
        attempt(&s, |c| c["iat"] = json!(now() + 90), Signer::Issuer).await,
        "future",
    );
    // within the 60 s skew
    attempt(&s, |c| c["exp"] = json!(now() - 20), Signer::Issuer)
        .await
        .unwrap();
    attempt(&s, |c| c["iat"] = json!(now() + 20), Signer::Issuer)
        .await
        .unwrap();
}

#[tokio::test]
async fn nonce_must_be_the_pending_one() {
    let s = setup().await;
    refused(
        attempt(&s, |c| c["nonce"] = json!("replayed-nonce"), Signer::Issuer).await,
        "nonce",
    );
    refused(
        attempt(
            &s,
            |c| {
                c.as_object_mut().unwrap().remove("nonce");
            },
            Signer::Issuer,
        )
        .await,
        "nonce",
    );
}

#[tokio::test]
async fn unknown_kid_is_refused_after_one_rate_limited_refetch() {
    let s = setup().await;
    let m = refused(
        attempt(&s, |_| {}, Signer::Attacker("kid-not-in-jwks")).await,
        "kid-not-in-jwks",
    );
    assert!(m.contains("even after refetching"), "{m}");
    assert_eq!(s.fx.hits("/jwks"), 2, "fetched, then refetched once");
    assert_eq!(s.runtime.stats().jwks_refetches, 1);

    // Immediately again: no new refetch (at most one per issuer every 10 s).
    let m = refused(
        attempt(&s, |_| {}, Signer::Attacker("another-unknown-kid")).await,
        "another-unknown-kid",
    );
    assert!(m.contains("refetched less than"), "{m}");
    assert_eq!(s.fx.hits("/jwks"), 2);

    // Honest tokens keep working from the cache.
    attempt(&s, |_| {}, Signer::Issuer).await.unwrap();
    assert_eq!(s.fx.hits("/jwks"), 2);
    assert_eq!(s.fx.hits("/.well-known/openid-configuration"), 1, "discovery is cached");
}

#[tokio::test]
async fn sub_must_be_a_string() {
    let s = setup().await;
    refused(
        attempt(
            &s,
            |c| {
                c.as_object_mut().unwrap().remove("sub");
            },
            Signer::Issuer,
        )
        .await,
        "no `sub`",
    );
    refused(
        attempt(&s, |c| c["sub"] = json!(123), Signer::Issuer).await,
        "not a string",
    );
    refused(
        attempt(&s, |c| c["sub"] = json!({"id": "x"}), Signer::Issuer).await,
        "not a string",
    );
    refused(attempt(&s, |c| c["sub"] = json!(""), Signer::Issuer).await, "empty");
}

#[tokio::test]
async fn rfc9207_iss_mismatch_is_refused_before_the_token_request() {
    let s = setup().await;
    let (_, pending) = begin(&s.provider, &login_ctx(None)).await;
    let code = unique_code();
    let claims = honest_claims(&s.fx, pending.nonce.as_deref().unwrap());
    s.fx.on_code(&code, TokenReply::IdToken(Some(sign(&claims, Signer::Issuer))));
    let err = s
        .provider
        .complete_login(
            &complete_ctx(&pending),
            code_input(&code, Some("https://attacker.example")),
        )
        .await;
    refused(err, "RFC 9207");
    assert_eq!(s.fx.hits("/token"), 0, "the code never left");
    // No `iss` at all (e.g. an SDK callback that does not forward it) is accepted.
    let id = s
        .provider
        .complete_login(&complete_ctx(&pending), code_input(&code, None))
        .await
        .unwrap();
    assert_eq!(id.subject, "user-123");
}

#[tokio::test]
async fn a_token_response_without_id_token_is_refused() {
    let s = setup().await;
    let (_, pending) = begin(&s.provider, &login_ctx(None)).await;
    let code = unique_code();
    s.fx.on_code(&code, TokenReply::IdToken(None));
    refused(
        s.provider
            .complete_login(&complete_ctx(&pending), code_input(&code, None))
            .await,
        "no id_token",
    );
}

#[tokio::test]
async fn token_endpoint_errors_are_classified() {
    let s = setup().await;
    let (_, pending) = begin(&s.provider, &login_ctx(None)).await;
    let code = unique_code();
    s.fx.on_code(
        &code,
        TokenReply::Error(
            400,
            json!({"error": "invalid_grant", "error_description": "code expired"}),
        ),
    );
    let err = s
        .provider
        .complete_login(&complete_ctx(&pending), code_input(&code, None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdpError::TokenExchange(ref m) if m.contains("invalid_grant") && m.contains("code expired")),
        "{err:?}"
    );
    assert!(!err.to_string().contains(&code));
    assert!(!err.to_string().contains(SECRET));

    s.fx.on_code(
        &code,
        TokenReply::Error(503, json!({"error": "temporarily_unavailable"})),
    );
    let err = s
        .provider
        .complete_login(&complete_ctx(&pending), code_input(&code, None))
        .await
        .unwrap_err();
    assert!(matches!(err, IdpError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn userinfo_fills_missing_claims_and_must_match_sub() {
    let s = setup().await;
    let lean = |c: &mut Value| {
        let o = c.as_object_mut().unwrap();
        o.remove("email");
        o.remove("email_verified");
        o.remove("name");
    };
    s.fx.state.lock().unwrap().userinfo = Some(json!({
        "sub": "user-123", "email": "from-userinfo@example.com", "email_verified": false, "name": "Info Name", "locale": "de"
    }));
    let id = attempt(&s, lean, Signer::Issuer).await.unwrap();
    assert_eq!(id.email.as_deref(), Some("from-userinfo@example.com"));
    assert_eq!(id.email_verified, Some(false));
    assert_eq!(id.name.as_deref(), Some("Info Name"));
    assert_eq!(id.raw["locale"], "de", "userinfo claims are added to raw");
    assert_eq!(s.fx.hits("/userinfo"), 1);

    s.fx.state.lock().unwrap().userinfo = Some(json!({ "sub": "someone-else", "email": "victim@example.com" }));
    refused(attempt(&s, lean, Signer::Issuer).await, "userinfo `sub`");

    // No email_verified anywhere: None, not false or true.
    s.fx.state.lock().unwrap().userinfo = Some(json!({ "sub": "user-123", "email": "x@example.com", "name": "X" }));
    let id = attempt(&s, lean, Signer::Issuer).await.unwrap();
    assert_eq!(id.email_verified, None);
}

#[tokio::test]
async fn issuer_mismatch_in_a_trailing_path() {
    // Configured `{base}/tenant-a`, the document there names `{base}`.
    let s = setup_with(lab_policy(), "/tenant-a").await;
    let report = s.provider.check().await;
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["discovery", "issuer"], "{report:?}");
    assert!(report.checks[0].ok && !report.checks[1].ok);
    assert!(report.checks[1].message.contains("/tenant-a"), "{report:?}");
    let err = s.provider.begin_login(&login_ctx(None)).await.unwrap_err();
    assert!(
        matches!(err, IdpError::Metadata(ref m) if m.contains("issuer mismatch")),
        "{err:?}"
    );
    assert_eq!(s.fx.hits("/jwks"), 0);
}

#[tokio::test]
async fn check_reports_each_step() {
    let s = setup().await;
    let report = s.provider.check().await;
    assert!(report.success(), "{report:?}");
    assert!(report.checks[2].message.contains(&format!("{KID}/RS256")), "{report:?}");

    // A JWKS with nothing usable: symmetric and encryption keys only.
    s.fx.state.lock().unwrap().jwks = json!({ "keys": [
        { "kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "kid": "sym" },
        { "kty": "RSA", "use": "enc", "kid": "enc", "n": "sXch", "e": "AQAB" },
    ]});
    let report = s.provider.check().await;
    assert!(!report.success());
    assert_eq!(report.first_failure().unwrap().name, "jwks");
    assert!(
        report.first_failure().unwrap().message.contains("none can verify"),
        "{report:?}"
    );
}

#[tokio::test]
async fn private_targets_are_refused_by_default() {
    let s = setup_with(
        OutboundPolicy {
            allow_insecure_http: true,
            ..OutboundPolicy::default()
        },
        "",
    )
    .await;
    let err = s.provider.begin_login(&login_ctx(None)).await.unwrap_err();
    assert!(
        matches!(err, IdpError::Unavailable(ref m) if m.contains("private networks are not allowed")),
        "{err:?}"
    );
    let report = s.provider.check().await;
    assert_eq!(report.first_failure().unwrap().name, "discovery");
    assert_eq!(s.fx.hits("/.well-known/openid-configuration"), 0, "nothing was sent");

    let s = setup_with(
        OutboundPolicy {
            allow_private_networks: true,
            ..OutboundPolicy::default()
        },
        "",
    )
    .await;
    let err = s.provider.begin_login(&login_ctx(None)).await.unwrap_err();
    assert!(
        matches!(err, IdpError::Unavailable(ref m) if m.contains("https")),
        "{err:?}"
    );
}

#[tokio::test]
async fn oversized_answers_are_invalid_and_slow_ones_unavailable() {
    let s = setup_with(lab_policy(), "/huge").await;
    let err = s.provider.begin_login(&login_ctx(None)).await.unwrap_err();
    assert!(
        matches!(err, IdpError::ResponseInvalid(ref m) if m.contains("limit")),
        "{err:?}"
    );
    assert_eq!(err.code(), "IDP_RESPONSE_INVALID");

    let policy = OutboundPolicy {
        timeout: Duration::from_millis(500),
        ..lab_policy()
    };
    let s = setup_with(policy, "/slow").await;
    let t0 = Instant::now();
    let err = s.provider.begin_login(&login_ctx(None)).await.unwrap_err();
    assert!(
        matches!(err, IdpError::Unavailable(ref m) if m.contains("within")),
        "{err:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn completion_needs_a_transaction() {
    let s = setup().await;
    let no_pending = CompleteContext {
        pending: None,
        now: Utc::now(),
    };
    let err = s
        .provider
        .complete_login(&no_pending, code_input("c", None))
        .await
        .unwrap_err();
    assert!(matches!(err, IdpError::Unsupported(_)), "{err:?}");
    let (_, pending) = begin(&s.provider, &login_ctx(None)).await;
    let err = s
        .provider
        .complete_login(
            &complete_ctx(&pending),
            LoginInput::SamlResponse {
                saml_response: String::new(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, IdpError::Unsupported(_)), "{err:?}");
}

#[tokio::test]
async fn an_oversized_jwks_or_a_non_json_discovery_is_an_invalid_answer() {
    // 2 MiB of keys at login completion: the IdP's deterministic fault, not unavailability.
    let s = setup().await;
    s.fx.state.lock().unwrap().jwks = json!({ "keys": [], "padding": "k".repeat(2 << 20) });
    let err = attempt(&s, |_| {}, Signer::Issuer).await.unwrap_err();
    assert!(
        matches!(err, IdpError::ResponseInvalid(ref m) if m.contains("limit")),
        "{err:?}"
    );
    assert_eq!(err.code(), "IDP_RESPONSE_INVALID");
    let report = s.provider.check().await;
    assert_eq!(report.first_failure().unwrap().name, "jwks", "{report:?}");

    // An HTML page where the discovery document should be.
    let s = setup_with(lab_policy(), "/html").await;
    let err = s.provider.begin_login(&login_ctx(None)).await.unwrap_err();
    assert!(
        matches!(err, IdpError::ResponseInvalid(ref m) if m.contains("discovery")),
        "{err:?}"
    );
    assert_eq!(err.code(), "IDP_RESPONSE_INVALID");
}

#[tokio::test]
async fn the_test_reports_discovery_facts() {
    let s = setup().await;
    s.fx.state.lock().unwrap().iss_advertised = true;
    let report = s.provider.check().await;
    assert!(report.success(), "{report:?}");
    assert_eq!(report.facts["issParameterSupported"], json!(true));
    assert_eq!(report.facts["issuer"], json!(s.fx.base));
    assert_eq!(
        report.facts["authorizationEndpoint"],
        json!(format!("{}/authorize", s.fx.base))
    );
    assert_eq!(report.facts["tokenEndpoint"], json!(format!("{}/token", s.fx.base)));
    assert_eq!(report.facts["jwksUri"], json!(format!("{}/jwks", s.fx.base)));
}

#[tokio::test]
async fn iss_is_required_when_advertised_for_logins_answered_at_portico() {
    let s = setup().await;
    s.fx.state.lock().unwrap().iss_advertised = true;
    let (_, pending) = begin(&s.provider, &login_ctx(None)).await;
    let claims = honest_claims(&s.fx, pending.nonce.as_deref().unwrap());
    // A browser login (the whole response reached Portico) without `iss`: refused, no exchange.
    let browser = PendingLogin {
        iss_expected: true,
        ..pending.clone()
    };
    let code = unique_code();
    s.fx.on_code(&code, TokenReply::IdToken(Some(sign(&claims, Signer::Issuer))));
    let err = s
        .provider
        .complete_login(&complete_ctx(&browser), code_input(&code, None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdpError::InvalidAssertion(ref m) if m.contains("no `iss`")),
        "{err:?}"
    );
    assert_eq!(s.fx.hits("/token"), 0, "the code went nowhere");
    // An SDK login's server-to-server callback cannot carry `iss`: accepted without it.
    let id = s
        .provider
        .complete_login(&complete_ctx(&pending), code_input(&code, None))
        .await
        .unwrap();
    assert_eq!(id.subject, "user-123");
}
