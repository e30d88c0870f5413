//! Building the SAML provider of a connection: settings from `conn.config`, the SP key opened
//! from its sealed column, and the runtime's shared metadata cache ([`IdpRuntime`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use portico_core::idp::{IdentityProvider, IdpError};
use portico_core::secretbox::{SecretBox, Slot};
use portico_saml::{AttributeMapping, IdpSource, SamlConfig, SamlProvider, SignaturePolicy};
use portico_store::connections::Connection;
use serde_json::Value;

use super::IdpRuntime;

/// Config key of the SP certificate (PEM), written at creation.
pub const SP_CERTIFICATE: &str = "spCertificate";
/// Config key of the IdP-initiated ACS URL, written at creation.
pub const IDP_INITIATED_ACS: &str = "idpInitiatedAcsUrl";

fn text(conn: &Connection, key: &str) -> Option<String> {
    conn.config_str(key)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn flag(conn: &Connection, key: &str) -> Option<bool> {
    conn.config.get(key).and_then(Value::as_bool)
}

/// The IdP source of `conn`: pasted metadata, else a metadata URL, else explicit settings.
pub fn idp_source(conn: &Connection) -> Result<IdpSource, IdpError> {
    let entity_id = text(conn, "idpEntityId");
    if let Some(xml) = text(conn, "metadataXml") {
        return Ok(IdpSource::MetadataXml { xml, entity_id });
    }
    if let Some(url) = text(conn, "metadataUrl") {
        return Ok(IdpSource::MetadataUrl { url, entity_id });
    }
    let certificates: Vec<String> = conn
        .config
        .get("idpCertificates")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(IdpSource::Explicit {
        entity_id: entity_id.ok_or_else(|| IdpError::Config("idpEntityId is missing".into()))?,
        sso_url: text(conn, "idpSsoUrl").ok_or_else(|| IdpError::Config("idpSsoUrl is missing".into()))?,
        certificates,
    })
}

fn idp_initiated_acs(conn: &Connection) -> Option<String> {
    text(conn, IDP_INITIATED_ACS).or_else(|| {
        let entity = text(conn, "spEntityId")?;
        entity
            .strip_suffix(&format!("/api/auth/sso/saml/{}/metadata", conn.id))
            .map(|base| format!("{base}/api/auth/sso/saml/{}/acs", conn.id))
    })
}

/// The adapter settings of `conn`.
pub fn config(conn: &Connection, secrets: &SecretBox) -> Result<SamlConfig, IdpError> {
    let sp_key_pem = match conn.sp_private_key.as_deref() {
        Some(sealed) => Some(
            secrets
                .open(
                    sealed,
                    Slot {
                        table: "sso_connections",
                        row: &conn.id,
                        column: "sp_private_key",
                    },
                )
                .map_err(|e| IdpError::Config(format!("the SP private key cannot be opened: {e}")))?,
        ),
        None => None,
    };
    let mapping: BTreeMap<String, String> = conn
        .attribute_mapping
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Ok(SamlConfig {
        sp_entity_id: text(conn, "spEntityId").ok_or_else(|| IdpError::Config("spEntityId is missing".into()))?,
        acs_url: text(conn, "spAcsUrl").ok_or_else(|| IdpError::Config("spAcsUrl is missing".into()))?,
        idp_initiated_acs_url: idp_initiated_acs(conn),
        sp_key_pem,
        sp_cert_pem: text(conn, SP_CERTIFICATE),
        idp: idp_source(conn)?,
        allow_sha1: flag(conn, "allowSha1").unwrap_or(false),
        allow_idp_initiated: flag(conn, "allowIdpInitiated").unwrap_or(false),
        signatures: SignaturePolicy {
            // Unset: the used Assertion must be covered by a valid signature (SPEC §3 SAML).
            require_signed_response: flag(conn, "requireSignedResponse").unwrap_or(false),
            require_signed_assertion: flag(conn, "requireSignedAssertion").unwrap_or(false),
        },
        attribute_mapping: AttributeMapping::from_map(&mapping),
        group_attribute: conn.group_attribute.clone(),
    })
}

/// The concrete SAML provider of `conn` (SP metadata, IdP-initiated login).
pub fn build(rt: &IdpRuntime, conn: &Connection, secrets: &SecretBox) -> Result<SamlProvider, IdpError> {
    SamlProvider::new(config(conn, secrets)?, rt.saml.clone())
}

/// The SAML provider for `conn`.
pub fn provider(
    rt: &IdpRuntime,
    conn: &Connection,
    secrets: &SecretBox,
) -> Result<Arc<dyn IdentityProvider>, IdpError> {
    Ok(Arc::new(build(rt, conn, secrets)?))
}
