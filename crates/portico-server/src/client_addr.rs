//! The client's address behind proxies. `X-Forwarded-For` is a list each proxy appends to, so
//! only its right-most entries were written by hops Portico trusts; the left-most ones are
//! whatever the client sent. Reading it right to left and stopping at the first address that is
//! not a trusted proxy gives the address the outermost trusted proxy saw (the nginx
//! `real_ip_recursive` rule). Hand-written because it is a dozen lines over `ipnet`.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client address of a request that came from `peer` with `headers`.
///
/// Without `trust` the peer is the client. With it and no `trusted` networks, the nearest hop
/// (the peer) is the one trusted proxy: the right-most entry is the client. With `trusted`
/// networks, the header is only read when the peer is one of them, and entries are skipped
/// right to left while they are trusted proxies too.
pub fn resolve(peer: Option<IpAddr>, headers: &HeaderMap, trust: bool, trusted: &[IpNet]) -> Option<IpAddr> {
    if !trust {
        return peer;
    }
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !trusted.is_empty() && !peer.as_ref().is_some_and(is_trusted) {
        return peer;
    }
    // Every header line, in order, as one list (RFC 9110 §5.3).
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = parse_entry(entry) else {
            // A hop we trust wrote something that is no address: keep the last one we trust.
            break;
        };
        client = Some(ip);
        if trusted.is_empty() || !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:80`; IPv4-mapped IPv6 reads as IPv4.
fn parse_entry(s: &str) -> Option<IpAddr> {
    let ip = s
        .parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| s.strip_prefix('[')?.strip_suffix(']')?.parse().ok())?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn untrusted_header_is_ignored() {
        let h = headers(&["9.9.9.9"]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, false, &[]), ip("10.0.0.1"));
    }

    #[test]
    fn nearest_hop_only_takes_the_right_most_entry() {
        // The client wrote 6.6.6.6; the proxy appended the address it saw.
        let h = headers(&["6.6.6.6, 203.0.113.7"]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, true, &[]), ip("203.0.113.7"));
        let h = headers(&["6.6.6.6", "203.0.113.7"]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, true, &[]), ip("203.0.113.7"));
        assert_eq!(resolve(ip("10.0.0.1"), &HeaderMap::new(), true, &[]), ip("10.0.0.1"));
    }

    #[test]
    fn trusted_proxies_are_skipped_right_to_left() {
        let nets: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()];
        let h = headers(&["6.6.6.6, 203.0.113.7, 10.1.1.1, 10.2.2.2"]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, true, &nets), ip("203.0.113.7"));
        // All entries trusted: the left-most of them.
        let h = headers(&["10.9.9.9, 10.1.1.1"]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, true, &nets), ip("10.9.9.9"));
        // A peer outside the trusted networks cannot set the address at all.
        let h = headers(&["6.6.6.6"]);
        assert_eq!(resolve(ip("198.51.100.1"), &h, true, &nets), ip("198.51.100.1"));
    }

    #[test]
    fn ports_brackets_and_garbage() {
        let h = headers(&["[2001:db8::1]:443"]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, true, &[]), ip("2001:db8::1"));
        let h = headers(&["203.0.113.9:5000"]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, true, &[]), ip("203.0.113.9"));
        let h = headers(&["::ffff:203.0.113.9"]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, true, &[]), ip("203.0.113.9"));
        let h = headers(&["6.6.6.6, not-an-ip"]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, true, &[]), ip("10.0.0.1"));
    }
}
