//! `portico clients add|list|remove|rotate-secret`: the applications that sign people in through
//! Portico. Each prints one JSON object; a secret is printed once and stored hashed.

use clap::Subcommand;
use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::services::provider::clients::{self, NewClient};

/// `portico clients …`.
#[derive(Subcommand, Debug)]
pub enum ClientsAction {
    /// Register an application; prints `client_id` (and `client_secret` once, when confidential).
    Add {
        /// Display name.
        #[arg(long)]
        name: String,
        /// A redirect URI (exact match; repeat for several).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Where logout may return (repeatable).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (SPA, native app): no secret, PKCE S256 required.
        #[arg(long)]
        public: bool,
        /// ID-token algorithm.
        #[arg(long = "id-token-alg", default_value = "ES256", value_parser = ["ES256", "RS256"])]
        id_token_alg: String,
    },
    /// List the registered applications.
    List,
    /// Remove an application (its grants and tokens end at once).
    Remove {
        /// The client id.
        id: String,
    },
    /// Issue a new secret (the old one stops working at once).
    RotateSecret {
        /// The client id.
        id: String,
    },
}

/// Runs a clients action.
pub async fn run(action: &ClientsAction, settings: &Settings, pool: &portico_store::PgPool) -> anyhow::Result<()> {
    let err = |e: crate::error::ApiError| anyhow::anyhow!("{e}");
    match action {
        ClientsAction::Add {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            id_token_alg,
        } => {
            let n = NewClient {
                name: name.clone(),
                redirect_uris: redirect_uris.clone(),
                post_logout_redirect_uris: post_logout_redirect_uris.clone(),
                public: *public,
                id_token_alg: id_token_alg.clone(),
            };
            let (c, secret) = clients::add(pool, n, !settings.secure_cookies()).await.map_err(err)?;
            let mut v = clients::view(&c);
            if let Some(s) = secret {
                v["client_secret"] = serde_json::json!(s.expose_secret());
            }
            println!("{v}");
        }
        ClientsAction::List => {
            let all = portico_store::oauth_clients::list(pool).await?;
            println!(
                "{}",
                serde_json::json!({ "clients": all.iter().map(clients::view).collect::<Vec<_>>() })
            );
        }
        ClientsAction::Remove { id } => {
            let removed = portico_store::oauth_clients::delete(pool, id).await?;
            anyhow::ensure!(removed, "no client {id}");
            println!("{}", serde_json::json!({ "removed": id }));
        }
        ClientsAction::RotateSecret { id } => {
            let s = clients::rotate_secret(pool, id).await.map_err(err)?;
            println!(
                "{}",
                serde_json::json!({ "client_id": id, "client_secret": s.expose_secret() })
            );
        }
    }
    Ok(())
}
