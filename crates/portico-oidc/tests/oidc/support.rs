//! Shared helpers: the real OpenID Provider (started once per process), a browser that walks its
//! login and consent forms, and small constructors.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::Utc;
use portico_core::idp::{CompleteContext, IdentityProvider, LoginContext, LoginInput, LoginStart, PendingLogin};
use portico_http::OutboundPolicy;
use portico_oidc::{ClientAuth, OidcProvider, OidcRuntime, OidcSettings};
use secrecy::SecretString;
use url::Url;

/// Policy for loopback test IdPs.
pub fn lab_policy() -> OutboundPolicy {
    OutboundPolicy {
        allow_private_networks: true,
        allow_insecure_http: true,
        timeout: Duration::from_secs(5),
        ..OutboundPolicy::default()
    }
}

pub fn lab_runtime() -> OidcRuntime {
    OidcRuntime::new(lab_policy())
}

pub fn settings(issuer: &str, client_id: &str, secret: &str, auth: Option<ClientAuth>) -> OidcSettings {
    let mut s = OidcSettings::new(issuer, client_id, SecretString::from(secret.to_owned()));
    s.client_auth = auth;
    s
}

/// A fresh opaque state, like the server generates.
pub fn new_state() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("st-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A callback on a loopback port nobody listens on: the browser stops at the redirect.
pub fn redirect_uri() -> String {
    format!(
        "http://127.0.0.1:{}/api/auth/sso/callback",
        20000 + (std::process::id() % 20000)
    )
}

pub fn login_ctx(hint: Option<&str>) -> LoginContext {
    LoginContext {
        state: new_state(),
        redirect_uri: redirect_uri(),
        login_hint: hint.map(str::to_owned),
        force_authn: false,
        now: Utc::now(),
    }
}

/// `begin_login`, expecting a redirect.
pub async fn begin(provider: &OidcProvider, ctx: &LoginContext) -> (Url, PendingLogin) {
    match provider.begin_login(ctx).await.expect("begin_login") {
        LoginStart::Redirect { url, pending } => (Url::parse(&url).unwrap(), pending),
        other => panic!("expected a redirect, got {other:?}"),
    }
}

pub fn complete_ctx(pending: &PendingLogin) -> CompleteContext {
    CompleteContext {
        pending: Some(pending.clone()),
        now: Utc::now(),
    }
}

pub fn code_input(code: &str, iss: Option<&str>) -> LoginInput {
    LoginInput::OidcCode {
        code: code.to_owned(),
        iss: iss.map(str::to_owned),
    }
}

pub fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

// ---------------------------------------------------------------------------------------------
// The real provider

/// The running oidc-provider: its issuer and (when known) the folder `rotate` needs.
pub struct Peer {
    pub issuer: String,
    pub dir: Option<PathBuf>,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/oidc-provider.sh")
}

/// `PORTICO_TEST_OIDC_ISSUER` (and `PORTICO_TEST_OIDC_DIR`) when set, else a provider started
/// once for this process on a free port; it exits by itself when this process does.
pub fn peer() -> &'static Peer {
    static PEER: OnceLock<Peer> = OnceLock::new();
    PEER.get_or_init(|| {
        if let Ok(issuer) = std::env::var("PORTICO_TEST_OIDC_ISSUER") {
            let dir = std::env::var_os("PORTICO_TEST_OIDC_DIR").map(PathBuf::from);
            return Peer { issuer, dir };
        }
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        remove_finished_peers(&tmp);
        let dir = tmp.join(format!("oidc-peer-{}", std::process::id()));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&dir)
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_WATCH_PID", std::process::id().to_string())
            .env("OIDC_NPM_CACHE", tmp.join("oidc-provider-npm"))
            .output()
            .expect("run tests/peers/oidc-provider.sh");
        assert!(
            out.status.success(),
            "oidc-provider did not start:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env = std::fs::read_to_string(dir.join("env")).expect("DIR/env");
        let issuer = env
            .lines()
            .find_map(|l| l.strip_prefix("PORTICO_TEST_OIDC_ISSUER="))
            .expect("issuer in DIR/env")
            .to_owned();
        Peer { issuer, dir: Some(dir) }
    })
}

/// Folders of earlier runs whose provider has exited (it removes its pid file when it does).
fn remove_finished_peers(tmp: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_peer = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("oidc-peer-"));
        let running = std::fs::read_to_string(path.join("oidc-provider.pid"))
            .ok()
            .is_some_and(|pid| std::path::Path::new(&format!("/proc/{}", pid.trim())).exists());
        if is_peer && !running {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// `tests/peers/oidc-provider.sh rotate DIR`.
pub fn rotate(dir: &std::path::Path) -> String {
    let out = Command::new("bash")
        .arg(script())
        .arg("rotate")
        .arg(dir)
        .output()
        .expect("rotate");
    assert!(
        out.status.success(),
        "rotate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

// ---------------------------------------------------------------------------------------------
// The browser

/// What the provider sent the browser back to the callback with.
#[derive(Debug)]
pub struct Callback {
    pub code: String,
    pub state: Option<String>,
    pub iss: Option<String>,
}

fn form_action(html: &str) -> Option<&str> {
    let start = html.find("action=\"")? + "action=\"".len();
    let end = html[start..].find('"')? + start;
    Some(&html[start..end])
}

/// Follows the authorization request through oidc-provider's login form and consent page, with
/// a cookie jar and no automatic redirects, until the provider redirects to `redirect_uri`.
pub async fn browse(authorize: &Url, redirect_uri: &str, user: &str, password: &str) -> Callback {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut next = browser.get(authorize.clone());
    for _ in 0..20 {
        let resp = next.send().await.expect("provider reachable");
        let here = resp.url().clone();
        if resp.status().is_redirection() {
            let location = resp.headers()["location"].to_str().unwrap();
            let target = here.join(location).unwrap();
            if target.as_str().starts_with(redirect_uri) {
                if let Some(err) = query(&target, "error") {
                    panic!("provider refused: {err} {:?}", query(&target, "error_description"));
                }
                return Callback {
                    code: query(&target, "code").expect("code in the callback"),
                    state: query(&target, "state"),
                    iss: query(&target, "iss"),
                };
            }
            next = browser.get(target);
            continue;
        }
        let status = resp.status();
        let html = resp.text().await.unwrap();
        assert!(status.is_success(), "HTTP {status} at {here}: {html}");
        let action = here
            .join(form_action(&html).unwrap_or_else(|| panic!("no form at {here}: {html}")))
            .unwrap();
        next = if action.path().ends_with("/login") {
            browser.post(action).form(&[("login", user), ("password", password)])
        } else {
            browser.post(action)
        };
    }
    panic!("too many hops from {authorize}");
}

/// One whole login against the real provider as `user`.
pub async fn login(
    provider: &OidcProvider,
    user: &str,
) -> Result<portico_core::idp::ExternalIdentity, portico_core::idp::IdpError> {
    let ctx = login_ctx(Some(&format!("{user}@example.com")));
    let (url, pending) = begin(provider, &ctx).await;
    let cb = browse(&url, &ctx.redirect_uri, user, &format!("{user}-password")).await;
    assert_eq!(
        cb.state.as_deref(),
        Some(ctx.state.as_str()),
        "state comes back unchanged"
    );
    provider
        .complete_login(&complete_ctx(&pending), code_input(&cb.code, cb.iss.as_deref()))
        .await
}
