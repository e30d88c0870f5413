//! Preparing SAML connections before they are stored: SP entity ID, ACS and IdP-initiated ACS
//! defaults, a fresh sealed SP key and its certificate, and refusals (naming the field) of a
//! configuration without a usable IdP signing certificate.

use portico_core::idp::IdpError;
use portico_core::secretbox::Slot;
use portico_saml::IdpSource;
use portico_store::connections::Connection;

use crate::error::ApiError;
use crate::idp::saml::idp_source;
use crate::services::connections::settings::{ProtocolFields, SamlSettings};
use crate::state::AppState;

/// The stored SAML settings of `conn` (a stored row that cannot be read is a conflict).
fn settings(conn: &Connection) -> Result<SamlSettings, ApiError> {
    SamlSettings::of(conn).map_err(|e| ApiError::Conflict(e.to_string()))
}

/// Refuses a SAML configuration without a usable IdP signing certificate, naming the field:
/// explicit certificates and pasted metadata are checked here (no network); a metadata URL is
/// checked at login and by the connection test. Called at creation; suitable for updates too.
pub fn check_idp(conn: &Connection) -> Result<(), ApiError> {
    let source = idp_source(&settings(conn)?).map_err(|e| ApiError::field("idpCertificate", e.to_string()))?;
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
    let Ok(IdpSource::MetadataUrl { url, entity_id }) = idp_source(&settings(conn)?) else {
        return Ok(());
    };
    state
        .idp
        .saml
        .metadata(&url, entity_id.as_deref())
        .await
        .map(|_| ())
        .map_err(|e| {
            let message = match e {
                IdpError::Config(m)
                | IdpError::Metadata(m)
                | IdpError::Unavailable(m)
                | IdpError::ResponseInvalid(m) => m,
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
    let mut s = settings(conn)?;
    let base = state.settings.public_base().to_owned();
    s.sp_entity_id
        .get_or_insert_with(|| format!("{base}/api/auth/sso/saml/{}/metadata", conn.id));
    s.sp_acs_url.get_or_insert_with(|| state.settings.callback_url());
    s.idp_initiated_acs_url = Some(format!("{base}/api/auth/sso/saml/{}/acs", conn.id));
    s.store(conn)?;
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
        s.sp_certificate = Some(cert);
        s.store(conn)?;
    }
    Ok(())
}
