//! Connection handling with limits: the accept loop, a cap on open connections, the time a
//! client has to send a request head (which also bounds an idle keep-alive connection) and its
//! body. `axum::serve` offers none of these, so connections are served by hyper's HTTP/1 builder
//! directly (hyper-util's graceful shutdown), with the application as a tower service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::Semaphore;

use crate::config::ServerSettings;
use crate::error::ApiError;

/// How long open requests may finish after shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection limits of `[server]`.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// Open connections served at once.
    pub max_connections: usize,
    /// Time to send a request head (also the idle keep-alive limit).
    pub header_read_timeout: Duration,
}

impl From<&ServerSettings> for ConnLimits {
    fn from(s: &ServerSettings) -> Self {
        Self {
            max_connections: s.max_connections.max(1),
            header_read_timeout: Duration::from_secs(s.header_read_timeout_secs.max(1)),
        }
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown` resolves, then lets open requests
/// finish (at most [`DRAIN_TIMEOUT`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let header_timeout = limits.header_read_timeout;
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // At the cap, stop accepting: new clients wait in the kernel's backlog, open ones are
        // served (a flood of idle sockets cannot take the slots for long: each is cut at the
        // header timeout).
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = tower::ServiceExt::map_request(app.clone(), move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            req
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(svc));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after the drain timeout; closing them");
    }
    Ok(())
}

/// Middleware: the whole request body must arrive within `limit` (a minimum body rate: a client
/// dripping bytes cannot hold a connection and a handler), and be at most `max_bytes` (413). The
/// body is buffered here, once, so handlers read it from memory.
pub async fn body_deadline(limit: Duration, max_bytes: usize, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    if declared.unwrap_or(0) == 0 && !chunked {
        return next.run(req).await;
    }
    if declared.is_some_and(|n| n > max_bytes as u64) {
        return close(ApiError::PayloadTooLarge.into_response());
    }
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, max_bytes);
    let collected = tokio::time::timeout(limit, http_body_util::BodyExt::collect(limited)).await;
    let bytes = match collected {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return close(ApiError::PayloadTooLarge.into_response());
        }
        Ok(Err(_)) => return close(ApiError::field("body", "could not read the request body").into_response()),
        Err(_) => {
            return close(
                ApiError::Coded {
                    status: StatusCode::REQUEST_TIMEOUT,
                    code: "REQUEST_TIMEOUT",
                    message: format!("the request body did not arrive within {} s", limit.as_secs()),
                }
                .into_response(),
            )
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Asks hyper to close the connection after this answer (its body was not read to the end).
fn close(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}
