//! SAML settings: where the IdP's trust comes from (pasted metadata, a metadata URL, or an
//! entity ID + SSO URL + signing certificates), the SP's own entity ID and ACS, and the
//! per-connection signature and IdP-initiated choices. The SP key is a sealed column.

use portico_core::connection::Protocol;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ProtocolFields, UrlRules};
use crate::error::ApiError;

/// The SAML fields of a connection (`config`, camelCase).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SamlSettings {
    /// The IdP's entity ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_entity_id: Option<String>,
    /// The IdP's SSO URL (Redirect binding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_sso_url: Option<String>,
    /// The IdP's signing certificates (PEM or base64; several during a rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_certificates: Option<Vec<String>>,
    /// The SP entity ID (the audience); defaults to this connection's metadata URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sp_entity_id: Option<String>,
    /// The ACS the IdP posts to; defaults to the shared callback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sp_acs_url: Option<String>,
    /// The IdP's metadata URL (fetched through the outbound guard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_url: Option<String>,
    /// The IdP's pasted metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_xml: Option<String>,
    /// Accept unsolicited (IdP-initiated) responses; off when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_idp_initiated: Option<bool>,
    /// Accept SHA-1 signatures; off when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_sha1: Option<bool>,
    /// Require the Response itself to be signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signed_response: Option<bool>,
    /// Require the Assertion itself to be signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signed_assertion: Option<bool>,
    /// The SP certificate (PEM), written at creation (internal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sp_certificate: Option<String>,
    /// This connection's IdP-initiated ACS, written at creation (internal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_initiated_acs_url: Option<String>,
    /// Stored keys this version does not know.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: Map<String, Value>,
}

impl ProtocolFields for SamlSettings {
    const PROTOCOL: Protocol = Protocol::Saml;
    const INTERNAL: &'static [&'static str] = &["spCertificate", "idpInitiatedAcsUrl"];

    fn unknown(&self) -> &Map<String, Value> {
        &self.unknown
    }
}

impl SamlSettings {
    /// True when unsolicited responses are accepted (an explicit opt-in).
    pub fn idp_initiated_allowed(&self) -> bool {
        self.allow_idp_initiated == Some(true)
    }

    /// Refuses settings a SAML login could not use, naming the field. (Whether the IdP's
    /// certificate or metadata is usable is checked by `saml_setup`.)
    pub fn validate(&self, rules: UrlRules) -> Result<(), ApiError> {
        let has_metadata = self.metadata_url.is_some() || self.metadata_xml.is_some();
        if let Some(u) = &self.metadata_url {
            rules.check_url("metadataUrl", u)?;
        }
        if let Some(u) = &self.idp_sso_url {
            rules.check_url("idpSsoUrl", u)?;
        }
        let certs = self.idp_certificates.as_deref().unwrap_or_default();
        if !has_metadata && (self.idp_entity_id.is_none() || self.idp_sso_url.is_none() || certs.is_empty()) {
            return Err(ApiError::field(
                "idpCertificate",
                "SAML needs metadataUrl or metadataXml, or idpEntityId + idpSsoUrl + idpCertificate (a connection without an IdP signing certificate would accept unsigned responses)",
            ));
        }
        for (i, pem) in certs.iter().enumerate() {
            if pem.len() > 16_384 || pem.trim().is_empty() {
                return Err(ApiError::field(
                    format!("idpCertificates[{i}]"),
                    "must be a PEM or base64 certificate",
                ));
            }
        }
        if let Some(acs) = &self.sp_acs_url {
            rules.check_url("spAcsUrl", acs)?;
        }
        Ok(())
    }
}
