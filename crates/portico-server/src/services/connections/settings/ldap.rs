//! LDAP settings: the directory's URL and transport, the service account's DN (its password is
//! a sealed column), and where and how people and their groups are searched.

use portico_core::connection::Protocol;
use portico_store::connections::Connection;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ProtocolFields;
use crate::error::ApiError;

/// The LDAP fields of a connection (`config`, camelCase).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LdapSettings {
    /// `ldap://` or `ldaps://` URL of the directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap_url: Option<String>,
    /// The service account's DN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap_bind_dn: Option<String>,
    /// Where people are searched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap_search_base: Option<String>,
    /// The person filter (holds `{{username}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap_search_filter: Option<String>,
    /// Where groups are searched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap_group_search_base: Option<String>,
    /// The group filter (placeholders `{{dn}}`, `{{username}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap_group_search_filter: Option<String>,
    /// TLS on or off as the SDK spells it (unset: decided by the URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap_tls_enabled: Option<bool>,
    /// StartTLS on an `ldap://` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap_start_tls: Option<bool>,
    /// The CA (PEM) the directory's certificate must chain to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap_ca_certificate: Option<String>,
    /// Plain text explicitly allowed (never the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap_allow_plaintext: Option<bool>,
    /// Stored keys this version does not know.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: Map<String, Value>,
}

impl ProtocolFields for LdapSettings {
    const PROTOCOL: Protocol = Protocol::Ldap;
    const INTERNAL: &'static [&'static str] = &[];

    fn unknown(&self) -> &Map<String, Value> {
        &self.unknown
    }
}

impl LdapSettings {
    /// Whether the directory is reached over TLS (LDAPS or StartTLS), as the adapter decides it
    /// from the URL and the TLS settings; None when the URL is missing or unusable.
    pub fn tls_in_use(&self) -> Option<bool> {
        let url = url::Url::parse(self.ldap_url.as_deref()?.trim()).ok()?;
        let transport = portico_ldap::Transport::decide(
            url.scheme(),
            self.ldap_start_tls.unwrap_or(false),
            self.ldap_tls_enabled,
            self.ldap_allow_plaintext.unwrap_or(false),
        )
        .ok()?;
        Some(transport != portico_ldap::Transport::Plain)
    }
}

/// An adapter's configuration message without its generic prefix.
fn bare(e: impl std::fmt::Display) -> String {
    e.to_string()
        .trim_start_matches("connection misconfigured: ")
        .to_owned()
}

impl LdapSettings {
    /// Refuses settings an LDAP login could not use, naming the field (never plain text
    /// unless explicitly allowed; StartTLS only on `ldap://` URLs).
    pub fn validate(&self, conn: &Connection) -> Result<(), ApiError> {
        let url = self
            .ldap_url
            .as_deref()
            .ok_or_else(|| ApiError::field("ldapUrl", "is required for LDAP"))?;
        let parsed =
            url::Url::parse(url).map_err(|_| ApiError::field("ldapUrl", "must be an ldap:// or ldaps:// URL"))?;
        if !matches!(parsed.scheme(), "ldap" | "ldaps") || parsed.host_str().is_none() {
            return Err(ApiError::field("ldapUrl", "must be an ldap:// or ldaps:// URL"));
        }
        for (k, v) in [
            ("ldapBindDn", &self.ldap_bind_dn),
            ("ldapSearchBase", &self.ldap_search_base),
        ] {
            if v.as_deref().is_none_or(|v| v.trim().is_empty()) {
                return Err(ApiError::field(k, "is required for LDAP"));
            }
        }
        if conn.ldap_bind_password.is_none() {
            return Err(ApiError::field("ldapBindPassword", "is required for LDAP"));
        }
        if let Some(f) = &self.ldap_search_filter {
            if portico_ldap::escape::check_template("ldapSearchFilter", f, true).is_err() || !f.starts_with('(') {
                return Err(ApiError::field(
                    "ldapSearchFilter",
                    "must be an LDAP filter containing {{username}}",
                ));
            }
        }
        if let Some(f) = &self.ldap_group_search_filter {
            if portico_ldap::escape::check_template("ldapGroupSearchFilter", f, false).is_err() || !f.starts_with('(') {
                return Err(ApiError::field(
                    "ldapGroupSearchFilter",
                    "must be an LDAP filter (placeholders {{dn}}, {{username}})",
                ));
            }
        }
        let (start_tls, allow_plain) = (
            self.ldap_start_tls.unwrap_or(false),
            self.ldap_allow_plaintext.unwrap_or(false),
        );
        if let Err(e) = portico_ldap::Transport::decide(parsed.scheme(), start_tls, self.ldap_tls_enabled, allow_plain)
        {
            let field = if parsed.scheme() == "ldaps" {
                "ldapStartTls"
            } else {
                "ldapAllowPlaintext"
            };
            return Err(ApiError::field(field, bare(e)));
        }
        if let Some(pem) = &self.ldap_ca_certificate {
            portico_ldap::check_ca_certificate(pem).map_err(|e| ApiError::field("ldapCaCertificate", bare(e)))?;
        }
        Ok(())
    }
}
