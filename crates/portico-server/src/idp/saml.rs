//! Building the SAML provider of a connection: its typed [`SamlSettings`], the SP key opened
//! from its sealed column, and the runtime's shared metadata cache ([`IdpRuntime`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use portico_core::idp::{IdentityProvider, IdpError};
use portico_core::secretbox::{SecretBox, Slot};
use portico_saml::{AttributeMapping, IdpSource, SamlConfig, SamlProvider, SignaturePolicy};
use portico_store::connections::Connection;

use super::IdpRuntime;
use crate::services::connections::settings::{text, ProtocolFields, SamlSettings};

/// The IdP source of the settings: pasted metadata, else a metadata URL, else explicit ones.
pub fn idp_source(s: &SamlSettings) -> Result<IdpSource, IdpError> {
    let entity_id = text(&s.idp_entity_id);
    if let Some(xml) = text(&s.metadata_xml) {
        return Ok(IdpSource::MetadataXml { xml, entity_id });
    }
    if let Some(url) = text(&s.metadata_url) {
        return Ok(IdpSource::MetadataUrl { url, entity_id });
    }
    Ok(IdpSource::Explicit {
        entity_id: entity_id.ok_or_else(|| IdpError::Config("idpEntityId is missing".into()))?,
        sso_url: text(&s.idp_sso_url).ok_or_else(|| IdpError::Config("idpSsoUrl is missing".into()))?,
        certificates: s.idp_certificates.clone().unwrap_or_default(),
    })
}

fn idp_initiated_acs(conn: &Connection, s: &SamlSettings) -> Option<String> {
    text(&s.idp_initiated_acs_url).or_else(|| {
        let entity = text(&s.sp_entity_id)?;
        entity
            .strip_suffix(&format!("/api/auth/sso/saml/{}/metadata", conn.id))
            .map(|base| format!("{base}/api/auth/sso/saml/{}/acs", conn.id))
    })
}

/// The adapter settings of `conn`.
pub fn config(conn: &Connection, secrets: &SecretBox) -> Result<SamlConfig, IdpError> {
    let s = SamlSettings::of(conn)?;
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
        sp_entity_id: text(&s.sp_entity_id).ok_or_else(|| IdpError::Config("spEntityId is missing".into()))?,
        acs_url: text(&s.sp_acs_url).ok_or_else(|| IdpError::Config("spAcsUrl is missing".into()))?,
        idp_initiated_acs_url: idp_initiated_acs(conn, &s),
        sp_key_pem,
        sp_cert_pem: text(&s.sp_certificate),
        idp: idp_source(&s)?,
        allow_sha1: s.allow_sha1.unwrap_or(false),
        allow_idp_initiated: s.idp_initiated_allowed(),
        signatures: SignaturePolicy {
            // Unset: the used Assertion must be covered by a valid signature (SPEC §3 SAML).
            require_signed_response: s.require_signed_response.unwrap_or(false),
            require_signed_assertion: s.require_signed_assertion.unwrap_or(false),
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
