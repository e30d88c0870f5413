//! `portico healthcheck`: the container health check. It asks a running server's `/healthz` and
//! succeeds on a 2xx answer, so the runtime image needs neither a shell nor curl.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::bail;
use axum::http;
use portico_http::{OutboundClient, OutboundPolicy};

/// The URL asked when none is given: `/healthz` on `bind`'s port, over loopback when the server
/// listens on every address (`0.0.0.0` or `::`).
pub fn default_url(bind: SocketAddr) -> String {
    let ip = match bind.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/healthz", SocketAddr::new(ip, bind.port()))
}

/// Asks `url` once within `timeout`; an error names the URL and what went wrong (no answer, or
/// the status answered).
pub async fn run(url: &str, timeout: Duration) -> anyhow::Result<()> {
    // The outbound client's own policy, opened to loopback and plain http: the server asks itself.
    let client = OutboundClient::new(OutboundPolicy {
        allow_private_networks: true,
        allow_insecure_http: true,
        timeout,
        max_body_bytes: 64 * 1024,
    })?;
    let request = http::Request::get(url).body(Vec::new())?;
    let response = client
        .send(request)
        .await
        .map_err(|e| anyhow::anyhow!("health check of {url}: {e}"))?;
    if !response.status().is_success() {
        bail!("health check of {url}: answered {}", response.status());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::default_url;

    #[test]
    fn every_address_binds_are_asked_over_loopback() {
        let url = |s: &str| default_url(s.parse().unwrap());
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080/healthz");
        assert_eq!(url("[::]:9000"), "http://[::1]:9000/healthz");
        assert_eq!(url("10.1.2.3:8080"), "http://10.1.2.3:8080/healthz");
    }
}
