//! Building an `IdentityProvider` for a stored connection.

use crate::config::Settings;

/// Shared runtimes of the protocol adapters (caches, guarded HTTP client).
#[derive(Clone)]
pub struct IdpRuntime {}

impl IdpRuntime {
    /// Builds the runtimes from settings.
    pub fn new(_settings: &Settings) -> Self {
        Self {}
    }
}
