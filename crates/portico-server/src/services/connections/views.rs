//! A connection as both API families show it (protocol fields from its typed settings, never a
//! secret), and the result of a connection test as the SDK expects it. Both are typed: one
//! struct for what every protocol shows and one per protocol for what it adds, serialized side
//! by side into one object; the OpenAPI document derives each protocol's closed schema from the
//! same types (`openapi::shapes::connections`), so a field cannot be served undocumented.

use chrono::{DateTime, SecondsFormat, Utc};
use portico_core::connection::{ConnectionStatus, Protocol};
use portico_core::idp::{Check, CheckReport};
use portico_store::connections::Connection;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::settings::{MixUpProtection, ProtocolSettings};

/// The stored settings of `c`; when they cannot be read, none set (the view still answers, the
/// connection test and every login name the problem).
fn settings(c: &Connection) -> ProtocolSettings {
    ProtocolSettings::of(c)
        .inspect_err(|e| tracing::warn!(connection_id = %c.id, error = %e, "connection settings unreadable"))
        .unwrap_or_else(|_| ProtocolSettings::empty(c.protocol))
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// What every connection view carries, whatever its protocol.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionCommon {
    /// `sso_<ULID>`.
    pub id: String,
    /// The organization (the SDK's developer).
    pub developer_id: String,
    /// Display name.
    pub name: String,
    /// The sign-in protocol.
    #[schema(value_type = crate::openapi::mirrors::ProtocolSchema)]
    pub protocol: Protocol,
    /// Whether it takes part in sign-in.
    #[schema(value_type = crate::openapi::mirrors::ConnectionStatusSchema)]
    pub status: ConnectionStatus,
    /// Email domains routed to it.
    pub domains: Vec<String>,
    /// Users are created at their first sign-in.
    pub jit_provisioning: bool,
    /// Users of its domains must sign in through it.
    pub enforce: bool,
    /// The claim or attribute carrying group names.
    #[schema(required = true)]
    pub group_attribute: Option<String>,
    /// Role name to the IdP groups that grant it.
    #[schema(value_type = BTreeMap<String, Vec<String>>)]
    pub group_mappings: Value,
    /// Scopes when no group matched.
    pub default_scopes: Vec<String>,
    /// Role given to provisioned members.
    #[schema(required = true)]
    pub default_role: Option<String>,
    /// Portico attribute to the IdP claim or attribute it is read from.
    #[schema(value_type = BTreeMap<String, String>)]
    pub attribute_mapping: Value,
    /// Where a finished sign-in may return to.
    pub redirect_uris: Vec<String>,
    /// The organization's default OIDC connection.
    pub is_default: bool,
    /// When it was last tested.
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub last_test_at: Option<String>,
    /// Whether the last test passed.
    #[schema(required = true)]
    pub last_test_success: Option<bool>,
    /// Creation.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    /// Last change.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: String,
    /// Whether a client secret is stored (never the secret).
    pub client_secret_set: bool,
}

/// What an OIDC view adds to its settings.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcViewFields {
    /// Which protection against the OIDC mix-up holds.
    pub mix_up_protection: MixUpProtection,
}

/// What a SAML view adds to its settings.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SamlViewFields {
    /// The IdP's metadata URL: present, null when unset (like every other protocol field).
    #[schema(required = true)]
    pub metadata_url: Option<String>,
    /// The first of `idpCertificates` (the SDK's single-certificate field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp_certificate: Option<String>,
}

/// What an LDAP view adds to its settings.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LdapViewFields {
    /// Whether a bind password is stored (never the password).
    pub ldap_bind_password_set: bool,
}

/// Serializes the parts of one view into one object (later parts win on a shared key).
fn merged(parts: &[Value]) -> Value {
    let mut out = Map::new();
    for part in parts {
        if let Value::Object(m) = part {
            out.extend(m.clone());
        }
    }
    Value::Object(out)
}

fn value(part: impl Serialize) -> Value {
    serde_json::to_value(part).unwrap_or_default()
}

/// A connection as both API families show it: protocol fields, never secrets.
pub fn view(c: &Connection) -> Value {
    let common = ConnectionCommon {
        id: c.id.clone(),
        developer_id: c.organization_id.clone(),
        name: c.name.clone(),
        protocol: c.protocol,
        status: c.status,
        domains: c.domains.clone(),
        jit_provisioning: c.jit_provisioning,
        enforce: c.enforce,
        group_attribute: c.group_attribute.clone(),
        group_mappings: c.group_mappings.clone(),
        default_scopes: c.default_scopes.clone(),
        default_role: c.default_role.clone(),
        attribute_mapping: c.attribute_mapping.clone(),
        redirect_uris: c.redirect_uris.clone(),
        is_default: c.is_default,
        last_test_at: c.last_test_at.map(ts),
        last_test_success: c.last_test_success,
        created_at: ts(c.created_at),
        updated_at: ts(c.updated_at),
        client_secret_set: c.client_secret.is_some(),
    };
    let settings = settings(c);
    let own = match &settings {
        ProtocolSettings::Oidc(s) => value(OidcViewFields {
            mix_up_protection: s.mix_up_protection(),
        }),
        ProtocolSettings::Saml(s) => value(SamlViewFields {
            metadata_url: s.metadata_url.clone(),
            idp_certificate: s.idp_certificates.as_ref().and_then(|a| a.first()).cloned(),
        }),
        ProtocolSettings::Ldap(_) => value(LdapViewFields {
            ldap_bind_password_set: c.ldap_bind_password.is_some(),
        }),
    };
    merged(&[value(common), Value::Object(settings.wire()), own])
}

/// What every connection test result carries.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestCommon {
    /// Every step passed.
    pub success: bool,
    /// The connection's protocol.
    #[schema(value_type = crate::openapi::mirrors::ProtocolSchema)]
    pub protocol: Protocol,
    /// The steps, in order; the first failing one ends the test.
    #[schema(value_type = Vec<crate::openapi::mirrors::CheckSchema>)]
    pub checks: Vec<Check>,
    /// `step: message` of the first failing step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What an OIDC test adds: the issuer and the endpoints discovery gave (the grantex SDK parses
/// them), and the mix-up protection as the test just learnt it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcTestFields {
    /// The issuer (discovery's, else the configured one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// From discovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// From discovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// From discovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Which protection against the OIDC mix-up holds.
    pub mix_up_protection: MixUpProtection,
}

/// What a SAML test adds (from the settings, or the metadata the test fetched).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SamlTestFields {
    /// The IdP's entity ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp_entity_id: Option<String>,
    /// The IdP's SSO URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp_sso_url: Option<String>,
}

/// What an LDAP test adds (present, null when unknown).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LdapTestFields {
    /// The directory's URL.
    #[schema(required = true)]
    pub ldap_url: Option<String>,
    /// Where people are searched.
    #[schema(required = true)]
    pub ldap_search_base: Option<String>,
    /// Whether the directory is reached over TLS.
    #[schema(required = true)]
    pub ldap_tls_enabled: Option<bool>,
}

/// A text fact the test learnt from the IdP, else `fallback`.
fn fact(report: &CheckReport, key: &str, fallback: Option<String>) -> Option<String> {
    report
        .facts
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(fallback)
}

/// The test result as the SDK expects it (`success`, `protocol`, `error`, and the facts the
/// grantex SDK parses: OIDC `issuer`, `authorizationEndpoint`, `tokenEndpoint`, `jwksUri` from
/// discovery; SAML `idpEntityId`, `idpSsoUrl`; LDAP `ldapUrl`, `ldapSearchBase`, `ldapTlsEnabled`).
/// What the test learnt from the IdP wins over the stored settings.
pub fn test_view(c: &Connection, report: &CheckReport) -> Value {
    let common = TestCommon {
        success: report.success(),
        protocol: c.protocol,
        checks: report.checks.clone(),
        error: report.first_failure().map(|f| format!("{}: {}", f.name, f.message)),
    };
    let own = match settings(c) {
        ProtocolSettings::Oidc(mut s) => {
            if let Some(iss) = report.facts.get("issParameterSupported").and_then(Value::as_bool) {
                s.iss_parameter_supported = Some(iss);
            }
            value(OidcTestFields {
                issuer: fact(report, "issuer", s.issuer_url.clone()),
                authorization_endpoint: fact(report, "authorizationEndpoint", None),
                token_endpoint: fact(report, "tokenEndpoint", None),
                jwks_uri: fact(report, "jwksUri", None),
                mix_up_protection: s.mix_up_protection(),
            })
        }
        ProtocolSettings::Saml(s) => value(SamlTestFields {
            idp_entity_id: fact(report, "idpEntityId", s.idp_entity_id),
            idp_sso_url: fact(report, "idpSsoUrl", s.idp_sso_url),
        }),
        ProtocolSettings::Ldap(s) => value(LdapTestFields {
            ldap_tls_enabled: s.tls_in_use(),
            ldap_url: s.ldap_url,
            ldap_search_base: s.ldap_search_base,
        }),
    };
    merged(&[value(common), own])
}
