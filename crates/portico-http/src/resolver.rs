//! The DNS resolver of the guarded client: resolves with the system resolver, then drops every
//! address the policy refuses. The connector only ever sees what this returns, so the checked
//! address is the connected address.

use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::{forbidden_reason, OutboundError};

/// Resolution failures, carried through reqwest's error chain and turned back into
/// [`OutboundError`]s by the client.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ResolveError {
    #[error("{host}: {message}")]
    Lookup { host: String, message: String },
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    #[error("{host} resolves only to refused addresses ({addr}: {reason})")]
    Forbidden {
        host: String,
        addr: IpAddr,
        reason: &'static str,
    },
}

impl ResolveError {
    pub(crate) fn to_outbound(&self, url: String) -> OutboundError {
        match self {
            Self::Lookup { host, message } => OutboundError::Resolve {
                url,
                host: host.clone(),
                message: message.clone(),
            },
            Self::NoAddress { host } => OutboundError::Resolve {
                url,
                host: host.clone(),
                message: "no address".into(),
            },
            Self::Forbidden { host, addr, reason } => OutboundError::ForbiddenAddress {
                url,
                host: host.clone(),
                addr: *addr,
                reason,
            },
        }
    }
}

/// Keeps only the addresses that `allow_private` permits; refuses when none is left.
pub(crate) fn filter_addrs(
    host: &str,
    addrs: Vec<SocketAddr>,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, ResolveError> {
    if addrs.is_empty() {
        return Err(ResolveError::NoAddress { host: host.to_owned() });
    }
    if allow_private {
        return Ok(addrs);
    }
    let mut refused = None;
    let kept: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| match forbidden_reason(a.ip()) {
            None => true,
            Some(reason) => {
                refused.get_or_insert((a.ip(), reason));
                false
            }
        })
        .collect();
    match (kept.is_empty(), refused) {
        (true, Some((addr, reason))) => Err(ResolveError::Forbidden {
            host: host.to_owned(),
            addr,
            reason,
        }),
        (true, None) => Err(ResolveError::NoAddress { host: host.to_owned() }),
        (false, _) => Ok(kept),
    }
}

#[derive(Debug)]
pub(crate) struct GuardedResolver {
    allow_private: bool,
}

impl GuardedResolver {
    pub(crate) fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| ResolveError::Lookup {
                    host: host.clone(),
                    message: e.to_string(),
                })?
                .collect();
            let kept = filter_addrs(&host, addrs, allow_private)?;
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}
