//! The one typed input of connection create and update (camelCase SDK names, the seed
//! documents' aliases, explicit `null` clears), and its merge onto a connection row: the
//! protocol's own fields into its typed settings (another protocol's field is refused, naming
//! it), secrets sealed, then the whole row validated.

use portico_core::connection::{ConnectionStatus, Protocol};
use portico_core::role::Role;
use portico_core::secretbox::Slot;
use portico_store::connections::Connection;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

pub use super::body::ConnectionInput;
use super::settings::{ProtocolSettings, UrlRules};
use crate::error::ApiError;
use crate::patch::Patch;
use crate::state::AppState;

/// `field` from the input into `slot` (absent keeps, `null` clears).
fn put<T>(slot: &mut Option<T>, field: &mut Patch<T>) {
    *slot = std::mem::take(field).apply(slot.take());
}

impl ConnectionInput {
    /// True when a field the IdP's provider is built from is in the body (the last test result
    /// no longer holds).
    pub(super) fn changes_idp_config(&self) -> bool {
        self.issuer_url.is_present()
            || self.client_id.is_present()
            || self.client_secret.is_present()
            || self.metadata_url.is_present()
            || self.metadata_xml.is_present()
            || self.idp_entity_id.is_present()
            || self.idp_sso_url.is_present()
            || self.idp_certificate.is_present()
            || self.idp_certificates.is_present()
            || self.ldap_url.is_present()
            || self.ldap_bind_password.is_present()
    }

    /// Moves this protocol's fields into `settings` (leaving them absent here).
    fn merge_into(&mut self, settings: &mut ProtocolSettings) {
        match settings {
            ProtocolSettings::Oidc(s) => {
                if self.issuer_url.is_present() {
                    // What the last test learnt about the IdP is void for another issuer.
                    s.iss_parameter_supported = None;
                }
                put(&mut s.issuer_url, &mut self.issuer_url);
                put(&mut s.dedicated_callback, &mut self.dedicated_callback);
                put(&mut s.client_id, &mut self.client_id);
                put(&mut s.token_endpoint_auth_method, &mut self.token_endpoint_auth_method);
            }
            ProtocolSettings::Saml(s) => {
                put(&mut s.idp_entity_id, &mut self.idp_entity_id);
                put(&mut s.idp_sso_url, &mut self.idp_sso_url);
                let mut certs = match (
                    std::mem::take(&mut self.idp_certificates),
                    std::mem::take(&mut self.idp_certificate),
                ) {
                    (Patch::Value(many), _) => Patch::Value(many),
                    (Patch::Null, _) | (_, Patch::Null) => Patch::Null,
                    (Patch::Absent, Patch::Value(one)) => Patch::Value(vec![one]),
                    (Patch::Absent, Patch::Absent) => Patch::Absent,
                };
                put(&mut s.idp_certificates, &mut certs);
                let mut entity = std::mem::take(&mut self.sp_entity_id).or(std::mem::take(&mut self.entity_id));
                put(&mut s.sp_entity_id, &mut entity);
                let mut acs =
                    std::mem::take(&mut self.sp_acs_url).or(std::mem::take(&mut self.assertion_consumer_service_url));
                put(&mut s.sp_acs_url, &mut acs);
                put(&mut s.metadata_url, &mut self.metadata_url);
                put(&mut s.metadata_xml, &mut self.metadata_xml);
                put(&mut s.allow_idp_initiated, &mut self.allow_idp_initiated);
                put(&mut s.allow_sha1, &mut self.allow_sha1);
                put(&mut s.require_signed_response, &mut self.require_signed_response);
                put(&mut s.require_signed_assertion, &mut self.require_signed_assertion);
            }
            ProtocolSettings::Ldap(s) => {
                put(&mut s.ldap_url, &mut self.ldap_url);
                put(&mut s.ldap_bind_dn, &mut self.ldap_bind_dn);
                put(&mut s.ldap_search_base, &mut self.ldap_search_base);
                put(&mut s.ldap_search_filter, &mut self.ldap_search_filter);
                put(&mut s.ldap_group_search_base, &mut self.ldap_group_search_base);
                put(&mut s.ldap_group_search_filter, &mut self.ldap_group_search_filter);
                put(&mut s.ldap_tls_enabled, &mut self.ldap_tls_enabled);
                put(&mut s.ldap_start_tls, &mut self.ldap_start_tls);
                put(&mut s.ldap_ca_certificate, &mut self.ldap_ca_certificate);
                put(&mut s.ldap_allow_plaintext, &mut self.ldap_allow_plaintext);
            }
        }
    }

    /// The first protocol field still holding a value (after [`Self::merge_into`] and the
    /// connection's own secret were taken: a field of another protocol). `null` clears
    /// nothing and is accepted.
    fn foreign_value(&self) -> Option<&'static str> {
        let given = |p: &dyn Given| p.given();
        [
            ("issuerUrl", given(&self.issuer_url)),
            ("clientId", given(&self.client_id)),
            ("clientSecret", given(&self.client_secret)),
            ("tokenEndpointAuthMethod", given(&self.token_endpoint_auth_method)),
            ("dedicatedCallback", given(&self.dedicated_callback)),
            ("idpEntityId", given(&self.idp_entity_id)),
            ("idpSsoUrl", given(&self.idp_sso_url)),
            ("idpCertificate", given(&self.idp_certificate)),
            ("idpCertificates", given(&self.idp_certificates)),
            ("spEntityId", given(&self.sp_entity_id)),
            ("entityId", given(&self.entity_id)),
            ("spAcsUrl", given(&self.sp_acs_url)),
            (
                "assertionConsumerServiceUrl",
                given(&self.assertion_consumer_service_url),
            ),
            ("metadataUrl", given(&self.metadata_url)),
            ("metadataXml", given(&self.metadata_xml)),
            ("allowIdpInitiated", given(&self.allow_idp_initiated)),
            ("allowSha1", given(&self.allow_sha1)),
            ("requireSignedResponse", given(&self.require_signed_response)),
            ("requireSignedAssertion", given(&self.require_signed_assertion)),
            ("ldapUrl", given(&self.ldap_url)),
            ("ldapBindDn", given(&self.ldap_bind_dn)),
            ("ldapBindPassword", given(&self.ldap_bind_password)),
            ("ldapSearchBase", given(&self.ldap_search_base)),
            ("ldapSearchFilter", given(&self.ldap_search_filter)),
            ("ldapGroupSearchBase", given(&self.ldap_group_search_base)),
            ("ldapGroupSearchFilter", given(&self.ldap_group_search_filter)),
            ("ldapTlsEnabled", given(&self.ldap_tls_enabled)),
            ("ldapStartTls", given(&self.ldap_start_tls)),
            ("ldapCaCertificate", given(&self.ldap_ca_certificate)),
            ("ldapAllowPlaintext", given(&self.ldap_allow_plaintext)),
        ]
        .into_iter()
        .find_map(|(k, v)| v.then_some(k))
    }
}

/// A field that holds a value (not absent, not `null`), whatever its type.
trait Given {
    fn given(&self) -> bool;
}

impl<T> Given for Patch<T> {
    fn given(&self) -> bool {
        self.value().is_some()
    }
}

fn protocol_label(p: Protocol) -> &'static str {
    match p {
        Protocol::Oidc => "OIDC",
        Protocol::Saml => "SAML",
        Protocol::Ldap => "LDAP",
    }
}

fn seal(state: &AppState, conn: &Connection, column: &str, secret: &SecretString) -> Result<String, ApiError> {
    Ok(state.secrets.seal(
        secret.expose_secret(),
        Slot {
            table: "sso_connections",
            row: &conn.id,
            column,
        },
    )?)
}

/// Sets or clears a sealed secret column from its field.
fn put_secret(
    state: &AppState,
    conn: &Connection,
    column: &str,
    slot: &mut Option<String>,
    field: Patch<SecretString>,
) -> Result<(), ApiError> {
    match field {
        Patch::Value(s) => *slot = Some(seal(state, conn, column, &s)?),
        Patch::Null => *slot = None,
        Patch::Absent => {}
    }
    Ok(())
}

/// Applies `input` to `conn` (new or stored); validates the result.
pub(super) fn apply(state: &AppState, conn: &mut Connection, mut input: ConnectionInput) -> Result<(), ApiError> {
    if let Patch::Value(n) = &input.name {
        conn.name = n.trim().to_owned();
    } else if input.name == Patch::Null {
        return Err(ApiError::field("name", "cannot be null"));
    }
    if let Patch::Value(s) = &input.status {
        conn.status = ConnectionStatus::parse(s)
            .ok_or_else(|| ApiError::field("status", "must be active, inactive or testing"))?;
    }
    let mut settings = ProtocolSettings::of(conn).map_err(|e| ApiError::Conflict(e.to_string()))?;
    input.merge_into(&mut settings);
    let (client_secret, bind_password) = match conn.protocol {
        Protocol::Oidc => (std::mem::take(&mut input.client_secret), Patch::Absent),
        Protocol::Ldap => (Patch::Absent, std::mem::take(&mut input.ldap_bind_password)),
        Protocol::Saml => (Patch::Absent, Patch::Absent),
    };
    if let Some(field) = input.foreign_value() {
        return Err(ApiError::field(
            field,
            format!("is not a setting of {} connections", protocol_label(conn.protocol)),
        ));
    }
    settings.store(conn)?;
    let mut sealed = conn.client_secret.take();
    put_secret(state, conn, "client_secret", &mut sealed, client_secret)?;
    conn.client_secret = sealed;
    let mut sealed = conn.ldap_bind_password.take();
    put_secret(state, conn, "ldap_bind_password", &mut sealed, bind_password)?;
    conn.ldap_bind_password = sealed;
    if let Some(d) = input.domains.apply(Some(std::mem::take(&mut conn.domains))) {
        conn.domains = d;
    }
    if let Patch::Value(j) = input.jit_provisioning {
        conn.jit_provisioning = j;
    }
    if let Patch::Value(e) = input.enforce {
        conn.enforce = e;
    }
    conn.group_attribute = input.group_attribute.apply(conn.group_attribute.take());
    match input.group_mappings {
        Patch::Value(m) => conn.group_mappings = json!(m),
        Patch::Null => conn.group_mappings = json!({}),
        Patch::Absent => {}
    }
    conn.default_scopes = input
        .default_scopes
        .apply(Some(std::mem::take(&mut conn.default_scopes)))
        .unwrap_or_default();
    conn.default_role = input.default_role.apply(conn.default_role.take());
    match input.attribute_mapping {
        Patch::Value(m) => conn.attribute_mapping = json!(m),
        Patch::Null => conn.attribute_mapping = json!({}),
        Patch::Absent => {}
    }
    conn.redirect_uris = input
        .redirect_uris
        .apply(Some(std::mem::take(&mut conn.redirect_uris)))
        .unwrap_or_default();
    if conn.redirect_uris.is_empty() {
        conn.redirect_uris = vec![state.settings.callback_url()];
    }
    let rules = UrlRules::of(&state.settings);
    validate_common(conn, rules)?;
    settings.validate(conn, rules)
}

/// The fields every protocol shares: name, domains (normalised), default role and scopes,
/// redirect URIs.
fn validate_common(conn: &mut Connection, rules: UrlRules) -> Result<(), ApiError> {
    if conn.name.is_empty() || conn.name.chars().count() > 200 {
        return Err(ApiError::field("name", "must be 1-200 characters"));
    }
    let mut domains = Vec::with_capacity(conn.domains.len());
    for (i, d) in conn.domains.iter().enumerate() {
        let n =
            portico_core::domain::normalize(d).map_err(|e| ApiError::field(format!("domains[{i}]"), e.to_string()))?;
        if domains.contains(&n) {
            return Err(ApiError::field(format!("domains[{i}]"), "listed twice"));
        }
        domains.push(n);
    }
    if domains.len() > 100 {
        return Err(ApiError::field("domains", "at most 100 domains"));
    }
    conn.domains = domains;
    if let Some(role) = &conn.default_role {
        let r = Role::parse(role).map_err(|e| ApiError::field("defaultRole", e.to_string()))?;
        if r == Role::Owner {
            return Err(ApiError::field("defaultRole", "provisioning never grants owner"));
        }
    }
    for (i, s) in conn.default_scopes.iter().enumerate() {
        if s.is_empty() || s.len() > 200 {
            return Err(ApiError::field(
                format!("defaultScopes[{i}]"),
                "must be 1-200 characters",
            ));
        }
    }
    for (i, u) in conn.redirect_uris.iter().enumerate() {
        rules.check_url(&format!("redirectUris[{i}]"), u)?;
    }
    Ok(())
}
