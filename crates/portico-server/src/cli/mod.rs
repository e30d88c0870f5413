//! The `portico` command line: `serve`, `migrate`, `bootstrap`, `keys rotate`, `keys generate`,
//! `clients`. The commands that only the command line runs live beside it.

pub mod bootstrap;
pub mod clients;
pub mod healthcheck;
pub mod keys;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::devmode;
use crate::startup;
use crate::state::AppState;

/// Portico — self-hostable enterprise SSO.
#[derive(Parser, Debug)]
#[command(name = "portico", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server (embedded PostgreSQL when no database URL is set).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Create an owner, an organization and an API key pinned to it; prints one JSON object.
    Bootstrap {
        /// Organization display name.
        #[arg(long)]
        org_name: String,
        /// Organization slug.
        #[arg(long)]
        org_slug: String,
        /// Owner's email (an existing user is reused).
        #[arg(long)]
        owner_email: String,
        /// Owner's password (optional; SSO-only owners need none).
        #[arg(long, env = "PORTICO_OWNER_PASSWORD")]
        owner_password: Option<String>,
    },
    /// Encryption key management.
    Keys {
        /// Key action.
        #[command(subcommand)]
        action: KeysAction,
    },
    /// The applications signing people in through Portico (OpenID Provider clients).
    Clients {
        /// Client action.
        #[command(subcommand)]
        action: clients::ClientsAction,
    },
    /// Ask a running server's `/healthz` (the container health check); exits 1 unless it answers 2xx.
    Healthcheck {
        /// The URL to ask; default `/healthz` on `server.bind`'s port (loopback when bound to every address).
        #[arg(long)]
        url: Option<String>,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 2)]
        timeout_secs: u64,
    },
}

/// `portico keys …`.
#[derive(Subcommand, Debug)]
pub enum KeysAction {
    /// Re-encrypt every stored secret with the current (first) key.
    Rotate,
    /// Print a new random key spec `id:base64` to put first in security.encryption_keys.
    Generate {
        /// Key id.
        #[arg(long, default_value = "k1")]
        id: String,
    },
    /// Publish a new ID-token signing key in the JWKS without signing with it yet.
    StageSigning,
    /// Make the newest staged signing key the signer (none staged: a fresh key at once).
    RotateSigning,
}

/// Entry point of the binary. Results go to stdout; stderr carries only warnings and errors,
/// except for `serve`, which logs at the configured level.
pub async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Keys {
        action: KeysAction::Generate { id },
    } = &cli.command
    {
        println!(
            "{}",
            portico_core::secretbox::SecretBox::generate_spec(id).expose_secret()
        );
        return Ok(());
    }
    let settings = Settings::load()?;
    if let Command::Healthcheck { url, timeout_secs } = &cli.command {
        let url = url
            .clone()
            .unwrap_or_else(|| healthcheck::default_url(settings.server.bind));
        return healthcheck::run(&url, std::time::Duration::from_secs(*timeout_secs)).await;
    }
    crate::telemetry::init_logging(&settings.log, !matches!(cli.command, Command::Serve));
    let mut db = devmode::open_database(&settings).await?;
    let development = db.embedded.is_some();
    let result = match &cli.command {
        Command::Serve => serve(settings, db.pool.clone(), development).await,
        cmd => match startup::prepare_database(&db.pool, &settings).await {
            Ok(()) => run_command(cmd, settings, &db.pool, development).await,
            Err(e) => Err(e),
        },
    };
    db.pool.close().await;
    if let Some(pg) = db.embedded.as_mut() {
        if let Err(e) = pg.stop().await {
            tracing::warn!(error = %e, "stopping the embedded PostgreSQL failed");
        }
    }
    result
}

async fn run_command(
    cmd: &Command,
    settings: Settings,
    pool: &portico_store::PgPool,
    development: bool,
) -> anyhow::Result<()> {
    match cmd {
        Command::Migrate => {
            let version = portico_store::schema_version(pool)
                .await
                .map_err(|e| anyhow::anyhow!("reading the schema version: {e}"))?;
            println!("{}", serde_json::json!({ "migrated": true, "schemaVersion": version }));
            Ok(())
        }
        Command::Bootstrap {
            org_name,
            org_slug,
            owner_email,
            owner_password,
        } => {
            let b = bootstrap::run(pool, org_name, org_slug, owner_email, owner_password.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("bootstrap failed: {e}"))?;
            println!(
                "{}",
                serde_json::json!({ "organizationId": b.organization_id, "userId": b.user_id, "apiKey": b.api_key.expose_secret() })
            );
            Ok(())
        }
        Command::Keys {
            action: KeysAction::Rotate,
        } => {
            let secrets = devmode::open_secrets(&settings, development)?;
            let n = keys::rotate(pool, &secrets)
                .await
                .map_err(|e| anyhow::anyhow!("rotation failed: {e}"))?;
            println!(
                "{}",
                serde_json::json!({ "resealed": n, "currentKeyId": secrets.current_key_id() })
            );
            Ok(())
        }
        Command::Keys {
            action: KeysAction::Generate { .. },
        } => Ok(()),
        Command::Keys {
            action: KeysAction::StageSigning,
        } => {
            let secrets = devmode::open_secrets(&settings, development)?;
            let kids = crate::services::provider::keys::stage(pool, &secrets)
                .await
                .map_err(|e| anyhow::anyhow!("staging failed: {e}"))?;
            println!("{}", serde_json::json!({ "staged": kids }));
            Ok(())
        }
        Command::Keys {
            action: KeysAction::RotateSigning,
        } => {
            let secrets = devmode::open_secrets(&settings, development)?;
            let kids = crate::services::provider::keys::rotate(pool, &secrets)
                .await
                .map_err(|e| anyhow::anyhow!("rotation failed: {e}"))?;
            println!("{}", serde_json::json!({ "signing": kids }));
            Ok(())
        }
        Command::Clients { action } => clients::run(action, &settings, pool).await,
        Command::Serve | Command::Healthcheck { .. } => Ok(()),
    }
}

/// Listens at once (`/healthz` answers, `/readyz` and every other route say 503), then waits for
/// the database and migrates it, then serves. A database that never comes, or a stop signal
/// meanwhile, ends the server.
async fn serve(settings: Settings, pool: portico_store::PgPool, development: bool) -> anyhow::Result<()> {
    let secrets = devmode::open_secrets(&settings, development)?;
    let listener = tokio::net::TcpListener::bind(settings.server.bind)
        .await
        .with_context(|| format!("binding {}", settings.server.bind))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, public_url = %settings.server.public_url, "portico listening on http://{addr}");
    let mut state = AppState::new(settings, pool.clone(), secrets);
    state.ready = startup::Readiness::waiting();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(crate::serve(listener, state.clone(), async move {
        tokio::select! {
            () = shutdown_signal() => {},
            _ = stopped => {},
        }
    }));
    let prepare = async {
        startup::prepare_database(&pool, &state.settings).await?;
        if development {
            devmode::first_start(&pool, &state.settings).await?;
        }
        crate::services::provider::keys::ensure(&pool, &state.secrets)
            .await
            .map_err(|e| anyhow::anyhow!("signing keys: {e}"))?;
        anyhow::Ok(())
    };
    tokio::select! {
        r = prepare => {
            if let Err(e) = r {
                let _ = stop.send(());
                let _ = server.await;
                return Err(e);
            }
        }
        r = &mut server => {
            r.context("the HTTP server task")??;
            tracing::info!("portico stopped before the database was reached");
            return Ok(());
        }
    }
    state.ready.set_ready();
    tracing::info!("portico ready");
    server.await.context("the HTTP server task")??;
    tracing::info!("portico stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
