//! The rustls client configuration for LDAPS and StartTLS: the connection's own CA when it has one
//! (then only that CA is trusted), else the public web PKI roots. Certificates are always verified
//! (name or IP against the URL's host); there is no "skip verification" switch.

use std::sync::Arc;

use portico_core::idp::IdpError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// Largest PEM accepted for `ldapCaCertificate`.
pub const MAX_CA_PEM: usize = 64 * 1024;

/// Parses `pem` (one or more `CERTIFICATE` blocks) into a root store; an error names the problem.
pub fn parse_ca(pem: &str) -> Result<RootCertStore, IdpError> {
    if pem.len() > MAX_CA_PEM {
        return Err(IdpError::Config(format!(
            "ldapCaCertificate is over {MAX_CA_PEM} bytes"
        )));
    }
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| IdpError::Config(format!("ldapCaCertificate is not valid PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| IdpError::Config(format!("ldapCaCertificate holds an unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(IdpError::Config(
            "ldapCaCertificate holds no PEM CERTIFICATE block".into(),
        ));
    }
    Ok(roots)
}

/// Checks that `pem` is usable as `ldapCaCertificate` (for validating connection settings).
pub fn check_ca_certificate(pem: &str) -> Result<(), IdpError> {
    parse_ca(pem).map(|_| ())
}

/// The client configuration: TLS 1.2+ with the ring provider, verifying against `ca_pem` when
/// given, else the web PKI roots.
pub(crate) fn client_config(ca_pem: Option<&str>) -> Result<Arc<ClientConfig>, IdpError> {
    let roots = match ca_pem.map(str::trim).filter(|p| !p.is_empty()) {
        Some(pem) => parse_ca(pem)?,
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| IdpError::Config(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
