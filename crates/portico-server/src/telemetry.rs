//! Logging (JSON or pretty, with request ids) and the Prometheus recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogSettings;

static JSON: OnceLock<bool> = OnceLock::new();

/// Installs the global tracing subscriber (idempotent). With `log.format = json` every line is
/// one JSON object, panics included. `one_shot` commands (everything but `serve`) log warnings
/// and errors only, unless `PORTICO_LOG` says otherwise: their result goes to stdout.
pub fn init_logging(log: &LogSettings, one_shot: bool) {
    let json = log.format == "json";
    if JSON.set(json).is_err() {
        return;
    }
    let level = if one_shot { "warn" } else { log.level.as_str() };
    let filter = EnvFilter::try_from_env("PORTICO_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        std::panic::set_hook(Box::new(|info| {
            tracing::error!(panic = %info, "portico panicked");
        }));
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// True when logging is JSON (after [`init_logging`]).
pub fn is_json() -> bool {
    JSON.get().copied().unwrap_or(false)
}

/// Reports the error that ends the process: a JSON line when logs are JSON (the format read
/// from the configuration layers when the configuration itself failed to load), otherwise
/// `portico: …` on stderr.
pub fn fatal(error: &anyhow::Error) {
    if JSON.get().is_none() {
        let env: Vec<(String, String)> = std::env::vars().collect();
        init_logging(&crate::config::Settings::log_settings_from(&env), true);
    }
    if is_json() {
        tracing::error!(error = %format!("{error:#}"), "portico: {error:#}");
    } else {
        eprintln!("portico: {error:#}");
    }
}

/// The process-wide Prometheus handle (installed on first use).
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
}
