//! The real OpenLDAP `slapd` (tests/peers/ldap.sh): the shared directory of the run — from the
//! `PORTICO_TEST_LDAP_*` variables `scripts/test` sets, or started once per process on free ports
//! (allowing unauthenticated binds, stopped when this process exits) — and private instances for
//! tests that stop, restart or reconfigure their directory.

use std::collections::HashMap;
use std::path::PathBuf;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use super::{Owner, Resp, TestApp};

/// A running directory.
#[derive(Clone, Debug)]
pub struct Directory {
    /// `ldap://127.0.0.1:PORT` (StartTLS on the same port when TLS is on).
    pub url: String,
    /// `ldaps://127.0.0.1:PORT` (None without TLS).
    pub ldaps_url: Option<String>,
    /// PEM of the CA that signed the server certificate.
    pub ca_pem: String,
    /// PEM of a CA that signed nothing here.
    pub other_ca_pem: String,
    /// `ou=people,…`.
    pub users_dn: String,
    /// `ou=groups,…`.
    pub groups_dn: String,
    /// Service account DN and password.
    pub bind_dn: String,
    pub bind_password: String,
    /// Whether "DN + empty password" binds as anonymous here.
    pub unauth_bind_allowed: bool,
    /// The instance folder.
    pub dir: PathBuf,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn script() -> PathBuf {
    repo_root().join("tests/peers/ldap.sh")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn from_vars(vars: &HashMap<String, String>) -> Directory {
    let get = |k: &str| {
        vars.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("{k} missing from the LDAP peer's env"))
    };
    let pem = |k: &str| std::fs::read_to_string(get(k)).unwrap_or_else(|e| panic!("{k}: {e}"));
    Directory {
        url: get("PORTICO_TEST_LDAP_URL"),
        ldaps_url: vars.get("PORTICO_TEST_LDAP_LDAPS_URL").cloned(),
        ca_pem: pem("PORTICO_TEST_LDAP_CA_FILE"),
        other_ca_pem: pem("PORTICO_TEST_LDAP_OTHER_CA_FILE"),
        users_dn: get("PORTICO_TEST_LDAP_USERS_DN"),
        groups_dn: get("PORTICO_TEST_LDAP_GROUPS_DN"),
        bind_dn: get("PORTICO_TEST_LDAP_BIND_DN"),
        bind_password: get("PORTICO_TEST_LDAP_BIND_PASSWORD"),
        unauth_bind_allowed: get("PORTICO_TEST_LDAP_UNAUTH_BIND") == "allowed",
        dir: PathBuf::from(get("PORTICO_TEST_LDAP_DIR")),
    }
}

fn read_env_file(dir: &std::path::Path) -> HashMap<String, String> {
    std::fs::read_to_string(dir.join("env"))
        .expect("DIR/env")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

static SHARED: OnceCell<Directory> = OnceCell::const_new();

/// The shared directory of the run.
pub async fn shared() -> &'static Directory {
    SHARED
        .get_or_init(|| async {
            let vars: HashMap<String, String> = std::env::vars()
                .filter(|(k, _)| k.starts_with("PORTICO_TEST_LDAP_"))
                .collect();
            if vars.contains_key("PORTICO_TEST_LDAP_URL") {
                return from_vars(&vars);
            }
            let dir = std::env::temp_dir().join(format!("portico-it-ldap-{}", std::process::id()));
            Private::launch(&dir, free_port(), free_port(), &[("LDAP_ALLOW_UNAUTH_BIND", "1")]).await;
            from_vars(&read_env_file(&dir))
        })
        .await
}

/// A private slapd for one test (stopped on drop).
pub struct Private {
    /// Its coordinates.
    pub dir_info: Directory,
    ports: (u16, u16),
    env: Vec<(String, String)>,
}

impl Private {
    async fn launch(dir: &std::path::Path, port: u16, tls_port: u16, env: &[(&str, &str)]) {
        let mut cmd = tokio::process::Command::new("bash");
        cmd.arg(script())
            .arg("start")
            .arg(dir)
            .env("LDAP_PORT", port.to_string())
            .env("LDAPS_PORT", tls_port.to_string())
            .env("LDAP_WATCH_PID", std::process::id().to_string());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().await.expect("run ldap.sh");
        assert!(
            out.status.success(),
            "slapd failed to start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts a private directory named `name` with extra script variables (`LDAP_TLS=0`, …).
    pub async fn start(name: &str, env: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("portico-it-ldap-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ports = (free_port(), free_port());
        Self::launch(&dir, ports.0, ports.1, env).await;
        Self {
            dir_info: from_vars(&read_env_file(&dir)),
            ports,
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    /// Stops slapd (its data stays).
    pub async fn stop(&self) {
        let out = tokio::process::Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.dir_info.dir)
            .output()
            .await
            .expect("stop");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    /// Starts it again on the same ports, keeping its entries (and their entryUUIDs).
    pub async fn restart(&self) {
        let mut env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.push(("LDAP_KEEP_DATA", "1"));
        Self::launch(&self.dir_info.dir, self.ports.0, self.ports.1, &env).await;
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.dir_info.dir)
            .output();
    }
}

/// The body of `POST /v1/sso/connections` for `dir`: StartTLS with the directory's CA, the
/// default user filter, a group search that also finds posixGroup members; `extra` overrides.
pub fn connection_body(dir: &Directory, extra: Value) -> Value {
    let mut body = json!({
        "name": "Corporate directory",
        "protocol": "ldap",
        "ldapUrl": dir.url,
        "ldapBindDn": dir.bind_dn,
        "ldapBindPassword": dir.bind_password,
        "ldapSearchBase": dir.users_dn,
        "ldapGroupSearchBase": dir.groups_dn,
        "ldapGroupSearchFilter": "(|(member={{dn}})(memberUid={{username}}))",
        "ldapStartTls": true,
        "ldapCaCertificate": dir.ca_pem,
        "domains": ["example.com"],
        "jitProvisioning": true,
        "groupMappings": {"admins": ["sso:admin", "users:write"], "developers": ["code:write"]},
        "defaultScopes": ["profile:read"],
        "defaultRole": "engineer",
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            if v.is_null() {
                b.remove(k);
            } else {
                b.insert(k.clone(), v.clone());
            }
        }
    }
    body
}

/// Creates an LDAP connection through the SDK API; returns its id.
pub async fn create_connection(app: &TestApp, o: &Owner, body: Value) -> String {
    let r = app
        .call(Method::POST, "/v1/sso/connections", Some(&o.key), Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        !r.text.contains("service-password"),
        "the bind password is never returned"
    );
    r.body["id"].as_str().unwrap().to_owned()
}

/// `POST /sso/callback/ldap` (server to server, with the organization's API key).
pub async fn sdk_sign_in(app: &TestApp, o: &Owner, conn_id: &str, username: &str, password: &str) -> Resp {
    app.call(
        Method::POST,
        "/sso/callback/ldap",
        Some(&o.key),
        Some(json!({"username": username, "password": password, "connectionId": conn_id, "org": o.org_id})),
    )
    .await
}

/// `POST /api/auth/sso/{slug}/ldap` (the browser-facing flow, no key).
pub async fn browser_sign_in(app: &TestApp, slug: &str, username: &str, password: &str) -> Resp {
    app.call(
        Method::POST,
        &format!("/api/auth/sso/{slug}/ldap"),
        None,
        Some(json!({"username": username, "password": password})),
    )
    .await
}
