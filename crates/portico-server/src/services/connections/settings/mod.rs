//! The typed protocol settings of a connection — [`OidcSettings`], [`SamlSettings`],
//! [`LdapSettings`] — each beside its validation. They are what the `config` JSON column holds
//! (camelCase keys, absent when unset) and, minus the keys a protocol marks internal, the
//! protocol fields of the connection view. Keys this version does not know are kept as stored
//! and never shown.

use portico_core::connection::Protocol;
use portico_core::idp::IdpError;
use portico_store::connections::Connection;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::Settings;
use crate::error::ApiError;

mod ldap;
mod oidc;
mod saml;

pub use ldap::LdapSettings;
pub use oidc::{MixUpProtection, OidcSettings};
pub use saml::SamlSettings;

/// One protocol's settings as stored in `config`.
pub trait ProtocolFields: Serialize + DeserializeOwned + Default {
    /// The protocol they belong to.
    const PROTOCOL: Protocol;
    /// Stored keys that are never part of the connection view (written by the server).
    const INTERNAL: &'static [&'static str];

    /// Keys found in the stored JSON that this version does not know.
    fn unknown(&self) -> &Map<String, Value>;

    /// The settings of `conn`; a connection of another protocol, or stored JSON that does not
    /// read as these settings, is a configuration error.
    fn of(conn: &Connection) -> Result<Self, IdpError> {
        if conn.protocol != Self::PROTOCOL {
            return Err(IdpError::Config(format!(
                "a {} connection has no {} settings",
                conn.protocol,
                Self::PROTOCOL
            )));
        }
        serde_json::from_value(conn.config.clone())
            .map_err(|e| IdpError::Config(format!("the stored {} settings cannot be read: {e}", Self::PROTOCOL)))
    }

    /// Writes them to `conn.config`.
    fn store(&self, conn: &mut Connection) -> Result<(), ApiError> {
        conn.config =
            serde_json::to_value(self).map_err(|e| ApiError::Internal(format!("connection settings: {e}")))?;
        Ok(())
    }
}

/// The settings of a connection, by its protocol.
#[derive(Clone, Debug, PartialEq)]
pub enum ProtocolSettings {
    /// OpenID Connect.
    Oidc(OidcSettings),
    /// SAML 2.0.
    Saml(SamlSettings),
    /// LDAP.
    Ldap(LdapSettings),
}

impl ProtocolSettings {
    /// Nothing set yet, for a new connection of `protocol`.
    pub fn empty(protocol: Protocol) -> Self {
        match protocol {
            Protocol::Oidc => Self::Oidc(OidcSettings::default()),
            Protocol::Saml => Self::Saml(SamlSettings::default()),
            Protocol::Ldap => Self::Ldap(LdapSettings::default()),
        }
    }

    /// The settings stored on `conn`, read by its protocol.
    pub fn of(conn: &Connection) -> Result<Self, IdpError> {
        Ok(match conn.protocol {
            Protocol::Oidc => Self::Oidc(OidcSettings::of(conn)?),
            Protocol::Saml => Self::Saml(SamlSettings::of(conn)?),
            Protocol::Ldap => Self::Ldap(LdapSettings::of(conn)?),
        })
    }

    /// Their protocol.
    pub fn protocol(&self) -> Protocol {
        match self {
            Self::Oidc(_) => Protocol::Oidc,
            Self::Saml(_) => Protocol::Saml,
            Self::Ldap(_) => Protocol::Ldap,
        }
    }

    /// Writes them to `conn.config`.
    pub fn store(&self, conn: &mut Connection) -> Result<(), ApiError> {
        match self {
            Self::Oidc(s) => s.store(conn),
            Self::Saml(s) => s.store(conn),
            Self::Ldap(s) => s.store(conn),
        }
    }

    /// The protocol fields of the connection view (internal and unknown keys left out).
    pub fn wire(&self) -> Map<String, Value> {
        match self {
            Self::Oidc(s) => wire(s),
            Self::Saml(s) => wire(s),
            Self::Ldap(s) => wire(s),
        }
    }

    /// Refuses settings a connection could not sign in with, naming the field; `conn` tells
    /// which sealed secrets are set.
    pub fn validate(&self, conn: &Connection, rules: UrlRules) -> Result<(), ApiError> {
        match self {
            Self::Oidc(s) => s.validate(conn, rules),
            Self::Saml(s) => s.validate(rules),
            Self::Ldap(s) => s.validate(conn),
        }
    }
}

fn wire<T: ProtocolFields>(s: &T) -> Map<String, Value> {
    let mut out = match serde_json::to_value(s) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for k in T::INTERNAL
        .iter()
        .copied()
        .chain(s.unknown().keys().map(String::as_str))
    {
        out.remove(k);
    }
    out
}

/// What an outbound URL in the settings may be.
#[derive(Clone, Copy, Debug)]
pub struct UrlRules {
    /// `http://` allowed beyond loopback (`outbound.allow_insecure_http`).
    pub allow_insecure_http: bool,
}

impl UrlRules {
    /// The rules of the running configuration.
    pub fn of(settings: &Settings) -> Self {
        Self {
            allow_insecure_http: settings.outbound.allow_insecure_http,
        }
    }

    /// Refuses anything but an absolute https URL (http only to loopback, unless allowed).
    pub fn check_url(self, field: &str, u: &str) -> Result<(), ApiError> {
        let parsed = url::Url::parse(u).map_err(|_| ApiError::field(field, "must be an absolute URL"))?;
        let loopback = matches!(parsed.host_str(), Some("localhost") | Some("127.0.0.1") | Some("[::1]"));
        let ok = parsed.scheme() == "https" || (parsed.scheme() == "http" && (self.allow_insecure_http || loopback));
        if !ok || parsed.host_str().is_none() || !parsed.username().is_empty() || u.len() > 2048 {
            return Err(ApiError::field(field, "must be an https URL"));
        }
        Ok(())
    }

    /// Refuses an OIDC issuer that is not an https discovery base.
    pub fn check_issuer(self, field: &str, issuer: &str) -> Result<(), ApiError> {
        let u = url::Url::parse(issuer).map_err(|_| ApiError::field(field, "must be an absolute URL"))?;
        let https = u.scheme() == "https";
        let http_ok = u.scheme() == "http" && self.allow_insecure_http;
        if !(https || http_ok) {
            return Err(ApiError::field(field, "must be an https URL"));
        }
        if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() || u.host_str().is_none() {
            return Err(ApiError::field(
                field,
                "must not carry a query, fragment or credentials",
            ));
        }
        if issuer.contains("/.well-known/") {
            return Err(ApiError::field(
                field,
                "is the discovery base; /.well-known/openid-configuration is appended automatically",
            ));
        }
        Ok(())
    }
}

/// A trimmed, non-empty text setting.
pub(crate) fn text(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn stored_json_round_trips_and_unknown_keys_are_kept() {
        let stored = json!({
            "idpEntityId": "https://idp", "idpSsoUrl": "https://idp/sso", "idpCertificates": ["MIIC"],
            "spEntityId": "https://sp", "spAcsUrl": "https://sp/acs", "allowIdpInitiated": true,
            "allowSha1": false, "spCertificate": "PEM", "idpInitiatedAcsUrl": "https://sp/idp-acs",
            "futureKey": {"nested": 1},
        });
        let s: SamlSettings = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(s.allow_sha1, Some(false));
        assert!(s.idp_initiated_allowed());
        assert_eq!(serde_json::to_value(&s).unwrap(), stored);
        let wire = ProtocolSettings::Saml(s).wire();
        for hidden in ["spCertificate", "idpInitiatedAcsUrl", "futureKey"] {
            assert!(!wire.contains_key(hidden), "{hidden} is shown");
        }
        assert_eq!(wire.len(), 7, "{wire:?}");
        assert_eq!(wire["allowSha1"], false, "an explicit false stays on the wire");
    }

    #[test]
    fn unset_fields_are_absent_not_null() {
        let s = OidcSettings {
            issuer_url: Some("https://idp".into()),
            scopes: Some(vec!["openid".into()]),
            ..OidcSettings::default()
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"issuerUrl": "https://idp", "scopes": ["openid"]})
        );
        assert_eq!(
            Value::Object(ProtocolSettings::Oidc(s).wire()),
            json!({"issuerUrl": "https://idp"})
        );
        assert_eq!(
            serde_json::to_value(LdapSettings::default()).unwrap(),
            json!({}),
            "a new connection stores {{}}"
        );
    }

    #[test]
    fn a_stored_value_of_the_wrong_type_does_not_read() {
        assert!(serde_json::from_value::<LdapSettings>(json!({"ldapStartTls": "yes"})).is_err());
        assert!(serde_json::from_value::<SamlSettings>(json!({"idpCertificates": "MIIC"})).is_err());
        let nulls: OidcSettings = serde_json::from_value(json!({"clientId": null})).unwrap();
        assert_eq!(nulls, OidcSettings::default());
    }

    #[test]
    fn urls_are_https_or_loopback_http() {
        let strict = UrlRules {
            allow_insecure_http: false,
        };
        assert!(strict.check_url("u", "https://idp.example.com/x").is_ok());
        assert!(strict.check_url("u", "http://127.0.0.1:8080/x").is_ok());
        assert!(strict.check_url("u", "http://idp.example.com/x").is_err());
        assert!(strict.check_url("u", "https://user@idp.example.com/").is_err());
        assert!(strict.check_issuer("i", "http://127.0.0.1:8080").is_err());
        assert!(strict
            .check_issuer("i", "https://idp/.well-known/openid-configuration")
            .is_err());
        let lax = UrlRules {
            allow_insecure_http: true,
        };
        assert!(lax.check_issuer("i", "http://idp.example.com").is_ok());
    }
}
