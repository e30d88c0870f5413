//! Layered configuration: built-in defaults → `config/default.toml` → the file named by
//! `PORTICO_CONFIG` → `PORTICO__SECTION__KEY` environment variables, with `…_FILE` variants for
//! secrets. Unknown keys are rejected. Secrets are `SecretString` and never appear in `Debug`.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::providers::{Format, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// All settings.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// HTTP server.
    pub server: ServerSettings,
    /// PostgreSQL.
    pub database: DatabaseSettings,
    /// The embedded development PostgreSQL.
    pub embedded: EmbeddedSettings,
    /// The application Portico signs users into.
    pub app: AppSettings,
    /// Keys, sessions, logins.
    pub security: SecuritySettings,
    /// Outbound calls to IdPs.
    pub outbound: OutboundSettings,
    /// DNS for domain verification.
    pub dns: DnsSettings,
    /// Logging.
    pub log: LogSettings,
    /// Throttling of public sign-in routes.
    pub rate_limit: RateLimitSettings,
    /// Audit log retention.
    pub audit: AuditSettings,
}

/// `[audit]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Events older than this many days are deleted by the background job; 0 keeps them forever.
    pub retention_days: u32,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self { retention_days: 400 }
    }
}

/// `[rate_limit]`: per-minute budgets of the public sign-in routes (0 disables one).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// Sign-in starts, callbacks and password attempts per client IP.
    pub sign_in_per_ip_per_minute: u32,
    /// Sign-in starts and callbacks per organization + connection.
    pub sign_in_per_connection_per_minute: u32,
    /// SCIM requests per directory (far above what Okta or Entra send during an initial sync).
    pub scim_per_directory_per_minute: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            sign_in_per_ip_per_minute: 120,
            sign_in_per_connection_per_minute: 1200,
            scim_per_directory_per_minute: 30000,
        }
    }
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Listen address.
    pub bind: SocketAddr,
    /// The base URL IdPs and browsers see; the callback is `{public_url}/api/auth/sso/callback`.
    pub public_url: String,
    /// Largest request body accepted, bytes.
    pub max_body_bytes: usize,
    /// Read the client address from `X-Forwarded-For`, right to left (behind a proxy you control).
    pub trust_forwarded_for: bool,
    /// Seconds a client has to send a request head, counted from when the connection starts
    /// waiting for one (so also the longest a keep-alive connection may sit idle).
    pub header_read_timeout_secs: u64,
    /// Seconds a client has to send a whole request body once its head arrived.
    pub body_read_timeout_secs: u64,
    /// Open connections served at once; past it, new ones wait in the listen backlog.
    pub max_connections: usize,
    /// Proxies (CIDRs) whose `X-Forwarded-For` entries are skipped; empty trusts the nearest hop only.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Exact origins (`https://app.example.com`) allowed credentialed CORS and cookie writes.
    pub cors_allowed_origins: Vec<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
            trust_forwarded_for: false,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            max_connections: 1024,
            trusted_proxies: Vec::new(),
            cors_allowed_origins: Vec::new(),
        }
    }
}

/// `[database]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// PostgreSQL URL; empty starts the embedded development database.
    pub url: Option<SecretString>,
    /// Pool size.
    pub max_connections: u32,
    /// Milliseconds a request waits for a database connection before answering 503.
    pub acquire_timeout_ms: u64,
    /// Seconds a start (`serve`, `migrate`, every database command) waits for the database to
    /// answer, retrying with capped exponential backoff, before it exits non-zero.
    pub connect_timeout_secs: u64,
    /// Milliseconds PostgreSQL lets one statement run (lock waits included) before cancelling
    /// it, answered 503 SERVICE_UNAVAILABLE; 0 turns the limit off. Migrations run without it.
    pub statement_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: default_pool_size(),
            acquire_timeout_ms: 3000,
            connect_timeout_secs: 60,
            statement_timeout_ms: 5000,
        }
    }
}

/// Four connections per CPU core (4–32): on a small machine more PostgreSQL backends than that
/// only add context switches (measured: 16 on 2 cores gave a p99 twice that of 8).
fn default_pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    u32::try_from(cores * 4).unwrap_or(32).clamp(4, 32)
}

impl DatabaseSettings {
    /// The configured URL, when one is set and not empty.
    pub fn url(&self) -> Option<&str> {
        self.url
            .as_ref()
            .map(|u| u.expose_secret())
            .filter(|u| !u.trim().is_empty())
    }
}

/// `[embedded]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedSettings {
    /// Data folder of the embedded PostgreSQL (the development key lives beside it).
    pub data_dir: PathBuf,
}

impl Default for EmbeddedSettings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".portico/pg"),
        }
    }
}

/// `[app]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppSettings {
    /// Where browsers land after sign-in (and on errors, with `?error=`).
    pub url: String,
    /// Other `returnTo` targets allowed (exact origins+paths, or prefixes ending in `/`).
    pub allowed_return_urls: Vec<String>,
    /// Whether any signed-in user may create organizations.
    pub allow_org_creation: bool,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:3000/".into(),
            allowed_return_urls: Vec::new(),
            allow_org_creation: true,
        }
    }
}

/// `[security]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySettings {
    /// Secret-box keys `id:base64(32 bytes)`; the first seals.
    pub encryption_keys: Vec<SecretString>,
    /// Longest session lifetime, seconds.
    pub session_max_age_secs: i64,
    /// Shorten OIDC sessions to the ID token's `exp` when that is sooner (SAML sessions always
    /// end by the IdP's `SessionNotOnOrAfter`; an assertion's validity window never counts).
    pub follow_idp_session_lifetime: bool,
    /// Login transaction lifetime, seconds (at most 600).
    pub login_ttl_secs: i64,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            encryption_keys: Vec::new(),
            session_max_age_secs: 12 * 3600,
            follow_idp_session_lifetime: false,
            login_ttl_secs: 600,
        }
    }
}

/// `[outbound]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundSettings {
    /// Allow IdPs on private, loopback and link-local addresses.
    pub allow_private_networks: bool,
    /// Allow plain `http://` IdP URLs.
    pub allow_insecure_http: bool,
    /// Timeout of each outbound request, seconds.
    pub timeout_secs: u64,
    /// Largest outbound response body, bytes.
    pub max_body_bytes: usize,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            allow_insecure_http: false,
            timeout_secs: 10,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// `[dns]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DnsSettings {
    /// Nameservers (`ip:port`) for TXT verification; empty uses the system's.
    pub nameservers: Vec<String>,
}

/// `[log]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `json` or `pretty`.
    pub format: String,
    /// `tracing` filter directive.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: "pretty".into(),
            level: "info".into(),
        }
    }
}

/// Configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A layer failed to parse or held an unknown key.
    #[error("configuration: {0}")]
    Figment(Box<figment::Error>),
    /// A `_FILE` variable names an unreadable file.
    #[error("configuration: cannot read {var}: {source}")]
    File {
        /// The variable.
        var: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A value is invalid.
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Loads every layer from the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(std::env::vars().collect())
    }

    /// Loads every layer, reading environment variables from `env` (for tests).
    pub fn load_from(env: Vec<(String, String)>) -> Result<Self, ConfigError> {
        let mut fig = Figment::new().merge(Toml::file("config/default.toml"));
        if let Some((_, path)) = env.iter().find(|(k, _)| k == "PORTICO_CONFIG") {
            fig = fig.merge(Toml::file_exact(path));
        }
        let plain: Vec<(String, String)> = env
            .iter()
            .filter(|(k, _)| k.starts_with("PORTICO__") && !k.ends_with("_FILE"))
            .cloned()
            .collect();
        let mut env_toml = String::new();
        for (k, v) in &plain {
            env_toml.push_str(&env_line(k, &toml_value(v)));
        }
        for (k, path) in env
            .iter()
            .filter(|(k, _)| k.starts_with("PORTICO__") && k.ends_with("_FILE"))
        {
            let content =
                std::fs::read_to_string(path).map_err(|source| ConfigError::File { var: k.clone(), source })?;
            let key = &k[..k.len() - "_FILE".len()];
            let value = if key.ends_with("ENCRYPTION_KEYS") {
                let items: Vec<String> = content
                    .split(['\n', ','])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(toml_string)
                    .collect();
                format!("[{}]", items.join(", "))
            } else {
                toml_string(content.trim())
            };
            env_toml.push_str(&env_line(key, &value));
        }
        fig = fig.merge(Toml::string(&env_toml));
        let settings: Settings = fig.extract().map_err(|e| ConfigError::Figment(Box::new(e)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The `[log]` settings alone, from the same layers (files, then `PORTICO__LOG__*`), so that
    /// an error in the rest of the configuration is still reported in the configured format.
    /// Falls back to `PORTICO__LOG__FORMAT` and the defaults when the layers cannot be read.
    pub fn log_settings_from(env: &[(String, String)]) -> LogSettings {
        let mut fig = Figment::new().merge(Toml::file("config/default.toml"));
        if let Some((_, path)) = env.iter().find(|(k, _)| k == "PORTICO_CONFIG") {
            fig = fig.merge(Toml::file_exact(path));
        }
        let mut env_toml = String::new();
        for (k, v) in env.iter().filter(|(k, _)| k.starts_with("PORTICO__LOG__")) {
            env_toml.push_str(&env_line(k, &toml_value(v)));
        }
        let parsed = fig
            .merge(Toml::string(&env_toml))
            .extract_inner::<LogSettings>("log")
            .ok()
            .filter(|l| matches!(l.format.as_str(), "json" | "pretty"));
        parsed.unwrap_or_else(|| {
            let mut log = LogSettings::default();
            if let Some((_, f)) = env
                .iter()
                .find(|(k, v)| k == "PORTICO__LOG__FORMAT" && v.trim() == "json")
            {
                log.format = f.trim().to_owned();
            }
            log
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (name, u) in [
            ("server.public_url", &self.server.public_url),
            ("app.url", &self.app.url),
        ] {
            let parsed = url::Url::parse(u).map_err(|e| ConfigError::Invalid(format!("{name} is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ConfigError::Invalid(format!("{name} must be http(s)")));
            }
        }
        for o in &self.server.cors_allowed_origins {
            if exact_origin(o).is_none() {
                return Err(ConfigError::Invalid(format!(
                    "server.cors_allowed_origins: {o:?} is not an exact origin (scheme://host[:port], no path)"
                )));
            }
        }
        if !(60..=600).contains(&self.security.login_ttl_secs) {
            return Err(ConfigError::Invalid(
                "security.login_ttl_secs must be between 60 and 600".into(),
            ));
        }
        if self.security.session_max_age_secs < 60 {
            return Err(ConfigError::Invalid(
                "security.session_max_age_secs must be at least 60".into(),
            ));
        }
        for ns in &self.dns.nameservers {
            ns.parse::<SocketAddr>()
                .map_err(|_| ConfigError::Invalid(format!("dns.nameservers: {ns:?} is not ip:port")))?;
        }
        if !matches!(self.log.format.as_str(), "json" | "pretty") {
            return Err(ConfigError::Invalid("log.format must be json or pretty".into()));
        }
        Ok(())
    }

    /// The public base URL without a trailing slash.
    pub fn public_base(&self) -> &str {
        self.server.public_url.trim_end_matches('/')
    }

    /// The shared SSO callback URL.
    pub fn callback_url(&self) -> String {
        format!("{}/api/auth/sso/callback", self.public_base())
    }

    /// True when `origin` (an `Origin` header value) is one of `server.public_url`, `app.url` and
    /// `server.cors_allowed_origins`, compared as serialized origins.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let Some(origin) = exact_origin(origin) else {
            return false;
        };
        [&self.server.public_url, &self.app.url]
            .into_iter()
            .filter_map(|u| url::Url::parse(u).ok())
            .map(|u| u.origin().ascii_serialization())
            .chain(self.server.cors_allowed_origins.iter().filter_map(|o| exact_origin(o)))
            .any(|allowed| allowed == origin)
    }

    /// True when cookies must be `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.server.public_url.starts_with("https://")
    }
}

/// The serialized origin of `s` when `s` is exactly an http(s) origin (an optional trailing `/`
/// aside): `https://App.Example.com` → `https://app.example.com`. Paths, queries, credentials and
/// the opaque `null` origin are refused.
pub fn exact_origin(s: &str) -> Option<String> {
    let u = url::Url::parse(s.trim()).ok()?;
    let plain = matches!(u.scheme(), "http" | "https")
        && u.host().is_some()
        && u.path() == "/"
        && u.query().is_none()
        && u.fragment().is_none()
        && u.username().is_empty()
        && u.password().is_none();
    plain.then(|| u.origin().ascii_serialization())
}

/// Turns `PORTICO__SECTION__KEY=value` into a TOML line `section.key = value`.
fn env_line(var: &str, toml_value: &str) -> String {
    let path = var
        .trim_start_matches("PORTICO__")
        .to_ascii_lowercase()
        .replace("__", ".");
    let quoted: Vec<String> = path.split('.').map(toml_string).collect();
    format!("{} = {}\n", quoted.join("."), toml_value)
}

/// A TOML basic string holding `s`.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// How an environment value becomes TOML: arrays, booleans and integers as written, the rest as strings.
fn toml_value(v: &str) -> String {
    let t = v.trim();
    let literal = t == "true"
        || t == "false"
        || (t.starts_with('[') && toml::from_str::<toml::Table>(&format!("x = {t}")).is_ok())
        || (!t.is_empty() && t.parse::<i64>().is_ok());
    if literal {
        t.to_owned()
    } else {
        toml_string(v)
    }
}
