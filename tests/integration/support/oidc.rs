//! The real OpenID Provider (`oidc-provider` npm package) shared by the run: from
//! `PORTICO_TEST_OIDC_ISSUER`/`PORTICO_TEST_OIDC_DIR` (set by `scripts/test`), or started once per
//! process by `tests/peers/oidc-provider.sh` on a free port, exiting with this process; and a
//! second one without RFC 9207 `iss` ([`provider_without_iss`]) for the mix-up tests.

use std::path::PathBuf;

use reqwest::StatusCode;
use tokio::sync::OnceCell;

use super::{Resp, TestApp};

/// The running provider.
pub struct Provider {
    /// Issuer URL.
    pub issuer: String,
    /// Its folder (for `rotate`).
    pub dir: PathBuf,
}

static PROVIDER: OnceCell<Provider> = OnceCell::const_new();
static PROVIDER_WITHOUT_ISS: OnceCell<Provider> = OnceCell::const_new();

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared provider.
pub async fn provider() -> &'static Provider {
    PROVIDER.get_or_init(|| run("PORTICO_TEST_OIDC", "oidc", &[])).await
}

/// A second provider, predating RFC 9207: it neither advertises nor sends `iss` in its
/// authorization responses (`OIDC_NO_ISS=1`; `PORTICO_TEST_OIDC_NOISS_*` from `scripts/test`).
pub async fn provider_without_iss() -> &'static Provider {
    PROVIDER_WITHOUT_ISS
        .get_or_init(|| run("PORTICO_TEST_OIDC_NOISS", "oidc-noiss", &[("OIDC_NO_ISS", "1")]))
        .await
}

/// The provider `scripts/test` started (`{prefix}_ISSUER`, `{prefix}_DIR`), else one started
/// here on a free port, exiting with this process.
async fn run(prefix: &str, name: &str, env: &[(&str, &str)]) -> Provider {
    if let (Ok(issuer), Ok(dir)) = (
        std::env::var(format!("{prefix}_ISSUER")),
        std::env::var(format!("{prefix}_DIR")),
    ) {
        return Provider {
            issuer,
            dir: PathBuf::from(dir),
        };
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("portico-it-{name}-{}", std::process::id()));
    let cache = std::env::temp_dir().join("portico-oidc-npm-cache");
    let out = tokio::process::Command::new("bash")
        .arg(repo_root().join("tests/peers/oidc-provider.sh"))
        .arg("start")
        .arg(&dir)
        .env("OIDC_PORT", port.to_string())
        .env("OIDC_WATCH_PID", std::process::id().to_string())
        .env("OIDC_NPM_CACHE", &cache)
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run oidc-provider.sh");
    assert!(
        out.status.success(),
        "oidc-provider failed to start: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Provider {
        issuer: format!("http://127.0.0.1:{port}"),
        dir,
    }
}

/// Live key rotation at the provider.
pub async fn rotate() {
    let p = provider().await;
    let out = tokio::process::Command::new("bash")
        .arg(repo_root().join("tests/peers/oidc-provider.sh"))
        .arg("rotate")
        .arg(&p.dir)
        .output()
        .await
        .expect("rotate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A browser: a cookie jar, no automatic redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("browser")
}

fn location(r: &reqwest::Response, base: &str) -> Option<String> {
    let l = r.headers().get("location")?.to_str().ok()?;
    Some(if l.starts_with('/') {
        format!("{base}{l}")
    } else {
        l.to_owned()
    })
}

fn origin(url: &str) -> String {
    let u = url::Url::parse(url).expect("url");
    format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default())
        + &u.port().map(|p| format!(":{p}")).unwrap_or_default()
}

/// Drives the provider from Portico's login URL to the moment the browser is sent back to
/// Portico's callback: returns that callback URL (not yet requested).
pub async fn to_callback(app: &TestApp, b: &reqwest::Client, login_path: &str, user: &str, password: &str) -> String {
    let r = b.get(format!("{}{login_path}", app.base)).send().await.expect("login");
    assert_eq!(
        r.status(),
        StatusCode::FOUND,
        "login start: {}",
        r.text().await.unwrap_or_default()
    );
    let next = location(&r, &app.base).expect("location");
    through_idp(app, b, next, user, password).await
}

/// Drives browser `b` from `next` (a URL at the provider) through its login and consent forms
/// to the moment it is sent back to Portico's callback: returns that callback URL (not yet
/// requested).
pub async fn through_idp(app: &TestApp, b: &reqwest::Client, mut next: String, user: &str, password: &str) -> String {
    for _ in 0..20 {
        if next.starts_with(&format!("{}/api/auth/sso/callback", app.base)) {
            return next;
        }
        let r = b.get(&next).send().await.expect("hop");
        let base = origin(&next);
        if r.status().is_redirection() {
            next = location(&r, &base).expect("location");
            continue;
        }
        let page_url = next.clone();
        let html = r.text().await.unwrap_or_default();
        let action = html
            .split("action=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("no form at {page_url}: {html}"));
        let action = format!("{base}{action}");
        let r = if action.ends_with("/login") {
            b.post(&action)
                .form(&[("login", user), ("password", password)])
                .send()
                .await
                .expect("login post")
        } else {
            b.post(&action).send().await.expect("confirm post")
        };
        assert!(
            r.status().is_redirection(),
            "form {action}: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
        next = location(&r, &base).expect("location");
    }
    panic!("never reached the callback");
}

/// Completes the callback in browser `b`; returns the response (a 302).
pub async fn finish(b: &reqwest::Client, callback: &str) -> Resp {
    TestApp::read(b.get(callback).send().await.expect("callback")).await
}
