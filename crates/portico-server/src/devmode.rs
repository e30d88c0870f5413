//! Opening the database and the secret box: the configured PostgreSQL and keys, or — when no
//! database URL is set — the embedded development PostgreSQL with a development key kept beside
//! its data folder, and on first start a bootstrapped owner, organization and API key.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use portico_core::secretbox::SecretBox;
use portico_store::embedded::EmbeddedPostgres;
use portico_store::PgPool;
use secrecy::{ExposeSecret, SecretString};

use crate::config::Settings;

/// An open database, and the embedded server when one was started.
pub struct Database {
    /// The pool (lazy: nothing connected yet).
    pub pool: PgPool,
    /// The embedded server; stop it on exit.
    pub embedded: Option<EmbeddedPostgres>,
}

/// The pool of the configured database, or of the embedded one (started here); not connected
/// yet and not migrated (see `crate::startup::prepare_database`).
pub async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let (url, embedded) = match settings.database.url() {
        Some(u) => (SecretString::from(u.to_owned()), None),
        None => {
            let dir = absolute(&settings.embedded.data_dir)?;
            tracing::warn!(data_dir = %dir.display(), "no database.url set: starting the embedded development PostgreSQL");
            let pg = EmbeddedPostgres::start(&dir)
                .await
                .context("starting the embedded PostgreSQL")?;
            (SecretString::from(pg.database_url("postgres")), Some(pg))
        }
    };
    // Not connected yet: `crate::startup::prepare_database` waits for it and migrates.
    let pool = portico_store::connect_lazy(
        url.expose_secret(),
        settings.database.max_connections,
        std::time::Duration::from_millis(settings.database.acquire_timeout_ms.max(100)),
        std::time::Duration::from_millis(settings.database.statement_timeout_ms),
    )
    .context("database.url")?;
    Ok(Database { pool, embedded })
}

/// The secret box from `security.encryption_keys`, or in development mode a key file created
/// beside the embedded data folder (`dev-encryption.key`, mode 0600).
pub fn open_secrets(settings: &Settings, development: bool) -> anyhow::Result<SecretBox> {
    if !settings.security.encryption_keys.is_empty() {
        return SecretBox::from_specs(&settings.security.encryption_keys).context("security.encryption_keys");
    }
    if !development {
        bail!("security.encryption_keys (or PORTICO__SECURITY__ENCRYPTION_KEYS_FILE) is required when database.url is set; generate one with `portico keys generate`");
    }
    let path = dev_key_path(settings)?;
    let spec = if path.exists() {
        SecretString::from(
            std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .trim()
                .to_owned(),
        )
    } else {
        let spec = SecretBox::generate_spec("dev1");
        write_private(&path, spec.expose_secret())?;
        tracing::warn!(path = %path.display(), "created a DEVELOPMENT encryption key; do not use it in production");
        spec
    };
    SecretBox::from_specs(std::slice::from_ref(&spec)).context("development encryption key")
}

fn dev_key_path(settings: &Settings) -> anyhow::Result<PathBuf> {
    let dir = absolute(&settings.embedded.data_dir)?;
    let parent = dir.parent().map(Path::to_path_buf).unwrap_or_else(|| dir.clone());
    Ok(parent.join("dev-encryption.key"))
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}

fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    Ok(())
}

/// On the first development start (no organization yet), bootstraps an owner, an organization
/// and an API key and prints them once, loudly.
pub async fn first_start(pool: &PgPool, settings: &Settings) -> anyhow::Result<()> {
    let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM organizations)")
        .fetch_one(pool)
        .await?;
    if any {
        return Ok(());
    }
    let password = portico_core::token::random_urlsafe(12);
    let b = crate::cli::bootstrap::run(pool, "Development", "dev", "owner@example.com", Some(&password))
        .await
        .map_err(|e| anyhow::anyhow!("bootstrapping the development organization: {e}"))?;
    if crate::telemetry::is_json() {
        // With JSON logs the banner is one JSON object too, written directly like the text banner
        // (development mode only: the credentials are shown this once, as in the text form).
        eprintln!(
            "{}",
            serde_json::json!({
                "level": "WARN",
                "message": "DEVELOPMENT MODE: embedded PostgreSQL and a development encryption key; these credentials are printed once",
                "organizationId": b.organization_id,
                "organizationSlug": b.organization_slug,
                "ownerEmail": b.email,
                "ownerPassword": password,
                "apiKey": b.api_key.expose_secret(),
                "signInUrl": format!("{}/api/auth/sso/{}/login", settings.public_base(), b.organization_slug),
            })
        );
        return Ok(());
    }
    let bar = "=".repeat(78);
    eprintln!(
        "\n{bar}\n  DEVELOPMENT MODE — embedded PostgreSQL and a development encryption key.\n  \
         Not for production: set database.url and security.encryption_keys.\n\n  \
         Organization : {} (slug {})\n  Owner        : {} / password {}\n  API key      : {}\n  \
         Sign-in URL  : {}/api/auth/sso/{}/login\n\n  These credentials are printed once.\n{bar}\n",
        b.organization_id,
        b.organization_slug,
        b.email,
        password,
        b.api_key.expose_secret(),
        settings.public_base(),
        b.organization_slug,
    );
    Ok(())
}
