//! The `portico` binary.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match portico_server::cli::main().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            portico_server::telemetry::fatal(&e);
            std::process::ExitCode::FAILURE
        }
    }
}
