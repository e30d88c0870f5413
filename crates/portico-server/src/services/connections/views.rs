//! A connection as both API families show it (protocol fields from its typed settings, never a
//! secret), and the result of a connection test as the SDK expects it.

use chrono::{SecondsFormat, Utc};
use portico_core::connection::Protocol;
use portico_core::idp::CheckReport;
use portico_store::connections::Connection;
use serde_json::{json, Value};

use super::settings::ProtocolSettings;

/// The stored settings of `c`, or none when they cannot be read (the view still answers; the
/// connection test and every login name the problem).
fn settings(c: &Connection) -> Option<ProtocolSettings> {
    ProtocolSettings::of(c)
        .inspect_err(|e| tracing::warn!(connection_id = %c.id, error = %e, "connection settings unreadable"))
        .ok()
}

/// A connection as both API families show it: protocol fields, never secrets.
pub fn view(c: &Connection) -> Value {
    let ts = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut v = json!({
        "id": c.id,
        "developerId": c.organization_id,
        "name": c.name,
        "protocol": c.protocol,
        "status": c.status,
        "domains": c.domains,
        "jitProvisioning": c.jit_provisioning,
        "enforce": c.enforce,
        "groupAttribute": c.group_attribute,
        "groupMappings": c.group_mappings,
        "defaultScopes": c.default_scopes,
        "defaultRole": c.default_role,
        "attributeMapping": c.attribute_mapping,
        "redirectUris": c.redirect_uris,
        "isDefault": c.is_default,
        "lastTestAt": c.last_test_at.map(ts),
        "lastTestSuccess": c.last_test_success,
        "createdAt": ts(c.created_at),
        "updatedAt": ts(c.updated_at),
    });
    if let Some(obj) = v.as_object_mut() {
        let settings = settings(c);
        if let Some(s) = &settings {
            obj.extend(s.wire());
        }
        if let Some(ProtocolSettings::Saml(s)) = &settings {
            // Like every other protocol field: present, null when unset.
            obj.entry("metadataUrl").or_insert(Value::Null);
            if let Some(first) = s.idp_certificates.as_ref().and_then(|a| a.first()) {
                obj.insert("idpCertificate".into(), json!(first));
            }
        }
        if let Some(ProtocolSettings::Oidc(s)) = &settings {
            obj.insert("mixUpProtection".into(), json!(s.mix_up_protection().as_str()));
        }
        obj.insert("clientSecretSet".into(), json!(c.client_secret.is_some()));
        if c.protocol == Protocol::Ldap {
            obj.insert("ldapBindPasswordSet".into(), json!(c.ldap_bind_password.is_some()));
        }
    }
    v
}

/// The test result as the SDK expects it (`success`, `protocol`, `error`, and the facts the
/// grantex SDK parses: OIDC `issuer`, `authorizationEndpoint`, `tokenEndpoint`, `jwksUri` from
/// discovery; SAML `idpEntityId`, `idpSsoUrl`; LDAP `ldapUrl`, `ldapSearchBase`, `ldapTlsEnabled`).
pub fn test_view(c: &Connection, report: &CheckReport) -> Value {
    let mut v = json!({
        "success": report.success(),
        "protocol": c.protocol,
        "checks": report.checks,
    });
    if let Some(obj) = v.as_object_mut() {
        match settings(c) {
            Some(ProtocolSettings::Oidc(mut s)) => {
                if let Some(issuer) = s.issuer_url.take() {
                    obj.insert("issuer".into(), json!(issuer));
                }
                // What the test just learnt wins over what an earlier one stored.
                if let Some(iss) = report.facts.get("issParameterSupported").and_then(Value::as_bool) {
                    s.iss_parameter_supported = Some(iss);
                }
                obj.insert("mixUpProtection".into(), json!(s.mix_up_protection().as_str()));
            }
            Some(ProtocolSettings::Saml(s)) => {
                if let Some(id) = s.idp_entity_id {
                    obj.insert("idpEntityId".into(), json!(id));
                }
                if let Some(url) = s.idp_sso_url {
                    obj.insert("idpSsoUrl".into(), json!(url));
                }
            }
            Some(ProtocolSettings::Ldap(s)) => {
                obj.insert("ldapUrl".into(), json!(s.ldap_url));
                obj.insert("ldapSearchBase".into(), json!(s.ldap_search_base));
                obj.insert("ldapTlsEnabled".into(), json!(s.tls_in_use()));
            }
            None => {}
        }
        // What the test learnt from the IdP (discovery endpoints, metadata) wins over settings.
        for (k, v) in &report.facts {
            if k != "issParameterSupported" {
                obj.insert(k.clone(), v.clone());
            }
        }
        if let Some(f) = report.first_failure() {
            obj.insert("error".into(), json!(format!("{}: {}", f.name, f.message)));
        }
    }
    v
}
