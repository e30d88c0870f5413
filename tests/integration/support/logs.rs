//! Captures every log line the server writes during the test run, so tests can assert that
//! secrets never appear in logs.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

static BUFFER: OnceLock<Buffer> = OnceLock::new();

/// Installs the capturing subscriber (debug level for Portico, JSON lines) once.
pub fn install() {
    BUFFER.get_or_init(|| {
        let buf = Buffer::default();
        let _ = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,portico_server=debug,portico_oidc=debug,portico_store=debug",
            ))
            .with_writer(buf.clone())
            .try_init();
        buf
    });
}

/// Everything logged so far.
pub fn captured() -> String {
    BUFFER
        .get()
        .map(|b| String::from_utf8_lossy(&b.0.lock().expect("log buffer")).into_owned())
        .unwrap_or_default()
}
