//! "Test connection" for LDAP: the TLS handshake (or plain connection when allowed), the service
//! bind, the search base (and the group search base) exist. Always a fresh connection.

use portico_core::idp::CheckReport;

use crate::settings::{Resolved, Transport};
use crate::{bind, connect, search};

/// Runs the checks; the first failing step ends the test.
pub(crate) async fn run(r: &Resolved) -> CheckReport {
    let mut report = CheckReport::default();
    let started = std::time::Instant::now();
    let step = if r.transport == Transport::Plain {
        "connect"
    } else {
        "tls"
    };
    let mut ldap = match connect::open(r).await {
        Ok(l) => l,
        Err(e) => {
            report.push(step, false, e.to_string());
            return report;
        }
    };
    let trust = if r.settings.ca_certificate_pem.is_some() {
        "the connection's CA certificate"
    } else {
        "the public web PKI roots"
    };
    report.push(
        step,
        true,
        match r.transport {
            Transport::Plain => format!("connected to {} in plain text (ldapAllowPlaintext)", r.target()),
            t => format!(
                "TLS handshake with {} ({}) verified against {trust} in {} ms",
                r.target(),
                t.as_str(),
                started.elapsed().as_millis()
            ),
        },
    );
    if let Err(e) = bind::service(r, &mut ldap).await {
        report.push("bind", false, portico_core::idp::IdpError::from(e).to_string());
        return report;
    }
    report.push("bind", true, format!("bound as {}", r.settings.bind_dn));
    let mut bases = vec![("search_base", r.settings.search_base.clone())];
    if let Some(g) = &r.settings.group_search_base {
        bases.push(("group_search_base", g.clone()));
    }
    for (name, base) in bases {
        match search::base_exists(r, &mut ldap, &base).await {
            Ok(Ok(())) => report.push(name, true, format!("{base} exists")),
            Ok(Err(why)) => {
                report.push(name, false, why);
                return report;
            }
            Err(e) => {
                report.push(name, false, portico_core::idp::IdpError::from(e).to_string());
                return report;
            }
        }
    }
    let _ = tokio::time::timeout(r.settings.op_timeout, ldap.unbind()).await;
    report
}
