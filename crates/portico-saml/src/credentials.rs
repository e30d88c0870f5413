//! The SP's own signing key and certificate, generated once per connection.

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};
use portico_core::idp::IdpError;
use secrecy::{ExposeSecret, SecretString};

fn cfg(e: impl std::fmt::Display) -> IdpError {
    IdpError::Config(format!("SP credentials: {e}"))
}

/// Generates an RSA-2048 key (PKCS#8 PEM) and a self-signed certificate (PEM, 10 years) whose
/// subject CN is `common_name` (truncated to 64 characters).
pub fn generate_sp_credentials(common_name: &str) -> Result<(SecretString, String), IdpError> {
    let rsa = Rsa::generate(2048).map_err(cfg)?;
    let key = PKey::from_rsa(rsa).map_err(cfg)?;
    let mut name = X509NameBuilder::new().map_err(cfg)?;
    let cn: String = common_name.chars().take(64).collect();
    name.append_entry_by_text("CN", if cn.is_empty() { "portico-sp" } else { &cn })
        .map_err(cfg)?;
    let name = name.build();
    let mut b = X509::builder().map_err(cfg)?;
    b.set_version(2).map_err(cfg)?;
    let mut serial = BigNum::new().map_err(cfg)?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false).map_err(cfg)?;
    let serial = Asn1Integer::from_bn(&serial).map_err(cfg)?;
    b.set_serial_number(&serial).map_err(cfg)?;
    b.set_subject_name(&name).map_err(cfg)?;
    b.set_issuer_name(&name).map_err(cfg)?;
    b.set_pubkey(&key).map_err(cfg)?;
    let (from, until) = (
        Asn1Time::days_from_now(0).map_err(cfg)?,
        Asn1Time::days_from_now(3650).map_err(cfg)?,
    );
    b.set_not_before(&from).map_err(cfg)?;
    b.set_not_after(&until).map_err(cfg)?;
    b.sign(&key, MessageDigest::sha256()).map_err(cfg)?;
    let cert = b.build().to_pem().map_err(cfg)?;
    let key_pem = key.private_key_to_pem_pkcs8().map_err(cfg)?;
    let key_pem = String::from_utf8(key_pem).map_err(cfg)?;
    let cert = String::from_utf8(cert).map_err(cfg)?;
    Ok((SecretString::from(key_pem), cert))
}

/// Opens a PEM private key.
pub fn load_private_key(pem: &SecretString) -> Result<PKey<Private>, IdpError> {
    PKey::private_key_from_pem(pem.expose_secret().as_bytes())
        .map_err(|_| IdpError::Config("the SP private key is unreadable".into()))
}
