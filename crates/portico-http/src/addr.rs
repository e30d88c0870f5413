//! Which IP addresses an outbound call may reach when private networks are not allowed.
//!
//! The rule is "globally routable unicast only". Everything an attacker could use to reach the
//! machine itself or its neighbours is refused: loopback, RFC 1918 private ranges, shared address
//! space (100.64/10), link-local, unique local (fc00::/7), unspecified, multicast, broadcast,
//! documentation and benchmarking ranges, other reserved ranges, and IPv6 forms that embed an IPv4
//! address the operating system may route to (IPv4-mapped, IPv4-compatible, Teredo; NAT64 and 6to4
//! are refused when the embedded IPv4 address is itself refused).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` may not be the target of an outbound call when private networks are not allowed, or
/// `None` when it is a globally routable unicast address.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    // Ordered so that the most specific, most useful reason wins.
    const RULES: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 32, "the unspecified address"),
        ([255, 255, 255, 255], 32, "the broadcast address"),
        ([0, 0, 0, 0], 8, "in \"this network\" (0.0.0.0/8)"),
        ([10, 0, 0, 0], 8, "a private address (RFC 1918)"),
        ([100, 64, 0, 0], 10, "in the shared address space (100.64.0.0/10)"),
        ([127, 0, 0, 0], 8, "a loopback address"),
        ([169, 254, 0, 0], 16, "a link-local address"),
        ([172, 16, 0, 0], 12, "a private address (RFC 1918)"),
        ([192, 0, 0, 0], 24, "in the IETF protocol assignments (192.0.0.0/24)"),
        ([192, 0, 2, 0], 24, "a documentation address (TEST-NET-1)"),
        ([192, 88, 99, 0], 24, "a 6to4 relay anycast address"),
        ([192, 168, 0, 0], 16, "a private address (RFC 1918)"),
        ([198, 18, 0, 0], 15, "a benchmarking address (198.18.0.0/15)"),
        ([198, 51, 100, 0], 24, "a documentation address (TEST-NET-2)"),
        ([203, 0, 113, 0], 24, "a documentation address (TEST-NET-3)"),
        ([224, 0, 0, 0], 4, "a multicast address"),
        ([240, 0, 0, 0], 4, "a reserved address (240.0.0.0/4)"),
    ];
    RULES
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, why)| *why)
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
    (u128::from(ip) & mask) == (u128::from(Ipv6Addr::from(net)) & mask)
}

fn embedded_v4(bits: u128) -> Ipv4Addr {
    Ipv4Addr::from((bits & 0xffff_ffff) as u32)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    if ip.is_unspecified() {
        return Some("the unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96) {
        return Some("an IPv4-mapped IPv6 address");
    }
    if in_v6(ip, [0; 8], 96) {
        return Some("an IPv4-compatible IPv6 address (deprecated)");
    }
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        return forbidden_v4(embedded_v4(bits)).map(|_| "a NAT64 address embedding a non-public IPv4 address");
    }
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        let v4 = Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32);
        return forbidden_v4(v4).map(|_| "a 6to4 address embedding a non-public IPv4 address");
    }
    const RULES: &[([u16; 8], u32, &str)] = &[
        (
            [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
            48,
            "a local-use NAT64 address (64:ff9b:1::/48)",
        ),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "a discard-only address (100::/64)"),
        (
            [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
            32,
            "a documentation address (2001:db8::/32)",
        ),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "a Teredo address (2001::/32)"),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "a documentation address (3fff::/20)"),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "a unique local address (fc00::/7)"),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "a link-local address"),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "a site-local address (deprecated)"),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "a multicast address"),
    ];
    RULES
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, *net, *prefix))
        .map(|(_, _, why)| *why)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn reason(s: &str) -> Option<&'static str> {
        forbidden_reason(s.parse().unwrap())
    }

    #[test]
    fn refuses_non_public_ipv4() {
        for (ip, fragment) in [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "this network"),
            ("10.0.0.1", "private"),
            ("10.255.255.255", "private"),
            ("100.64.0.1", "shared"),
            ("100.127.255.254", "shared"),
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("169.254.169.254", "link-local"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.0.0.8", "IETF"),
            ("192.0.2.10", "documentation"),
            ("192.168.1.1", "private"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
        ] {
            let why = reason(ip).unwrap_or_else(|| panic!("{ip} must be refused"));
            assert!(why.contains(fragment), "{ip}: {why}");
        }
    }

    #[test]
    fn allows_public_ipv4_next_to_the_refused_ranges() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.255",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert_eq!(reason(ip), None, "{ip} is public");
        }
    }

    #[test]
    fn refuses_non_public_ipv6() {
        for (ip, fragment) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "IPv4-mapped"),
            ("::ffff:8.8.8.8", "IPv4-mapped"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::10.0.0.1", "NAT64"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("2002:7f00:1::", "6to4"),
            ("2002:c0a8:0101::1", "6to4"),
            ("100::1", "discard"),
            ("2001:db8::1", "documentation"),
            ("2001:0:4136:e378::1", "Teredo"),
            ("3fff:123::1", "documentation"),
            ("fc00::1", "unique local"),
            ("fd12:3456:789a::1", "unique local"),
            ("fe80::1", "link-local"),
            ("febf:ffff::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
        ] {
            let why = reason(ip).unwrap_or_else(|| panic!("{ip} must be refused"));
            assert!(why.contains(fragment), "{ip}: {why}");
        }
    }

    #[test]
    fn allows_public_ipv6() {
        for ip in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "64:ff9b::808:808",  // NAT64 of 8.8.8.8
            "2002:0808:0808::1", // 6to4 of 8.8.8.8
        ] {
            assert_eq!(reason(ip), None, "{ip} is public");
        }
    }
}
