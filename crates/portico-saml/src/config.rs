//! A connection's SAML settings as the adapter sees them, and IdP certificate handling.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use openssl::pkey::{PKey, Public};
use openssl::x509::X509;
use portico_core::idp::IdpError;
use secrecy::SecretString;

/// Accepted clock skew on every time window (NotBefore, NotOnOrAfter, IssueInstant).
pub const MAX_CLOCK_SKEW_SECS: i64 = 180;
/// How old a Response or Assertion `IssueInstant` may be.
pub const MAX_ISSUE_AGE_SECS: i64 = 600;

/// Where the IdP's description comes from.
#[derive(Clone, Debug)]
pub enum IdpSource {
    /// Pasted IdP metadata XML; `entity_id` picks one entity out of an `EntitiesDescriptor`.
    MetadataXml {
        /// The XML.
        xml: String,
        /// The IdP entity ID to select (optional when the document describes one IdP).
        entity_id: Option<String>,
    },
    /// IdP metadata fetched (through the outbound guard) from a URL, cached and refreshed.
    MetadataUrl {
        /// The URL.
        url: String,
        /// The IdP entity ID to select (optional).
        entity_id: Option<String>,
    },
    /// Explicit settings.
    Explicit {
        /// The IdP entity ID (the Issuer of its responses).
        entity_id: String,
        /// The IdP's HTTP-Redirect SSO URL.
        sso_url: String,
        /// The IdP signing certificates (PEM or bare base64 DER); several for rotation.
        certificates: Vec<String>,
    },
}

/// Which signatures a response must carry. Whatever the policy, the assertion that is used is
/// always covered by a signature by a configured certificate, and every signature present must
/// verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignaturePolicy {
    /// The `Response` element must be signed.
    pub require_signed_response: bool,
    /// The `Assertion` element must carry its own signature.
    pub require_signed_assertion: bool,
}

impl Default for SignaturePolicy {
    /// The default: the used Assertion is covered by a valid signature — its own or the
    /// enclosing Response's. Entra ID, ADFS and OneLogin sign only the assertion unless told
    /// otherwise; some IdPs sign only the Response. Both knobs tighten it per connection.
    fn default() -> Self {
        Self {
            require_signed_response: false,
            require_signed_assertion: false,
        }
    }
}

impl SignaturePolicy {
    /// Both the Response and the Assertion signed (the strictest setting).
    pub fn both() -> Self {
        Self {
            require_signed_response: true,
            require_signed_assertion: true,
        }
    }
}

/// Attribute names for the identity fields; `None` uses the defaults (plain names and the
/// Okta, Entra ID / ADFS and LDAP-OID URIs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttributeMapping {
    /// Email attribute.
    pub email: Option<String>,
    /// Display name attribute.
    pub name: Option<String>,
    /// Given name attribute.
    pub first_name: Option<String>,
    /// Family name attribute.
    pub last_name: Option<String>,
    /// Groups attribute (the connection's `groupAttribute` wins over this).
    pub groups: Option<String>,
}

impl AttributeMapping {
    /// Reads a connection's `attributeMapping` object (`email`, `name`, `firstName`/`givenName`,
    /// `lastName`/`familyName`, `groups`); unknown keys are ignored.
    pub fn from_map(map: &BTreeMap<String, String>) -> Self {
        let pick = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| map.get(*k))
                .filter(|v| !v.trim().is_empty())
                .cloned()
        };
        Self {
            email: pick(&["email", "mail"]),
            name: pick(&["name", "displayName", "display_name"]),
            first_name: pick(&["firstName", "first_name", "givenName", "given_name"]),
            last_name: pick(&["lastName", "last_name", "familyName", "family_name", "surname"]),
            groups: pick(&["groups", "group"]),
        }
    }
}

/// Everything the SAML adapter needs for one connection.
#[derive(Clone, Debug)]
pub struct SamlConfig {
    /// The SP entity ID (Audience).
    pub sp_entity_id: String,
    /// The SP's ACS published in its metadata (Destination/Recipient of SP-initiated logins is
    /// the ACS the login started with).
    pub acs_url: String,
    /// The ACS of IdP-initiated (unsolicited) responses, when the connection opted in.
    pub idp_initiated_acs_url: Option<String>,
    /// The SP signing key (PKCS#8 PEM), used to sign AuthnRequests.
    pub sp_key_pem: Option<SecretString>,
    /// The SP certificate (PEM), published in the SP metadata.
    pub sp_cert_pem: Option<String>,
    /// The IdP.
    pub idp: IdpSource,
    /// Accept RSA-SHA1 / SHA-1 digests (off by default).
    pub allow_sha1: bool,
    /// Accept unsolicited responses (off by default).
    pub allow_idp_initiated: bool,
    /// Signature requirements.
    pub signatures: SignaturePolicy,
    /// Attribute names.
    pub attribute_mapping: AttributeMapping,
    /// The attribute carrying groups (`groupAttribute`).
    pub group_attribute: Option<String>,
}

/// A parsed IdP signing certificate.
#[derive(Clone, Debug)]
pub struct IdpCertificate {
    /// DER bytes.
    pub der: Vec<u8>,
    /// The public key, loaded once (signatures are verified with it, never with a key carried
    /// by a response).
    pub public_key: PKey<Public>,
    /// Subject, for reports.
    pub subject: String,
    /// Expiry.
    pub not_after: DateTime<Utc>,
}

/// Parses one certificate given as PEM or as bare base64 DER (as in metadata). RSA keys under
/// 2048 bits are refused.
pub fn parse_certificate(text: &str) -> Result<IdpCertificate, String> {
    let trimmed = text.trim();
    let x509 = if trimmed.contains("-----BEGIN") {
        X509::from_pem(trimmed.as_bytes()).map_err(|_| "not a PEM certificate".to_owned())?
    } else {
        let b64: String = trimmed.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| "not a base64 certificate".to_owned())?;
        X509::from_der(&der).map_err(|_| "not a DER certificate".to_owned())?
    };
    let key = x509
        .public_key()
        .map_err(|_| "certificate has no usable public key".to_owned())?;
    if let Ok(rsa) = key.rsa() {
        if rsa.size() * 8 < 2048 {
            return Err(format!(
                "RSA key of {} bits is too small (2048 minimum)",
                rsa.size() * 8
            ));
        }
    } else if key.ec_key().is_err() {
        return Err("certificate key is neither RSA nor EC".into());
    }
    let der = x509.to_der().map_err(|_| "certificate cannot be encoded".to_owned())?;
    let subject = x509
        .subject_name()
        .entries()
        .filter_map(|e| e.data().to_string().ok())
        .collect::<Vec<_>>()
        .join(", ");
    let not_after = asn1_to_chrono(x509.not_after()).ok_or_else(|| "certificate expiry unreadable".to_owned())?;
    Ok(IdpCertificate {
        der,
        public_key: key,
        subject,
        not_after,
    })
}

fn asn1_to_chrono(t: &openssl::asn1::Asn1TimeRef) -> Option<DateTime<Utc>> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(t).ok()?;
    DateTime::from_timestamp(i64::from(diff.days) * 86_400 + i64::from(diff.secs), 0)
}

/// Parses every certificate; refuses an empty list (a SAML connection without an IdP signing
/// certificate would accept unsigned responses).
pub fn parse_certificates(texts: &[String]) -> Result<Vec<IdpCertificate>, IdpError> {
    if texts.is_empty() {
        return Err(IdpError::Config("no IdP signing certificate configured".into()));
    }
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| parse_certificate(t).map_err(|e| IdpError::Config(format!("IdP certificate {}: {e}", i + 1))))
        .collect()
}
