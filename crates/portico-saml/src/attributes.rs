//! From a validated assertion to the normalised identity: NameID, the attribute mapping with
//! defaults for Okta, Entra ID / ADFS, Google Workspace and LDAP OIDs, groups, and MFA from the
//! AuthnContextClassRef (or Entra's `authnmethodsreferences`).

use portico_core::idp::ExternalIdentity;
use serde_json::{json, Map, Value};

use crate::config::AttributeMapping;
use crate::response::{SamlAttribute, ValidatedAssertion};

const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

/// Default email attribute names.
pub const EMAIL_ATTRS: &[&str] = &[
    "email",
    "mail",
    "Email",
    "emailAddress",
    "user.email",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "urn:oid:0.9.2342.19200300.100.1.3",
];
/// Default display-name attribute names.
pub const NAME_ATTRS: &[&str] = &[
    "name",
    "displayName",
    "display_name",
    "http://schemas.microsoft.com/identity/claims/displayname",
    "urn:oid:2.16.840.1.113730.3.1.241",
    "cn",
    "urn:oid:2.5.4.3",
];
/// Default given-name attribute names.
pub const FIRST_NAME_ATTRS: &[&str] = &[
    "firstName",
    "first_name",
    "givenName",
    "given_name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "urn:oid:2.5.4.42",
];
/// Default family-name attribute names.
pub const LAST_NAME_ATTRS: &[&str] = &[
    "lastName",
    "last_name",
    "surname",
    "sn",
    "familyName",
    "family_name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "urn:oid:2.5.4.4",
];
/// Default groups attribute names.
pub const GROUP_ATTRS: &[&str] = &[
    "groups",
    "group",
    "memberOf",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
    "http://schemas.xmlsoap.org/claims/Group",
    "urn:oid:1.3.6.1.4.1.5923.1.5.1.1",
];
/// Entra ID / ADFS authentication methods attribute.
pub const AUTHN_METHODS_ATTR: &str = "http://schemas.microsoft.com/claims/authnmethodsreferences";

/// AuthnContextClassRef values (and Entra authentication method values) meaning multi-factor.
pub const MFA_CONTEXTS: &[&str] = &[
    "http://schemas.microsoft.com/claims/multipleauthn",
    "https://refeds.org/profile/mfa",
    "http://schemas.microsoft.com/ws/2012/12/authmethod/phoneappnotification",
    "http://schemas.microsoft.com/ws/2012/12/authmethod/phoneappotp",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MultiFactor",
    "urn:okta:saml:2.0:ac:classes:mfa",
];

fn find<'a>(attrs: &'a [SamlAttribute], configured: Option<&str>, defaults: &[&str]) -> Option<&'a SamlAttribute> {
    match configured {
        Some(name) => attrs
            .iter()
            .find(|a| a.name == name || a.friendly_name.as_deref() == Some(name)),
        None => defaults.iter().find_map(|d| {
            attrs
                .iter()
                .find(|a| a.name == *d || a.friendly_name.as_deref() == Some(*d))
        }),
    }
}

fn first(a: Option<&SamlAttribute>) -> Option<String> {
    a.and_then(|a| a.values.first())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Builds the identity.
pub fn identity(v: &ValidatedAssertion, mapping: &AttributeMapping, group_attribute: Option<&str>) -> ExternalIdentity {
    let attrs = &v.attributes;
    let email = first(find(attrs, mapping.email.as_deref(), EMAIL_ATTRS)).or_else(|| {
        let fmt = v.name_id_format.as_deref().unwrap_or(NAMEID_UNSPECIFIED);
        ((fmt == NAMEID_EMAIL || fmt == NAMEID_UNSPECIFIED) && looks_like_email(&v.name_id)).then(|| v.name_id.clone())
    });
    let first_name = first(find(attrs, mapping.first_name.as_deref(), FIRST_NAME_ATTRS));
    let last_name = first(find(attrs, mapping.last_name.as_deref(), LAST_NAME_ATTRS));
    let name = first(find(attrs, mapping.name.as_deref(), NAME_ATTRS)).or_else(|| match (&first_name, &last_name) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (Some(f), None) => Some(f.clone()),
        (None, Some(l)) => Some(l.clone()),
        (None, None) => None,
    });
    let group_name = group_attribute
        .filter(|g| !g.trim().is_empty())
        .or(mapping.groups.as_deref());
    let mut groups: Vec<String> = find(attrs, group_name, GROUP_ATTRS)
        .map(|a| a.values.clone())
        .unwrap_or_default();
    groups.dedup();
    let mut amr = v.authn_contexts.clone();
    if let Some(m) = attrs.iter().find(|a| a.name == AUTHN_METHODS_ATTR) {
        amr.extend(m.values.iter().cloned());
    }
    let mfa = amr.iter().any(|c| MFA_CONTEXTS.contains(&c.as_str()));
    let mut raw = Map::new();
    for a in attrs {
        raw.insert(a.name.clone(), json!(a.values));
    }
    // The assertion's validity window is how long it can be replayed (the replay cache keeps it
    // that long), not a session lifetime; SessionNotOnOrAfter bounds the session.
    let expires_at = v.acceptable_until;
    ExternalIdentity {
        issuer: v.issuer.clone(),
        subject: v.name_id.clone(),
        email,
        email_verified: None,
        name,
        groups,
        amr,
        mfa,
        expires_at: Some(expires_at),
        session_not_on_or_after: v.session_not_on_or_after,
        raw: json!({
            "nameId": v.name_id,
            "nameIdFormat": v.name_id_format,
            "attributes": Value::Object(raw),
            "firstName": first_name,
            "lastName": last_name,
            "sessionNotOnOrAfter": v.session_not_on_or_after,
        }),
        assertion_id: Some(v.assertion_id.clone()),
    }
}
