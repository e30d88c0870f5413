//! What a connection says about its directory, and the checked form the provider runs on: the
//! transport (LDAPS, StartTLS, or plain text only when explicitly allowed), the TLS trust, the
//! filter templates.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use portico_core::idp::IdpError;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use url::Url;

use crate::{escape, tls};

/// The default user search filter.
pub const DEFAULT_SEARCH_FILTER: &str = "(uid={{username}})";
/// The default group search filter.
pub const DEFAULT_GROUP_SEARCH_FILTER: &str = "(member={{dn}})";
/// The default attribute of a user entry that lists its groups.
pub const DEFAULT_GROUP_ATTRIBUTE: &str = "memberOf";

/// Decides whether an address may be connected to: `None` allows it, `Some(reason)` refuses it.
/// The server passes `portico_http::forbidden_reason` unless private networks are allowed.
pub type AddressGuard = fn(IpAddr) -> Option<&'static str>;

/// An LDAP connection's settings, as configured (SPEC §1.2 ldap fields).
#[derive(Clone, Debug)]
pub struct LdapSettings {
    /// `ldaps://host[:port]` or `ldap://host[:port]`.
    pub url: String,
    /// The service account's DN.
    pub bind_dn: String,
    /// The service account's password.
    pub bind_password: SecretString,
    /// Where users are searched (subtree).
    pub search_base: String,
    /// The user filter; `{{username}}` is replaced by the RFC 4515-escaped username.
    pub search_filter: String,
    /// Where groups are searched; `None`: groups come from the user entry's group attribute only.
    pub group_search_base: Option<String>,
    /// The group filter; `{{dn}}` (the user's DN) and `{{username}}` (the entry's `uid`, else the
    /// username as typed) are replaced, escaped.
    pub group_search_filter: String,
    /// The user-entry attribute that lists group DNs or names (`memberOf` by default).
    pub group_attribute: String,
    /// Upgrade an `ldap://` connection with StartTLS.
    pub start_tls: bool,
    /// `ldapTlsEnabled` as configured: `Some(true)` demands TLS (StartTLS on `ldap://`),
    /// `Some(false)` asks for plain text (only honoured with `allow_plaintext`).
    pub tls_enabled: Option<bool>,
    /// Allow plain `ldap://` without TLS (passwords then cross the network in clear).
    pub allow_plaintext: bool,
    /// PEM certificate(s) to trust instead of the public web PKI roots.
    pub ca_certificate_pem: Option<String>,
    /// Deadline for resolving, connecting and the TLS handshake (StartTLS included).
    pub connect_timeout: Duration,
    /// Deadline for each LDAP operation (bind, search, extended operation).
    pub op_timeout: Duration,
    /// Refuses non-public targets when set.
    pub address_guard: Option<AddressGuard>,
}

impl LdapSettings {
    /// Settings with the defaults for everything optional: StartTLS decided by [`Transport`]
    /// rules, default filters, `memberOf`, 5-second deadlines, no address guard.
    pub fn new(
        url: impl Into<String>,
        bind_dn: impl Into<String>,
        bind_password: SecretString,
        search_base: impl Into<String>,
    ) -> Self {
        Self {
            url: url.into(),
            bind_dn: bind_dn.into(),
            bind_password,
            search_base: search_base.into(),
            search_filter: DEFAULT_SEARCH_FILTER.to_owned(),
            group_search_base: None,
            group_search_filter: DEFAULT_GROUP_SEARCH_FILTER.to_owned(),
            group_attribute: DEFAULT_GROUP_ATTRIBUTE.to_owned(),
            start_tls: false,
            tls_enabled: None,
            allow_plaintext: false,
            ca_certificate_pem: None,
            connect_timeout: Duration::from_secs(5),
            op_timeout: Duration::from_secs(5),
            address_guard: None,
        }
    }
}

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TLS from the first byte (`ldaps://`).
    Ldaps,
    /// `ldap://` upgraded with the StartTLS extended operation before anything else is sent; a
    /// refusal fails the connection (never a fall back to plain text).
    StartTls,
    /// Plain text; only when the connection explicitly allows it.
    Plain,
}

impl Transport {
    /// Decides the transport: `ldaps://` is TLS; `ldap://` is StartTLS unless the connection
    /// allows plain text *and* asks for no TLS (neither `ldapStartTls` nor `ldapTlsEnabled`).
    /// `ldap://` asking for no TLS without `ldapAllowPlaintext` is refused.
    pub fn decide(
        scheme: &str,
        start_tls: bool,
        tls_enabled: Option<bool>,
        allow_plaintext: bool,
    ) -> Result<Self, IdpError> {
        match scheme {
            "ldaps" if start_tls => Err(IdpError::Config(
                "ldapStartTls applies to ldap:// URLs; ldaps:// is already TLS".into(),
            )),
            "ldaps" => Ok(Self::Ldaps),
            "ldap" if start_tls || tls_enabled == Some(true) => Ok(Self::StartTls),
            "ldap" if allow_plaintext => Ok(Self::Plain),
            "ldap" if tls_enabled == Some(false) => Err(IdpError::Config(
                "plain ldap:// without TLS is refused: use ldaps://, enable ldapStartTls, or set ldapAllowPlaintext"
                    .into(),
            )),
            "ldap" => Ok(Self::StartTls),
            other => Err(IdpError::Config(format!(
                "unsupported URL scheme {other:?}: use ldaps:// or ldap://"
            ))),
        }
    }

    /// Short name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ldaps => "LDAPS",
            Self::StartTls => "StartTLS",
            Self::Plain => "plain text",
        }
    }
}

/// Checked settings: what every operation needs, shared by the provider's operations.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub settings: LdapSettings,
    /// `scheme://host:port` (what ldap3 is given and what the identity's issuer is).
    pub base_url: String,
    pub host: String,
    pub port: u16,
    pub transport: Transport,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Identifies the service account connections of these settings in the pool.
    pub pool_key: [u8; 32],
}

/// Longest username accepted (bytes).
pub const MAX_USERNAME: usize = 256;
/// Longest password accepted (bytes).
pub const MAX_PASSWORD: usize = 1024;

impl Resolved {
    pub(crate) fn new(settings: LdapSettings) -> Result<Self, IdpError> {
        let url =
            Url::parse(settings.url.trim()).map_err(|e| IdpError::Config(format!("ldapUrl is not a URL: {e}")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(IdpError::Config("ldapUrl must not carry credentials".into()));
        }
        let transport = Transport::decide(
            url.scheme(),
            settings.start_tls,
            settings.tls_enabled,
            settings.allow_plaintext,
        )?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| IdpError::Config("ldapUrl has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url
            .port()
            .unwrap_or(if transport == Transport::Ldaps { 636 } else { 389 });
        let shown_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let base_url = format!("{}://{shown_host}:{port}", url.scheme());
        for (name, v) in [
            ("ldapBindDn", &settings.bind_dn),
            ("ldapSearchBase", &settings.search_base),
        ] {
            if v.trim().is_empty() {
                return Err(IdpError::Config(format!("{name} is required")));
            }
        }
        if settings.bind_password.expose_secret().is_empty() {
            // An empty password would make the "service bind" an unauthenticated bind.
            return Err(IdpError::Config(
                "ldapBindPassword is required (an empty password is an unauthenticated bind)".into(),
            ));
        }
        escape::check_template("ldapSearchFilter", &settings.search_filter, true)?;
        escape::check_template("ldapGroupSearchFilter", &settings.group_search_filter, false)?;
        if !settings
            .group_attribute
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b';')
            || settings.group_attribute.is_empty()
        {
            return Err(IdpError::Config(format!(
                "groupAttribute {:?} is not an LDAP attribute name",
                settings.group_attribute
            )));
        }
        let tls = match transport {
            Transport::Plain => None,
            Transport::Ldaps | Transport::StartTls => Some(tls::client_config(settings.ca_certificate_pem.as_deref())?),
        };
        let pool_key = fingerprint(&settings, &base_url, transport);
        Ok(Self {
            settings,
            base_url,
            host,
            port,
            transport,
            tls,
            pool_key,
        })
    }

    /// `host:port` for messages.
    pub(crate) fn target(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A digest of everything that makes a service connection what it is (target, transport, trust,
/// service credentials, address policy), so pooled connections are only reused for identical
/// settings and the pool holds no credential itself.
fn fingerprint(s: &LdapSettings, base_url: &str, transport: Transport) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [
        base_url,
        transport.as_str(),
        s.ca_certificate_pem.as_deref().unwrap_or(""),
        &s.bind_dn,
        s.bind_password.expose_secret(),
        if s.address_guard.is_some() { "guarded" } else { "open" },
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.update(s.connect_timeout.as_millis().to_be_bytes());
    h.finalize().into()
}

/// The throttling key of `username` for a connection with `settings`: SHA-256 over a secret
/// derived from the service credentials, then the trimmed, lower-cased username. Usernames that
/// differ only in case or surrounding spaces share a key; the key reveals nothing to someone who
/// reads the database (even when a user typed a password into the username field).
pub fn throttle_key(settings: &LdapSettings, username: &str) -> [u8; 32] {
    let mut secret = Sha256::new();
    secret.update(b"portico-ldap-throttle-v1\0");
    secret.update((settings.bind_dn.len() as u64).to_be_bytes());
    secret.update(settings.bind_dn.as_bytes());
    secret.update(settings.bind_password.expose_secret().as_bytes());
    let secret: [u8; 32] = secret.finalize().into();
    let mut h = Sha256::new();
    h.update(secret);
    h.update(username.trim().to_lowercase().as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn s(url: &str) -> LdapSettings {
        LdapSettings::new(url, "cn=svc,dc=x", SecretString::from("pw"), "dc=x")
    }

    #[test]
    fn transport_rules() {
        use Transport::*;
        assert_eq!(Transport::decide("ldaps", false, None, false).unwrap(), Ldaps);
        assert_eq!(Transport::decide("ldaps", false, Some(false), true).unwrap(), Ldaps);
        assert!(Transport::decide("ldaps", true, None, false).is_err());
        assert_eq!(Transport::decide("ldap", true, None, false).unwrap(), StartTls);
        assert_eq!(Transport::decide("ldap", false, Some(true), false).unwrap(), StartTls);
        assert_eq!(
            Transport::decide("ldap", false, None, false).unwrap(),
            StartTls,
            "TLS unless plain text is allowed"
        );
        assert_eq!(
            Transport::decide("ldap", true, None, true).unwrap(),
            StartTls,
            "allowing plain text never downgrades"
        );
        assert_eq!(Transport::decide("ldap", false, Some(true), true).unwrap(), StartTls);
        assert_eq!(Transport::decide("ldap", false, None, true).unwrap(), Plain);
        assert_eq!(Transport::decide("ldap", false, Some(false), true).unwrap(), Plain);
        assert!(matches!(
            Transport::decide("ldap", false, Some(false), false),
            Err(IdpError::Config(_))
        ));
        assert!(Transport::decide("ldapi", false, None, true).is_err());
        assert!(Transport::decide("http", false, None, true).is_err());
    }

    #[test]
    fn resolves_urls_and_refuses_bad_settings() {
        let r = Resolved::new(s("ldaps://dir.example.com")).unwrap();
        assert_eq!(
            (r.base_url.as_str(), r.port, r.transport),
            ("ldaps://dir.example.com:636", 636, Transport::Ldaps)
        );
        let r = Resolved::new(s("ldap://127.0.0.1:3890/dc=x??sub")).unwrap();
        assert_eq!(
            (r.base_url.as_str(), r.transport),
            ("ldap://127.0.0.1:3890", Transport::StartTls)
        );
        assert!(Resolved::new(s("ldap://user:pw@dir.example.com")).is_err());
        assert!(Resolved::new(s("not a url")).is_err());
        let mut bad = s("ldaps://dir");
        bad.bind_password = SecretString::from("");
        assert!(
            Resolved::new(bad).is_err(),
            "an empty service password is an unauthenticated bind"
        );
        let mut bad = s("ldaps://dir");
        bad.search_filter = "(uid=alice)".into();
        assert!(Resolved::new(bad).is_err());
        let mut bad = s("ldaps://dir");
        bad.group_attribute = "memberOf)(x".into();
        assert!(Resolved::new(bad).is_err());
        let mut bad = s("ldaps://dir");
        bad.ca_certificate_pem = Some("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".into());
        assert!(Resolved::new(bad).is_err());
        let mut bad = s("ldaps://dir");
        bad.ca_certificate_pem = Some("hello".into());
        assert!(Resolved::new(bad).is_err());
    }

    #[test]
    fn pool_keys_follow_every_setting_that_matters() {
        let a = Resolved::new(s("ldaps://dir")).unwrap().pool_key;
        assert_eq!(a, Resolved::new(s("ldaps://dir")).unwrap().pool_key);
        let mut other_pw = s("ldaps://dir");
        other_pw.bind_password = SecretString::from("pw2");
        assert_ne!(a, Resolved::new(other_pw).unwrap().pool_key);
        assert_ne!(a, Resolved::new(s("ldaps://dir:1636")).unwrap().pool_key);
        let mut guarded = s("ldaps://dir");
        guarded.address_guard = Some(|_| Some("refused"));
        assert_ne!(a, Resolved::new(guarded).unwrap().pool_key);
    }

    #[test]
    fn throttle_keys_ignore_case_and_spaces_and_depend_on_the_service_secret() {
        let base = s("ldaps://dir");
        assert_eq!(throttle_key(&base, "Alice "), throttle_key(&base, "alice"));
        assert_ne!(throttle_key(&base, "alice"), throttle_key(&base, "bob"));
        let mut other = s("ldaps://dir");
        other.bind_password = SecretString::from("other");
        assert_ne!(throttle_key(&base, "alice"), throttle_key(&other, "alice"));
    }
}
