//! Portico's guarded outbound HTTP client, used for every call Portico makes to an identity
//! provider (OIDC discovery, JWKS, token and userinfo endpoints, SAML metadata).
//!
//! An [`OutboundClient`] built from an [`OutboundPolicy`]:
//! - refuses `http://` unless [`OutboundPolicy::allow_insecure_http`], and any other scheme;
//! - refuses targets that are not globally routable unicast addresses (see [`forbidden_reason`])
//!   unless [`OutboundPolicy::allow_private_networks`]. IP-literal hosts are checked before the
//!   request; names are checked on the addresses they *resolve to*, inside the client's own DNS
//!   resolver, so the address that is checked is the address that is connected to (no DNS
//!   rebinding between check and use). System proxies are ignored for the same reason;
//! - never follows redirects (a 3xx is returned as it is);
//! - applies one deadline ([`OutboundPolicy::timeout`]) to the whole exchange, body included;
//! - reads bodies as a stream with a hard cap ([`OutboundPolicy::max_body_bytes`]).
//!
//! Error messages name the URL without its query string or credentials.
#![forbid(unsafe_code)]

mod addr;
mod resolver;

use std::error::Error as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use portico_core::idp::IdpError;
use url::{Host, Url};

pub use addr::forbidden_reason;
/// The `http` crate whose request and response types [`OutboundClient::send`] speaks.
pub use http;

use resolver::{GuardedResolver, ResolveError};

/// What outbound calls may do. The default is the production setting: https only, public
/// addresses only, 10 s, 1 MiB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Allow loopback, private, link-local and other non-public targets (tests, on-premises IdPs).
    pub allow_private_networks: bool,
    /// Allow plain `http://` URLs.
    pub allow_insecure_http: bool,
    /// Deadline for one whole exchange: resolution, connection, request, response body.
    pub timeout: Duration,
    /// The largest response body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            allow_insecure_http: false,
            timeout: Duration::from_secs(10),
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// Why an outbound call did not produce a response. `Display` is precise and safe to log: URLs
/// appear without query strings or credentials, and no request or response body is included.
#[derive(Clone, Debug, thiserror::Error)]
pub enum OutboundError {
    /// The URL cannot be used at all (unparsable, no host, unsupported scheme).
    #[error("invalid outbound URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A plain `http://` URL while the policy demands https.
    #[error("refused {url}: plain http is not allowed (use https)")]
    InsecureScheme {
        /// The URL, redacted.
        url: String,
    },
    /// The target is (or resolves only to) a non-public address while private networks are not
    /// allowed.
    #[error(
        "refused {url}: {}; private networks are not allowed",
        describe_forbidden(host, addr, reason)
    )]
    ForbiddenAddress {
        /// The URL, redacted.
        url: String,
        /// The host as written in the URL.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// What kind of address it is.
        reason: &'static str,
    },
    /// The host name could not be resolved.
    #[error("could not resolve {host} for {url}: {message}")]
    Resolve {
        /// The URL, redacted.
        url: String,
        /// The host name.
        host: String,
        /// The resolver's message.
        message: String,
    },
    /// No complete response within the policy's timeout.
    #[error("no complete response from {url} within {}", format_duration(*timeout))]
    Timeout {
        /// The URL, redacted.
        url: String,
        /// The deadline that passed.
        timeout: Duration,
    },
    /// The connection could not be established (refused, reset, TLS failure…).
    #[error("could not connect to {url}: {message}")]
    Connect {
        /// The URL, redacted.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The response body is larger than the policy allows.
    #[error("response from {url} is larger than the {limit}-byte limit")]
    TooLarge {
        /// The URL, redacted.
        url: String,
        /// The cap in bytes.
        limit: usize,
    },
    /// Any other failure while sending the request or reading the response.
    #[error("request to {url} failed: {message}")]
    Request {
        /// The URL, redacted.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The HTTP client itself could not be built.
    #[error("outbound HTTP client unavailable: {0}")]
    Client(String),
}

fn describe_forbidden(host: &str, addr: &IpAddr, reason: &str) -> String {
    if host.trim_start_matches('[').trim_end_matches(']') == addr.to_string() {
        format!("{addr} is {reason}")
    } else {
        format!("{host} resolves to {addr}, {reason}")
    }
}

fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

impl From<OutboundError> for IdpError {
    /// Unusable URLs and clients are configuration problems; an oversized answer is the IdP's
    /// deterministic fault; everything else (refused targets, network failures, timeouts) means
    /// the IdP is unavailable.
    fn from(err: OutboundError) -> Self {
        match err {
            OutboundError::InvalidUrl { .. } | OutboundError::Client(_) => IdpError::Config(err.to_string()),
            OutboundError::TooLarge { .. } => IdpError::ResponseInvalid(err.to_string()),
            _ => IdpError::Unavailable(err.to_string()),
        }
    }
}

/// `scheme://host[:port]/path` of `url`: no credentials, query or fragment.
pub fn redact_url(url: &Url) -> String {
    let mut out = format!("{}://", url.scheme());
    if let Some(host) = url.host_str() {
        out.push_str(host);
    }
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    out.push_str(url.path());
    out
}

/// An HTTP client that enforces an [`OutboundPolicy`]. Cheap to clone (shares one connection pool).
#[derive(Clone, Debug)]
pub struct OutboundClient {
    inner: reqwest::Client,
    policy: OutboundPolicy,
}

impl OutboundClient {
    /// Builds a client for `policy`.
    pub fn new(policy: OutboundPolicy) -> Result<Self, OutboundError> {
        let inner = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver::new(policy.allow_private_networks)))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .https_only(!policy.allow_insecure_http)
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .user_agent(concat!("portico/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OutboundError::Client(error_chain(&e)))?;
        Ok(Self { inner, policy })
    }

    /// The policy this client enforces.
    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }

    /// Checks what can be checked without the network: the scheme, the presence of a host, and
    /// IP-literal hosts against the address rules. Host names are checked when they resolve.
    pub fn check_url(&self, url: &Url) -> Result<(), OutboundError> {
        let shown = redact_url(url);
        match url.scheme() {
            "https" => {}
            "http" if self.policy.allow_insecure_http => {}
            "http" => return Err(OutboundError::InsecureScheme { url: shown }),
            other => {
                return Err(OutboundError::InvalidUrl {
                    url: shown,
                    reason: format!("unsupported scheme `{other}`"),
                });
            }
        }
        let ip = match url.host() {
            None => {
                return Err(OutboundError::InvalidUrl {
                    url: shown,
                    reason: "no host".into(),
                })
            }
            Some(Host::Domain(_)) => return Ok(()),
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        };
        if self.policy.allow_private_networks {
            return Ok(());
        }
        match forbidden_reason(ip) {
            None => Ok(()),
            Some(reason) => Err(OutboundError::ForbiddenAddress {
                url: shown,
                host: url.host_str().unwrap_or_default().to_owned(),
                addr: ip,
                reason,
            }),
        }
    }

    /// Sends `request` under the policy and returns the whole response (status, headers, body).
    /// Non-2xx statuses, redirects included, are responses, not errors.
    pub async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let raw = request.uri().to_string();
        let url = Url::parse(&raw).map_err(|e| OutboundError::InvalidUrl {
            url: raw.split(['?', '#']).next().unwrap_or_default().to_owned(),
            reason: e.to_string(),
        })?;
        self.check_url(&url)?;
        let shown = redact_url(&url);
        let request = reqwest::Request::try_from(request).map_err(|e| OutboundError::InvalidUrl {
            url: shown.clone(),
            reason: error_chain(&e),
        })?;
        let mut response = self.inner.execute(request).await.map_err(|e| self.classify(e, &url))?;

        let limit = self.policy.max_body_bytes;
        if response.content_length().is_some_and(|len| len > limit as u64) {
            return Err(OutboundError::TooLarge { url: shown, limit });
        }
        let mut body = Vec::with_capacity(response.content_length().map_or(0, |len| len as usize));
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e, &url))? {
            if body.len() + chunk.len() > limit {
                return Err(OutboundError::TooLarge { url: shown, limit });
            }
            body.extend_from_slice(&chunk);
        }

        let mut out = http::Response::new(body);
        *out.status_mut() = response.status();
        *out.version_mut() = response.version();
        *out.headers_mut() = std::mem::take(response.headers_mut());
        Ok(out)
    }

    /// `GET url` with `Accept: application/json`.
    pub async fn get_json(&self, url: &str) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let request = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| OutboundError::InvalidUrl {
                url: url.split(['?', '#']).next().unwrap_or_default().to_owned(),
                reason: e.to_string(),
            })?;
        self.send(request).await
    }

    fn classify(&self, err: reqwest::Error, url: &Url) -> OutboundError {
        let shown = redact_url(url);
        let mut source = err.source();
        while let Some(e) = source {
            if let Some(resolve) = e.downcast_ref::<ResolveError>() {
                return resolve.to_outbound(shown);
            }
            source = e.source();
        }
        if err.is_timeout() {
            return OutboundError::Timeout {
                url: shown,
                timeout: self.policy.timeout,
            };
        }
        let is_connect = err.is_connect();
        let message = error_chain(&err.without_url());
        if is_connect {
            OutboundError::Connect { url: shown, message }
        } else {
            OutboundError::Request { url: shown, message }
        }
    }
}

/// `err: source: source…`, skipping repeats.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        let s = e.to_string();
        if parts.last().is_none_or(|last| !last.contains(&s)) {
            parts.push(s);
        }
        source = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests;
