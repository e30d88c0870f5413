//! Shared application state: settings, the database pool, the secret box, the identity-provider
//! runtimes and the metrics handle. Everything here is cheap to clone.

use std::sync::Arc;

use portico_core::secretbox::SecretBox;
use portico_store::PgPool;

use crate::config::Settings;

/// State handed to every handler.
#[derive(Clone)]
pub struct AppState {
    /// Settings.
    pub settings: Arc<Settings>,
    /// Database pool.
    pub db: PgPool,
    /// The secret box (current key seals).
    pub secrets: Arc<SecretBox>,
    /// Identity-provider runtimes (shared caches, guarded HTTP client).
    pub idp: crate::idp::IdpRuntime,
    /// Throttling of public sign-in routes.
    pub limits: Arc<crate::ratelimit::RateLimiter>,
    /// Prometheus renderer, when metrics are installed.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Whether the database has been reached and migrated (`serve` starts before it is).
    pub ready: crate::startup::Readiness,
}

impl AppState {
    /// Builds the state.
    pub fn new(settings: Settings, db: PgPool, secrets: SecretBox) -> Self {
        let idp = crate::idp::IdpRuntime::new(&settings);
        Self {
            settings: Arc::new(settings),
            db,
            secrets: Arc::new(secrets),
            idp,
            limits: Arc::default(),
            metrics: crate::telemetry::metrics_handle(),
            ready: crate::startup::Readiness::ready(),
        }
    }

    /// The canonical SSO entry point of an organization.
    pub fn sso_login_url(&self, slug: &str) -> String {
        format!("{}/api/auth/sso/{slug}/login", self.settings.public_base())
    }
}
