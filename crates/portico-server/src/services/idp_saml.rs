//! Building the SAML provider of a connection (settings from `conn.config`, the SP key opened
//! from its sealed column), and preparing new SAML connections (SP entity ID, ACS, SP key and
//! certificate, and a refusal when there is no usable IdP signing certificate).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use portico_core::idp::{IdentityProvider, IdpError};
use portico_core::secretbox::{SecretBox, Slot};
use portico_http::OutboundPolicy;
use portico_saml::{AttributeMapping, IdpSource, SamlConfig, SamlProvider, SamlRuntime, SignaturePolicy};
use portico_store::connections::Connection;
use serde_json::Value;

use super::idp::IdpRuntime;
use crate::error::ApiError;
use crate::state::AppState;

/// Config key of the SP certificate (PEM), written at creation.
pub const SP_CERTIFICATE: &str = "spCertificate";
/// Config key of the IdP-initiated ACS URL, written at creation.
pub const IDP_INITIATED_ACS: &str = "idpInitiatedAcsUrl";

/// One metadata cache per outbound policy (in practice one per process; safe to lose).
fn runtime(policy: &OutboundPolicy) -> SamlRuntime {
    static RUNTIMES: OnceLock<Mutex<Vec<(OutboundPolicy, SamlRuntime)>>> = OnceLock::new();
    let all = RUNTIMES.get_or_init(|| Mutex::new(Vec::new()));
    let Ok(mut all) = all.lock() else {
        return SamlRuntime::new(policy.clone());
    };
    if let Some((_, rt)) = all.iter().find(|(p, _)| p == policy) {
        return rt.clone();
    }
    let rt = SamlRuntime::new(policy.clone());
    all.push((policy.clone(), rt.clone()));
    rt
}

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
            require_signed_response: flag(conn, "requireSignedResponse").unwrap_or(true),
            require_signed_assertion: flag(conn, "requireSignedAssertion").unwrap_or(true),
        },
        attribute_mapping: AttributeMapping::from_map(&mapping),
        group_attribute: conn.group_attribute.clone(),
    })
}

/// The concrete SAML provider of `conn` (SP metadata, IdP-initiated login).
pub fn build(rt: &IdpRuntime, conn: &Connection, secrets: &SecretBox) -> Result<SamlProvider, IdpError> {
    SamlProvider::new(config(conn, secrets)?, runtime(&rt.outbound))
}

/// The SAML provider for `conn`.
pub fn provider(
    rt: &IdpRuntime,
    conn: &Connection,
    secrets: &SecretBox,
) -> Result<Arc<dyn IdentityProvider>, IdpError> {
    Ok(Arc::new(build(rt, conn, secrets)?))
}

/// Refuses a SAML configuration without a usable IdP signing certificate, naming the field:
/// explicit certificates and pasted metadata are checked here (no network); a metadata URL is
/// checked at login and by the connection test. Called at creation; suitable for updates too.
pub fn check_idp(conn: &Connection) -> Result<(), ApiError> {
    let source = idp_source(conn).map_err(|e| ApiError::field("idpCertificate", e.to_string()))?;
    if let Err(e) = portico_saml::metadata::check_offline(&source) {
        let field = match source {
            IdpSource::MetadataXml { .. } => "metadataXml",
            IdpSource::MetadataUrl { .. } => "metadataUrl",
            IdpSource::Explicit { .. } => "idpCertificate",
        };
        let message = match e {
            IdpError::Config(m) | IdpError::Metadata(m) => m,
            other => other.to_string(),
        };
        return Err(ApiError::field(field, message));
    }
    Ok(())
}

/// Refuses a metadata-URL configuration whose metadata cannot be fetched (through the outbound
/// guard; the copy is cached for logins), parsed, or lists no usable signing certificate — so a
/// connection is never saved that could only fail, or trust nothing, at login. Other sources
/// were checked offline by [`check_idp`].
pub async fn check_idp_metadata_url(state: &AppState, conn: &Connection) -> Result<(), ApiError> {
    let Ok(IdpSource::MetadataUrl { url, entity_id }) = idp_source(conn) else {
        return Ok(());
    };
    runtime(&state.idp.outbound)
        .metadata(&url, entity_id.as_deref())
        .await
        .map(|_| ())
        .map_err(|e| {
            let message = match e {
                IdpError::Config(m) | IdpError::Metadata(m) | IdpError::Unavailable(m) => m,
                other => other.to_string(),
            };
            ApiError::field("metadataUrl", message)
        })
}

/// Prepares a new SAML connection before it is stored: SP entity ID and ACS defaults, the
/// IdP-initiated ACS, a fresh SP signing key (sealed) and certificate; and refuses a
/// configuration without a usable IdP signing certificate (explicit certificates and pasted
/// metadata are checked here; a metadata URL is checked at login and by the connection test).
pub fn prepare(state: &AppState, conn: &mut Connection) -> Result<(), ApiError> {
    let mut cfg = conn.config.as_object().cloned().unwrap_or_default();
    let base = state.settings.public_base().to_owned();
    cfg.entry("spEntityId")
        .or_insert_with(|| Value::String(format!("{base}/api/auth/sso/saml/{}/metadata", conn.id)));
    cfg.entry("spAcsUrl")
        .or_insert_with(|| Value::String(state.settings.callback_url()));
    cfg.insert(
        IDP_INITIATED_ACS.into(),
        Value::String(format!("{base}/api/auth/sso/saml/{}/acs", conn.id)),
    );
    conn.config = Value::Object(cfg);
    check_idp(conn)?;
    if conn.sp_private_key.is_none() {
        let (key, cert) = portico_saml::generate_sp_credentials(&format!("Portico SP {}", conn.id))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        use secrecy::ExposeSecret;
        conn.sp_private_key = Some(state.secrets.seal(
            key.expose_secret(),
            Slot {
                table: "sso_connections",
                row: &conn.id,
                column: "sp_private_key",
            },
        )?);
        if let Some(obj) = conn.config.as_object_mut() {
            obj.insert(SP_CERTIFICATE.into(), Value::String(cert));
        }
    }
    Ok(())
}
