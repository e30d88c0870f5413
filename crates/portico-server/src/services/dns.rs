//! Live DNS TXT lookups for domain verification, through `dns.nameservers` (UDP, then TCP) or
//! the system's resolver configuration when none is set. A fresh resolver per lookup: answers
//! are never served from a cache, so publishing a record and retrying works at once.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

use crate::config::Settings;

/// Longest TXT answer considered (bytes over all strings of all records).
const MAX_TXT_BYTES: usize = 16 * 1024;

/// What a TXT lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxtLookup {
    /// The TXT records at the name, each one's strings joined.
    Found(Vec<String>),
    /// The name does not exist or has no TXT record.
    NotFound,
    /// The lookup failed (timeout, refused, server failure); the detail is for the log.
    Failed(String),
}

/// Parses one `dns.nameservers` entry: `ip:port`, `[v6]:port` or a bare IP (port 53).
pub fn parse_nameserver(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    s.parse::<SocketAddr>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
}

fn per_query_timeout(settings: &Settings) -> Duration {
    Duration::from_secs(settings.outbound.timeout_secs.clamp(1, 10))
}

fn resolver(settings: &Settings) -> Result<TokioResolver, String> {
    let mut builder = if settings.dns.nameservers.is_empty() {
        Resolver::builder_tokio().map_err(|e| format!("system resolver configuration: {e}"))?
    } else {
        let mut servers = Vec::new();
        for entry in &settings.dns.nameservers {
            let addr =
                parse_nameserver(entry).ok_or_else(|| format!("dns.nameservers entry {entry:?} is not ip:port"))?;
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut ns.connections {
                c.port = addr.port();
            }
            servers.push(ns);
        }
        Resolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
    };
    let opts: &mut ResolverOpts = builder.options_mut();
    opts.timeout = per_query_timeout(settings);
    opts.attempts = 2;
    builder.build().map_err(|e| format!("resolver: {e}"))
}

/// Looks up the TXT records at `name` (a fully qualified name; a trailing dot is added).
pub async fn txt(settings: &Settings, name: &str) -> TxtLookup {
    let fqdn = if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    };
    let resolver = match resolver(settings) {
        Ok(r) => r,
        Err(e) => return TxtLookup::Failed(e),
    };
    // UDP then TCP, each with its attempts: bound the whole lookup as well.
    let overall = per_query_timeout(settings) * 5;
    let answer = match tokio::time::timeout(overall, resolver.txt_lookup(fqdn.as_str())).await {
        Err(_) => return TxtLookup::Failed(format!("lookup of {fqdn} timed out")),
        Ok(Err(e)) if e.is_no_records_found() => return TxtLookup::NotFound,
        Ok(Err(e)) => return TxtLookup::Failed(format!("lookup of {fqdn}: {e}")),
        Ok(Ok(lookup)) => lookup,
    };
    let mut total = 0;
    let mut values = Vec::new();
    for record in answer.answers() {
        if let RData::TXT(txt) = &record.data {
            let joined: Vec<u8> = txt.txt_data.iter().flat_map(|s| s.iter().copied()).collect();
            total += joined.len();
            if total > MAX_TXT_BYTES {
                return TxtLookup::Failed(format!("TXT answer for {fqdn} is over {MAX_TXT_BYTES} bytes"));
            }
            values.push(String::from_utf8_lossy(&joined).into_owned());
        }
    }
    if values.is_empty() {
        TxtLookup::NotFound
    } else {
        TxtLookup::Found(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameserver_entries() {
        assert_eq!(
            parse_nameserver("127.0.0.1:5353"),
            Some(SocketAddr::from(([127, 0, 0, 1], 5353)))
        );
        assert_eq!(
            parse_nameserver(" 9.9.9.9 "),
            Some(SocketAddr::from(([9, 9, 9, 9], 53)))
        );
        assert!(parse_nameserver("[::1]:53").is_some());
        assert_eq!(parse_nameserver("dns.example:53"), None);
    }
}
