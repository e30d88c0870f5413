//! `portico-ldap` against a real OpenLDAP `slapd` (tests/peers/ldap.sh): from the
//! `PORTICO_TEST_LDAP_*` variables `scripts/test` sets, or started once per process on free ports
//! (stopped when this process exits). Fake TCP servers stand in for dead and hostile directories.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use portico_core::idp::{
    CompleteContext, ExternalIdentity, IdentityProvider, IdpError, LoginContext, LoginInput, LoginStart,
};
use portico_ldap::{LdapPool, LdapProvider, LdapSettings, Transport};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::OnceCell;

/// The shared directory.
struct Peer {
    url: String,
    ldaps_url: String,
    ca: String,
    other_ca: String,
    users_dn: String,
    groups_dn: String,
    bind_dn: String,
    bind_password: String,
    unauth_bind_allowed: bool,
}

static PEER: OnceCell<Peer> = OnceCell::const_new();

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn read_env(vars: &HashMap<String, String>, k: &str) -> String {
    vars.get(k)
        .cloned()
        .unwrap_or_else(|| panic!("{k} missing from the LDAP peer's env"))
}

async fn peer() -> &'static Peer {
    PEER.get_or_init(|| async {
        let mut vars: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("PORTICO_TEST_LDAP_"))
            .collect();
        if !vars.contains_key("PORTICO_TEST_LDAP_URL") {
            let dir = std::env::temp_dir().join(format!("portico-ldap-crate-{}", std::process::id()));
            let out = tokio::process::Command::new("bash")
                .arg(repo_root().join("tests/peers/ldap.sh"))
                .arg("start")
                .arg(&dir)
                .env("LDAP_PORT", free_port().to_string())
                .env("LDAPS_PORT", free_port().to_string())
                .env("LDAP_ALLOW_UNAUTH_BIND", "1")
                .env("LDAP_WATCH_PID", std::process::id().to_string())
                .output()
                .await
                .expect("run ldap.sh");
            assert!(
                out.status.success(),
                "slapd failed to start: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let env = std::fs::read_to_string(dir.join("env")).expect("env file");
            vars = env
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        }
        let file = |k: &str| std::fs::read_to_string(read_env(&vars, k)).expect("CA file");
        Peer {
            url: read_env(&vars, "PORTICO_TEST_LDAP_URL"),
            ldaps_url: read_env(&vars, "PORTICO_TEST_LDAP_LDAPS_URL"),
            ca: file("PORTICO_TEST_LDAP_CA_FILE"),
            other_ca: file("PORTICO_TEST_LDAP_OTHER_CA_FILE"),
            users_dn: read_env(&vars, "PORTICO_TEST_LDAP_USERS_DN"),
            groups_dn: read_env(&vars, "PORTICO_TEST_LDAP_GROUPS_DN"),
            bind_dn: read_env(&vars, "PORTICO_TEST_LDAP_BIND_DN"),
            bind_password: read_env(&vars, "PORTICO_TEST_LDAP_BIND_PASSWORD"),
            unauth_bind_allowed: read_env(&vars, "PORTICO_TEST_LDAP_UNAUTH_BIND") == "allowed",
        }
    })
    .await
}

/// StartTLS on the plain URL with the peer's CA, group search on.
fn settings(p: &Peer) -> LdapSettings {
    let mut s = LdapSettings::new(
        &p.url,
        &p.bind_dn,
        SecretString::from(p.bind_password.clone()),
        &p.users_dn,
    );
    s.start_tls = true;
    s.ca_certificate_pem = Some(p.ca.clone());
    s.group_search_base = Some(p.groups_dn.clone());
    s.group_search_filter = "(|(member={{dn}})(memberUid={{username}}))".into();
    s.connect_timeout = Duration::from_secs(2);
    s.op_timeout = Duration::from_secs(2);
    s
}

fn provider(s: LdapSettings) -> LdapProvider {
    LdapProvider::new(s, LdapPool::new()).expect("provider")
}

async fn login(p: &LdapProvider, user: &str, password: &str) -> Result<ExternalIdentity, IdpError> {
    let ctx = CompleteContext {
        pending: None,
        now: Utc::now(),
    };
    p.complete_login(
        &ctx,
        LoginInput::Credentials {
            username: user.into(),
            password: SecretString::from(password.to_owned()),
        },
    )
    .await
}

fn refused(r: Result<ExternalIdentity, IdpError>) -> String {
    match r {
        Err(e @ IdpError::InvalidCredentials(_)) => {
            assert_eq!(e.code(), "SSO_AUTH_FAILED");
            e.to_string()
        }
        other => panic!("expected InvalidCredentials, got {other:?}"),
    }
}

fn unavailable(r: Result<ExternalIdentity, IdpError>) -> String {
    match r {
        Err(e @ IdpError::Unavailable(_)) => e.to_string(),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn alice_signs_in_over_starttls_with_groups_from_member_of_and_a_group_search() {
    let p = peer().await;
    let prov = provider(settings(p));
    assert!(matches!(
        prov.begin_login(&LoginContext {
            state: "s".into(),
            redirect_uri: "r".into(),
            login_hint: None,
            force_authn: false,
            now: Utc::now()
        })
        .await,
        Ok(LoginStart::CollectCredentials)
    ));
    let id = login(&prov, "alice", "alice-password").await.expect("alice");
    assert_eq!(id.email.as_deref(), Some("alice@example.com"));
    assert_eq!(id.name.as_deref(), Some("Alice Example"));
    assert_eq!(
        id.groups,
        vec!["admins", "developers", "users"],
        "memberOf (admins, users) + memberUid (developers)"
    );
    assert_eq!(id.raw["dn"], format!("uid=alice,{}", p.users_dn));
    assert_eq!(id.raw["uid"], "alice");
    assert_eq!(id.subject.len(), 36, "entryUUID: {}", id.subject);
    assert!(id.issuer.starts_with("ldap://127.0.0.1:"));
    assert_eq!(id.email_verified, None);
    assert!(!id.mfa);
    // Usernames are matched by the directory (case-insensitive uid), the subject is stable.
    let again = login(&prov, "ALICE", "alice-password").await.expect("alice again");
    assert_eq!(again.subject, id.subject);
    // bob: no displayName -> cn; memberOf only when no group search is configured.
    let mut s = settings(p);
    s.group_search_base = None;
    let bob = login(&provider(s), "bob", "bob-password").await.expect("bob");
    assert_eq!(bob.name.as_deref(), Some("Bob Example"));
    assert_eq!(bob.groups, vec!["users"]);
}

#[tokio::test]
async fn other_filters_and_ldaps() {
    let p = peer().await;
    let mut s = settings(p);
    s.url = p.ldaps_url.clone();
    s.start_tls = false;
    s.search_filter = "(mail={{username}})".into();
    let prov = provider(s);
    assert_eq!(prov.transport(), Transport::Ldaps);
    let id = login(&prov, "alice@example.com", "alice-password")
        .await
        .expect("LDAPS + mail filter");
    assert_eq!(id.raw["uid"], "alice");
    assert!(id.issuer.starts_with("ldaps://127.0.0.1:"));
    refused(login(&prov, "alice", "alice-password").await);
}

#[tokio::test]
async fn wrong_password_unknown_user_and_ambiguous_match_are_one_generic_refusal_with_precise_reasons() {
    let p = peer().await;
    let prov = provider(settings(p));
    let wrong = refused(login(&prov, "alice", "not-her-password").await);
    assert!(wrong.contains("wrong password for uid=alice"), "{wrong}");
    let unknown = refused(login(&prov, "nobody", "whatever").await);
    assert!(unknown.contains("no directory entry matches"), "{unknown}");
    let twins = refused(login(&prov, "twin", "twin-password").await);
    assert!(twins.contains("2 or more directory entries"), "{twins}");
    for reason in [&wrong, &unknown, &twins] {
        assert!(
            !reason.contains("not-her-password") && !reason.contains("twin-password") && !reason.contains("whatever")
        );
    }
    // Timing: an unknown username pays a decoy bind, so it costs about what a wrong password does.
    let ms = |user: &'static str, pw: &'static str| {
        let prov = prov.clone();
        async move {
            let t = Instant::now();
            for _ in 0..10 {
                let _ = login(&prov, user, pw).await;
            }
            t.elapsed().as_secs_f64() * 100.0
        }
    };
    let (wrong_ms, unknown_ms, ok_ms) = (
        ms("alice", "nope").await,
        ms("nobody", "nope").await,
        ms("alice", "alice-password").await,
    );
    eprintln!("mean over 10: wrong password {wrong_ms:.1} ms, unknown user {unknown_ms:.1} ms, success {ok_ms:.1} ms");
    // The right password still works afterwards (nothing cached about failures here).
    login(&prov, "alice", "alice-password").await.expect("alice");
}

#[tokio::test]
async fn empty_and_oversized_passwords_are_refused_before_any_bind() {
    let p = peer().await;
    assert!(
        p.unauth_bind_allowed,
        "the peer must allow unauthenticated binds for this test to mean something"
    );
    let prov = provider(settings(p));
    for pw in ["", &"x".repeat(1025), "a\0b"] {
        let why = refused(login(&prov, "alice", pw).await);
        assert!(why.contains("before any bind"), "{why}");
    }
    // Refused before any traffic: the same against a directory that is not even there.
    let mut dead = settings(p);
    dead.url = format!("ldap://127.0.0.1:{}", free_port());
    let why = refused(login(&provider(dead), "alice", "").await);
    assert!(why.contains("before any bind"), "{why}");
    assert!(refused(login(&prov, "", "x").await).contains("username"));
    assert!(refused(login(&prov, &"a".repeat(10 * 1024), "alice-password").await).contains("username"));
}

#[tokio::test]
async fn injection_usernames_sign_nobody_in() {
    let p = peer().await;
    let prov = provider(settings(p));
    for user in [
        "*",
        "alice*",
        "*)(uid=*",
        "alice)(|(uid=*",
        "\\2a",
        "al*ce",
        "alice\0",
        "(uid=alice)",
        "*)(|(objectClass=*",
    ] {
        for pw in ["alice-password", "bob-password"] {
            let why = refused(login(&prov, user, pw).await);
            assert!(why.contains("no directory entry matches"), "{user:?}: {why}");
        }
    }
    let huge = "a".repeat(10 * 1024);
    refused(login(&prov, &huge, "alice-password").await);
}

#[tokio::test]
async fn a_wrong_or_missing_ca_is_refused_for_starttls_and_ldaps() {
    let p = peer().await;
    for (url, start_tls) in [(&p.url, true), (&p.ldaps_url, false)] {
        for ca in [Some(p.other_ca.clone()), None] {
            let mut s = settings(p);
            s.url = url.clone();
            s.start_tls = start_tls;
            s.ca_certificate_pem = ca;
            let prov = provider(s);
            let why = unavailable(login(&prov, "alice", "alice-password").await);
            assert!(
                why.contains("TLS handshake") && why.contains("certificate"),
                "{url}: {why}"
            );
            let report = prov.check().await;
            assert!(!report.success());
            assert_eq!(report.checks[0].name, "tls");
        }
    }
}

#[tokio::test]
async fn plain_text_only_when_explicitly_allowed() {
    let p = peer().await;
    let mut s = settings(p);
    s.start_tls = false;
    s.tls_enabled = Some(false);
    assert!(
        matches!(LdapProvider::new(s.clone(), LdapPool::new()), Err(IdpError::Config(_))),
        "TLS required: plain ldap:// refused"
    );
    s.allow_plaintext = true;
    let prov = provider(s);
    assert_eq!(prov.transport(), Transport::Plain);
    login(&prov, "alice", "alice-password")
        .await
        .expect("plain text when allowed");
    // Allowing plain text never downgrades a connection that asks for TLS.
    let mut s = settings(p);
    s.allow_plaintext = true;
    assert_eq!(provider(s).transport(), Transport::StartTls);
    // Without any flag an ldap:// URL is upgraded with StartTLS.
    let mut s = settings(p);
    s.start_tls = false;
    assert_eq!(provider(s).transport(), Transport::StartTls);
}

/// A server that answers StartTLS with protocolError, recording everything the client sends.
async fn starttls_refusing_server() -> (String, tokio::task::JoinHandle<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ldap://{}", l.local_addr().unwrap());
    let h = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        let mut seen = buf[..n].to_vec();
        assert_eq!(seen[0], 0x30, "an LDAPMessage");
        let id = seen[4];
        // ExtendedResponse, resultCode 2 (protocolError), empty matchedDN and message.
        s.write_all(&[
            0x30, 0x0c, 0x02, 0x01, id, 0x78, 0x07, 0x0a, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00,
        ])
        .await
        .unwrap();
        loop {
            match tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        seen
    });
    (url, h)
}

#[tokio::test]
async fn a_refused_starttls_never_falls_back_to_plain_text() {
    let p = peer().await;
    let (url, server) = starttls_refusing_server().await;
    let mut s = settings(p);
    s.url = url;
    s.allow_plaintext = true; // even so: StartTLS was asked for
    let why = unavailable(login(&provider(s), "alice", "alice-password").await);
    assert!(
        why.contains("refused StartTLS") && why.contains("never used instead"),
        "{why}"
    );
    let seen = server.await.unwrap();
    let starttls_oid = b"1.3.6.1.4.1.1466.20037";
    assert!(
        seen.windows(starttls_oid.len()).any(|w| w == starttls_oid),
        "the StartTLS request"
    );
    for secret in [&b"service-password"[..], b"alice-password", b"sso-service"] {
        assert!(
            !seen.windows(secret.len()).any(|w| w == secret),
            "nothing but StartTLS crossed in clear"
        );
    }
}

#[tokio::test]
async fn a_dead_or_silent_directory_is_answered_quickly() {
    let p = peer().await;
    // Nothing listening: refused at once.
    let mut s = settings(p);
    s.url = format!("ldap://127.0.0.1:{}", free_port());
    let t = Instant::now();
    let why = unavailable(login(&provider(s.clone()), "alice", "alice-password").await);
    let refused_ms = t.elapsed().as_millis();
    assert!(refused_ms < 1000, "{refused_ms} ms");
    assert!(why.contains("cannot connect"), "{why}");
    let report = provider(s).check().await;
    assert!(!report.success() && report.checks[0].name == "tls", "{report:?}");

    // Accepts TCP, never answers: the connect deadline (1 s here) ends it.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            held.push(c);
        }
    });
    let mut s = settings(p);
    s.url = format!("ldap://{addr}");
    s.connect_timeout = Duration::from_secs(1);
    s.op_timeout = Duration::from_secs(1);
    let t = Instant::now();
    let why = unavailable(login(&provider(s), "alice", "alice-password").await);
    let silent_ms = t.elapsed().as_millis();
    assert!((900..2500).contains(&silent_ms), "{silent_ms} ms: {why}");
    assert!(why.contains("no answer") && why.contains("within 1000 ms"), "{why}");
    hold.abort();
    eprintln!("dead directory: connection refused answered in {refused_ms} ms; silent directory in {silent_ms} ms (deadline 1000 ms)");
}

#[tokio::test]
async fn the_address_guard_refuses_private_targets_before_connecting() {
    let p = peer().await;
    let mut s = settings(p);
    s.address_guard = Some(|ip| ip.is_loopback().then_some("a loopback address"));
    let why = unavailable(login(&provider(s), "alice", "alice-password").await);
    assert!(why.contains("refused to connect") && why.contains("loopback"), "{why}");
}

#[tokio::test]
async fn service_connections_are_pooled_and_reused() {
    let p = peer().await;
    let pool = LdapPool::new();
    let prov = LdapProvider::new(settings(p), pool.clone()).unwrap();
    for _ in 0..5 {
        login(&prov, "alice", "alice-password").await.expect("alice");
    }
    assert_eq!(pool.idle_count(), 1, "sequential logins reuse one service connection");
    // Concurrent logins open more, the pool keeps at most a few.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let prov = prov.clone();
            tokio::spawn(async move { login(&prov, "bob", "bob-password").await.map(|i| i.email) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().as_deref(), Some("bob@example.com"));
    }
    assert!((1..=4).contains(&pool.idle_count()), "{}", pool.idle_count());
    // Another provider with the same settings shares them; a different bind password does not.
    let same = LdapProvider::new(settings(p), pool.clone()).unwrap();
    login(&same, "alice", "alice-password").await.unwrap();
    let mut wrong = settings(p);
    wrong.bind_password = SecretString::from("not-the-service-password");
    let err = login(
        &LdapProvider::new(wrong, pool.clone()).unwrap(),
        "alice",
        "alice-password",
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "SSO_MISCONFIGURED", "{err}");
    assert!(err.to_string().contains("service account bind was refused"), "{err}");
}

#[tokio::test]
async fn check_reports_each_step() {
    let p = peer().await;
    let ok = provider(settings(p)).check().await;
    assert!(ok.success(), "{ok:?}");
    let names: Vec<_> = ok.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["tls", "bind", "search_base", "group_search_base"]);
    assert!(
        ok.checks[0].message.contains("StartTLS") && ok.checks[0].message.contains("CA certificate"),
        "{}",
        ok.checks[0].message
    );

    let mut bad_pw = settings(p);
    bad_pw.bind_password = SecretString::from("nope");
    let r = provider(bad_pw).check().await;
    assert_eq!(r.first_failure().map(|c| c.name.as_str()), Some("bind"), "{r:?}");
    assert!(!format!("{r:?}").contains("nope"));

    let mut bad_base = settings(p);
    bad_base.search_base = "ou=nowhere,dc=example,dc=com".into();
    let r = provider(bad_base.clone()).check().await;
    assert_eq!(r.first_failure().map(|c| c.name.as_str()), Some("search_base"), "{r:?}");
    let err = login(&provider(bad_base), "alice", "alice-password").await.unwrap_err();
    assert_eq!(err.code(), "SSO_MISCONFIGURED", "{err}");
}
