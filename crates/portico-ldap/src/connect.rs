//! Opening connections: resolve, check every address against the outbound rule, connect with a
//! deadline to an address that passed (the checked address is the one used: no DNS rebinding),
//! then LDAPS or StartTLS through ldap3 on rustls. A StartTLS refusal or a failed handshake fails
//! the connection; nothing is ever sent in clear instead. Every operation runs under a deadline.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, StdStream};
use portico_core::idp::IdpError;
use tokio::net::TcpStream;

use crate::settings::{Resolved, Transport};

/// A connection that failed at the transport level (I/O error, timeout, closed): it must not be
/// used again. LDAP result codes are not failures of this kind.
#[derive(Debug)]
pub(crate) struct Broken(pub String);

impl From<Broken> for IdpError {
    fn from(b: Broken) -> Self {
        IdpError::Unavailable(b.0)
    }
}

/// An operation's failure: a broken connection (worth one retry on a fresh connection when the
/// broken one came from the pool), or a definite answer.
#[derive(Debug)]
pub(crate) enum Fail {
    /// The connection is unusable.
    Broken(Broken),
    /// A definite outcome (misconfiguration, refusal, bad credentials).
    Idp(IdpError),
}

impl From<Broken> for Fail {
    fn from(b: Broken) -> Self {
        Self::Broken(b)
    }
}

impl From<IdpError> for Fail {
    fn from(e: IdpError) -> Self {
        Self::Idp(e)
    }
}

impl From<Fail> for IdpError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Broken(b) => b.into(),
            Fail::Idp(e) => e,
        }
    }
}

/// Server diagnostic text, bounded, for audit reasons.
pub(crate) fn diag(text: &str) -> String {
    let t: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    if t.is_empty() {
        String::new()
    } else {
        format!(": {t}")
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// Opens a connection (not bound) within the connect deadline.
pub(crate) async fn open(r: &Resolved) -> Result<Ldap, IdpError> {
    let deadline = r.settings.connect_timeout;
    match tokio::time::timeout(deadline, open_inner(r)).await {
        Ok(res) => res,
        Err(_) => Err(IdpError::Unavailable(format!(
            "no answer from {} within {} ms while connecting ({})",
            r.target(),
            ms(deadline),
            r.transport.as_str()
        ))),
    }
}

async fn resolve(r: &Resolved) -> Result<Vec<SocketAddr>, IdpError> {
    if let Ok(ip) = r.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, r.port)]);
    }
    let addrs = tokio::net::lookup_host((r.host.as_str(), r.port))
        .await
        .map_err(|e| IdpError::Unavailable(format!("cannot resolve {}: {e}", r.host)))?;
    Ok(addrs.collect())
}

async fn open_inner(r: &Resolved) -> Result<Ldap, IdpError> {
    let mut refused = None;
    let allowed: Vec<SocketAddr> = resolve(r)
        .await?
        .into_iter()
        .filter(|a| match r.settings.address_guard.and_then(|guard| guard(a.ip())) {
            Some(why) => {
                refused = Some((a.ip(), why));
                false
            }
            None => true,
        })
        .collect();
    if allowed.is_empty() {
        return Err(IdpError::Unavailable(match refused {
            Some((ip, why)) => format!(
                "refused to connect to {}: {ip} is {why} (private networks are not allowed)",
                r.host
            ),
            None => format!("{} resolves to no address", r.host),
        }));
    }
    let mut last = String::new();
    let mut stream = None;
    for addr in allowed {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    let stream = stream.ok_or(IdpError::Unavailable(last))?;
    let _ = stream.set_nodelay(true);
    let std_stream = stream
        .into_std()
        .map_err(|e| IdpError::Unavailable(format!("socket setup for {}: {e}", r.target())))?;
    let mut cs = LdapConnSettings::new().set_std_stream(StdStream::Tcp(std_stream));
    match (r.transport, &r.tls) {
        (Transport::Ldaps, Some(tls)) => cs = cs.set_config(tls.clone()),
        (Transport::StartTls, Some(tls)) => cs = cs.set_config(tls.clone()).set_starttls(true),
        (Transport::Plain, _) => {}
        (_, None) => return Err(IdpError::Config("TLS transport without a TLS configuration".into())),
    }
    let (conn, ldap) = LdapConnAsync::with_settings(cs, &r.base_url)
        .await
        .map_err(|e| setup_error(r, e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.drive().await {
            tracing::debug!(error = %e, "LDAP connection ended with an error");
        }
    });
    Ok(ldap)
}

/// Why the TLS / StartTLS stage failed (the TCP connection was already up).
fn setup_error(r: &Resolved, e: LdapError) -> IdpError {
    let target = r.target();
    IdpError::Unavailable(match (r.transport, e) {
        (Transport::StartTls, LdapError::LdapResult { result }) => format!(
            "{target} refused StartTLS (rc={} {}); plain text is never used instead",
            result.rc, result.text
        ),
        (Transport::StartTls | Transport::Ldaps, e) => {
            format!("TLS handshake with {target} failed ({}): {e}", r.transport.as_str())
        }
        (Transport::Plain, e) => format!("LDAP connection to {target} failed: {e}"),
    })
}

/// Runs one LDAP operation under the operation deadline. `Err` means the connection is broken
/// (I/O failure, closed, or no answer in time); LDAP result codes come back in `Ok`.
pub(crate) async fn timed<T, F>(r: &Resolved, what: &str, op: F) -> Result<T, Broken>
where
    F: Future<Output = ldap3::result::Result<T>>,
{
    match tokio::time::timeout(r.settings.op_timeout, op).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Broken(format!("{what} on {} failed: {e}", r.target()))),
        Err(_) => Err(Broken(format!(
            "no answer from {} to {what} within {} ms",
            r.target(),
            ms(r.settings.op_timeout)
        ))),
    }
}
