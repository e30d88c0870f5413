//! The `portico` binary.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match portico_server::cli::main().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portico: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
