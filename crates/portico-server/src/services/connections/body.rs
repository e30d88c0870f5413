//! The wire body of connection create and update, documented from its own type: every field
//! optional and nullable (absent keeps, `null` clears, see [`Patch`]), unknown fields refused.
//! [`super::input`] merges it onto the stored row.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;

use crate::patch::Patch;

/// Create / update body of a connection (SDK field names, plus the seed documents' aliases).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectionInput {
    /// Display name, 1-200 characters (required on create; cannot be null).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) name: Patch<String>,
    /// `oidc`, `saml` or `ldap`: required on create, refused on update.
    #[serde(default)]
    #[schema(value_type = Option<crate::openapi::mirrors::ProtocolSchema>)]
    pub(super) protocol: Patch<String>,
    /// `active`, `inactive` or `testing`.
    #[serde(default)]
    #[schema(value_type = Option<crate::openapi::mirrors::ConnectionStatusSchema>)]
    pub(super) status: Patch<String>,
    /// OIDC: the IdP's issuer (discovery is read from it).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) issuer_url: Patch<String>,
    /// OIDC: the client id registered at the IdP.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) client_id: Patch<String>,
    /// OIDC: the client secret (sealed at rest, never returned).
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only, format = Password)]
    pub(super) client_secret: Patch<SecretString>,
    /// OIDC: `client_secret_basic` or `client_secret_post` at the token endpoint.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) token_endpoint_auth_method: Patch<String>,
    /// OIDC: the IdP returns to this connection's own callback path (mix-up protection).
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub(super) dedicated_callback: Patch<bool>,
    /// SAML: the IdP's entity id.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) idp_entity_id: Patch<String>,
    /// SAML: the IdP's single sign-on URL.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) idp_sso_url: Patch<String>,
    /// SAML: one IdP signing certificate (PEM or base64 DER).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) idp_certificate: Patch<String>,
    /// SAML: the IdP's signing certificates (rotation); wins over `idpCertificate`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub(super) idp_certificates: Patch<Vec<String>>,
    /// SAML: Portico's entity id for this connection.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) sp_entity_id: Patch<String>,
    /// SAML: alias of `spEntityId` (seed documents).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) entity_id: Patch<String>,
    /// SAML: Portico's assertion consumer service URL.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) sp_acs_url: Patch<String>,
    /// SAML: alias of `spAcsUrl` (seed documents).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) assertion_consumer_service_url: Patch<String>,
    /// SAML: where the IdP's metadata is fetched from.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) metadata_url: Patch<String>,
    /// SAML: the IdP's metadata document.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) metadata_xml: Patch<String>,
    /// SAML: accept IdP-initiated responses.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub(super) allow_idp_initiated: Patch<bool>,
    /// SAML: accept SHA-1 signatures.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub(super) allow_sha1: Patch<bool>,
    /// SAML: the Response itself must be signed.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub(super) require_signed_response: Patch<bool>,
    /// SAML: the assertion must be signed.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub(super) require_signed_assertion: Patch<bool>,
    /// LDAP: `ldap://` or `ldaps://` URL of the directory.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) ldap_url: Patch<String>,
    /// LDAP: the service account's DN.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) ldap_bind_dn: Patch<String>,
    /// LDAP: the service account's password (sealed at rest, never returned).
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only, format = Password)]
    pub(super) ldap_bind_password: Patch<SecretString>,
    /// LDAP: where users are searched.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) ldap_search_base: Patch<String>,
    /// LDAP: the user search filter.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) ldap_search_filter: Patch<String>,
    /// LDAP: where groups are searched.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) ldap_group_search_base: Patch<String>,
    /// LDAP: the group search filter.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) ldap_group_search_filter: Patch<String>,
    /// LDAP: use TLS.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub(super) ldap_tls_enabled: Patch<bool>,
    /// LDAP: upgrade with StartTLS.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub(super) ldap_start_tls: Patch<bool>,
    /// LDAP: the CA certificate (PEM) the directory's certificate is checked against.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) ldap_ca_certificate: Patch<String>,
    /// LDAP: allow a plaintext connection (refused by default).
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub(super) ldap_allow_plaintext: Patch<bool>,
    /// Email domains routed to this connection (normalised, at most 100).
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub(super) domains: Patch<Vec<String>>,
    /// Create users at their first sign-in.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub(super) jit_provisioning: Patch<bool>,
    /// Users of the connection's domains must sign in through it.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub(super) enforce: Patch<bool>,
    /// The IdP claim or attribute carrying group names.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) group_attribute: Patch<String>,
    /// Role name to the IdP groups that grant it.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, Vec<String>>>)]
    pub(super) group_mappings: Patch<BTreeMap<String, Vec<String>>>,
    /// OIDC scopes asked for besides `openid`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub(super) default_scopes: Patch<Vec<String>>,
    /// Role given to provisioned members (never `owner`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) default_role: Patch<String>,
    /// Portico attribute to the IdP claim or attribute it is read from.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub(super) attribute_mapping: Patch<BTreeMap<String, String>>,
    /// Where a finished sign-in may return to (default: the shared callback).
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub(super) redirect_uris: Patch<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::ConnectionInput;

    /// The field names serde accepts, read from its unknown-field refusal (which lists them all).
    fn accepted() -> Vec<String> {
        let e = serde_json::from_value::<ConnectionInput>(json!({ "notAField": 1 })).unwrap_err();
        let msg = e.to_string();
        let list = msg.split("expected one of ").nth(1).unwrap();
        let mut v: Vec<String> = list.split(", ").map(|f| f.trim_matches('`').to_owned()).collect();
        v.sort();
        v
    }

    /// The schema lists exactly the fields the deserializer takes, none required, each nullable
    /// (absent keeps, `null` clears), and nothing else (`deny_unknown_fields`).
    #[test]
    fn the_schema_is_the_wire() {
        let schema = serde_json::to_value(<ConnectionInput as utoipa::PartialSchema>::schema()).unwrap();
        let props = schema["properties"].as_object().unwrap();
        let mut names: Vec<String> = props.keys().cloned().collect();
        names.sort();
        assert_eq!(names, accepted());
        assert_eq!(schema["additionalProperties"], json!(false));
        assert!(schema
            .get("required")
            .is_none_or(|r| r.as_array().is_some_and(Vec::is_empty)));
        for (name, p) in props {
            let nullable = p["type"].as_array().is_some_and(|t| t.contains(&json!("null")))
                || p["oneOf"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|s| s["type"] == json!("null")));
            assert!(nullable, "{name} is not nullable in {p}");
            // null is accepted by the deserializer for every field too
            let one: Value = json!({ name.as_str(): null });
            serde_json::from_value::<ConnectionInput>(one).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
