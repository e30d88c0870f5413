//! SSO connections: one typed input for create and update (camelCase, seed-doc aliases, explicit
//! `null` clears), merged onto the stored row and validated as a whole per protocol; secrets
//! sealed; a domain on at most one active connection per organization; one view for both API
//! families (never a secret).

use chrono::{SecondsFormat, Utc};
use portico_core::ids;
use portico_core::role::Role;
use portico_core::secretbox::Slot;
use portico_store::connections::{self, Connection};
use portico_store::{audit, PgPool};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::org::OrgAccess;
use crate::auth::policy::Need;
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::patch::Patch;
use crate::services::audit::event;
use crate::state::AppState;

/// Create / update body of a connection (SDK field names, plus the seed documents' aliases).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectionInput {
    #[serde(default)]
    name: Patch<String>,
    #[serde(default)]
    protocol: Patch<String>,
    #[serde(default)]
    status: Patch<String>,
    #[serde(default)]
    issuer_url: Patch<String>,
    #[serde(default)]
    client_id: Patch<String>,
    #[serde(default)]
    client_secret: Patch<SecretString>,
    #[serde(default)]
    token_endpoint_auth_method: Patch<String>,
    #[serde(default)]
    idp_entity_id: Patch<String>,
    #[serde(default)]
    idp_sso_url: Patch<String>,
    #[serde(default)]
    idp_certificate: Patch<String>,
    #[serde(default)]
    idp_certificates: Patch<Vec<String>>,
    #[serde(default)]
    sp_entity_id: Patch<String>,
    #[serde(default)]
    entity_id: Patch<String>,
    #[serde(default)]
    sp_acs_url: Patch<String>,
    #[serde(default)]
    assertion_consumer_service_url: Patch<String>,
    #[serde(default)]
    metadata_url: Patch<String>,
    #[serde(default)]
    metadata_xml: Patch<String>,
    #[serde(default)]
    allow_idp_initiated: Patch<bool>,
    #[serde(default)]
    allow_sha1: Patch<bool>,
    #[serde(default)]
    require_signed_response: Patch<bool>,
    #[serde(default)]
    require_signed_assertion: Patch<bool>,
    #[serde(default)]
    ldap_url: Patch<String>,
    #[serde(default)]
    ldap_bind_dn: Patch<String>,
    #[serde(default)]
    ldap_bind_password: Patch<SecretString>,
    #[serde(default)]
    ldap_search_base: Patch<String>,
    #[serde(default)]
    ldap_search_filter: Patch<String>,
    #[serde(default)]
    ldap_group_search_base: Patch<String>,
    #[serde(default)]
    ldap_group_search_filter: Patch<String>,
    #[serde(default)]
    ldap_tls_enabled: Patch<bool>,
    #[serde(default)]
    ldap_start_tls: Patch<bool>,
    #[serde(default)]
    ldap_ca_certificate: Patch<String>,
    #[serde(default)]
    ldap_allow_plaintext: Patch<bool>,
    #[serde(default)]
    domains: Patch<Vec<String>>,
    #[serde(default)]
    jit_provisioning: Patch<bool>,
    #[serde(default)]
    enforce: Patch<bool>,
    #[serde(default)]
    group_attribute: Patch<String>,
    #[serde(default)]
    group_mappings: Patch<std::collections::BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    default_scopes: Patch<Vec<String>>,
    #[serde(default)]
    default_role: Patch<String>,
    #[serde(default)]
    attribute_mapping: Patch<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    redirect_uris: Patch<Vec<String>>,
}

/// Non-secret protocol fields kept in `config`, by wire name.
const CONFIG_KEYS: &[&str] = &[
    "issuerUrl",
    "clientId",
    "tokenEndpointAuthMethod",
    "idpEntityId",
    "idpSsoUrl",
    "idpCertificates",
    "spEntityId",
    "spAcsUrl",
    "metadataUrl",
    "metadataXml",
    "allowIdpInitiated",
    "allowSha1",
    "requireSignedResponse",
    "requireSignedAssertion",
    "ldapUrl",
    "ldapBindDn",
    "ldapSearchBase",
    "ldapSearchFilter",
    "ldapGroupSearchBase",
    "ldapGroupSearchFilter",
    "ldapTlsEnabled",
    "ldapStartTls",
    "ldapCaCertificate",
    "ldapAllowPlaintext",
];

fn set_cfg<T: serde::Serialize>(cfg: &mut Map<String, Value>, key: &str, p: Patch<T>) {
    match p {
        Patch::Absent => {}
        Patch::Null => {
            cfg.remove(key);
        }
        Patch::Value(v) => {
            cfg.insert(key.to_owned(), json!(v));
        }
    }
}

fn blank(org_id: &str, protocol: &str) -> Connection {
    let now = Utc::now();
    Connection {
        id: ids::prefixed(ids::CONNECTION),
        organization_id: org_id.to_owned(),
        name: String::new(),
        protocol: protocol.to_owned(),
        status: "active".into(),
        is_default: false,
        provider: None,
        config: json!({}),
        client_secret: None,
        ldap_bind_password: None,
        sp_private_key: None,
        domains: Vec::new(),
        jit_provisioning: false,
        enforce: false,
        group_attribute: None,
        group_mappings: json!({}),
        default_scopes: Vec::new(),
        default_role: None,
        attribute_mapping: json!({}),
        redirect_uris: Vec::new(),
        last_test_at: None,
        last_test_success: None,
        created_at: now,
        updated_at: now,
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

/// Applies `input` to `conn` (which is `creating` or an existing row); validates the result.
fn apply(state: &AppState, conn: &mut Connection, input: ConnectionInput, creating: bool) -> Result<(), ApiError> {
    if let Patch::Value(n) = input.name {
        conn.name = n.trim().to_owned();
    } else if input.name == Patch::Null {
        return Err(ApiError::field("name", "cannot be null"));
    }
    if let Patch::Value(s) = input.status {
        conn.status = s;
    }
    let mut cfg = conn.config.as_object().cloned().unwrap_or_default();
    set_cfg(&mut cfg, "issuerUrl", input.issuer_url);
    set_cfg(&mut cfg, "clientId", input.client_id);
    set_cfg(&mut cfg, "tokenEndpointAuthMethod", input.token_endpoint_auth_method);
    set_cfg(&mut cfg, "idpEntityId", input.idp_entity_id);
    set_cfg(&mut cfg, "idpSsoUrl", input.idp_sso_url);
    let certs = match (input.idp_certificates, input.idp_certificate) {
        (Patch::Value(many), _) => Patch::Value(many),
        (Patch::Null, _) | (_, Patch::Null) => Patch::Null,
        (Patch::Absent, Patch::Value(one)) => Patch::Value(vec![one]),
        (Patch::Absent, Patch::Absent) => Patch::Absent,
    };
    set_cfg(&mut cfg, "idpCertificates", certs);
    set_cfg(&mut cfg, "spEntityId", input.sp_entity_id.or(input.entity_id));
    set_cfg(
        &mut cfg,
        "spAcsUrl",
        input.sp_acs_url.or(input.assertion_consumer_service_url),
    );
    set_cfg(&mut cfg, "metadataUrl", input.metadata_url);
    set_cfg(&mut cfg, "metadataXml", input.metadata_xml);
    set_cfg(&mut cfg, "allowIdpInitiated", input.allow_idp_initiated);
    set_cfg(&mut cfg, "allowSha1", input.allow_sha1);
    set_cfg(&mut cfg, "requireSignedResponse", input.require_signed_response);
    set_cfg(&mut cfg, "requireSignedAssertion", input.require_signed_assertion);
    set_cfg(&mut cfg, "ldapUrl", input.ldap_url);
    set_cfg(&mut cfg, "ldapBindDn", input.ldap_bind_dn);
    set_cfg(&mut cfg, "ldapSearchBase", input.ldap_search_base);
    set_cfg(&mut cfg, "ldapSearchFilter", input.ldap_search_filter);
    set_cfg(&mut cfg, "ldapGroupSearchBase", input.ldap_group_search_base);
    set_cfg(&mut cfg, "ldapGroupSearchFilter", input.ldap_group_search_filter);
    set_cfg(&mut cfg, "ldapTlsEnabled", input.ldap_tls_enabled);
    set_cfg(&mut cfg, "ldapStartTls", input.ldap_start_tls);
    set_cfg(&mut cfg, "ldapCaCertificate", input.ldap_ca_certificate);
    set_cfg(&mut cfg, "ldapAllowPlaintext", input.ldap_allow_plaintext);
    conn.config = Value::Object(cfg);
    match input.client_secret {
        Patch::Value(s) => conn.client_secret = Some(seal(state, conn, "client_secret", &s)?),
        Patch::Null => conn.client_secret = None,
        Patch::Absent => {}
    }
    match input.ldap_bind_password {
        Patch::Value(s) => conn.ldap_bind_password = Some(seal(state, conn, "ldap_bind_password", &s)?),
        Patch::Null => conn.ldap_bind_password = None,
        Patch::Absent => {}
    }
    if let Some(d) = input.domains.clone().apply(Some(conn.domains.clone())) {
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
    validate(state, conn, creating)
}

fn validate(state: &AppState, conn: &mut Connection, creating: bool) -> Result<(), ApiError> {
    if conn.name.is_empty() || conn.name.chars().count() > 200 {
        return Err(ApiError::field("name", "must be 1-200 characters"));
    }
    if !matches!(conn.status.as_str(), "active" | "inactive" | "testing") {
        return Err(ApiError::field("status", "must be active, inactive or testing"));
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
        check_url(state, &format!("redirectUris[{i}]"), u)?;
    }
    let cfg = conn.config.as_object().cloned().unwrap_or_default();
    let s = |k: &str| cfg.get(k).and_then(Value::as_str).map(str::to_owned);
    match conn.protocol.as_str() {
        "oidc" => {
            let issuer = s("issuerUrl").ok_or_else(|| ApiError::field("issuerUrl", "is required for OIDC"))?;
            crate::services::sso_settings::validate_issuer(state, "issuerUrl", &issuer)?;
            let cid = s("clientId").ok_or_else(|| ApiError::field("clientId", "is required for OIDC"))?;
            if cid.is_empty() || cid.len() > 256 {
                return Err(ApiError::field("clientId", "must be 1-256 characters"));
            }
            if conn.client_secret.is_none() {
                return Err(ApiError::field("clientSecret", "is required for OIDC"));
            }
            if let Some(m) = s("tokenEndpointAuthMethod") {
                if portico_oidc::ClientAuth::parse(&m).is_none() {
                    return Err(ApiError::field(
                        "tokenEndpointAuthMethod",
                        "must be client_secret_basic or client_secret_post",
                    ));
                }
            }
        }
        "saml" => {
            let has_metadata = s("metadataUrl").is_some() || s("metadataXml").is_some();
            if let Some(u) = s("metadataUrl") {
                check_url(state, "metadataUrl", &u)?;
            }
            if let Some(u) = s("idpSsoUrl") {
                check_url(state, "idpSsoUrl", &u)?;
            }
            let certs = cfg
                .get("idpCertificates")
                .and_then(Value::as_array)
                .map(Vec::len)
                .unwrap_or(0);
            if !has_metadata && (s("idpEntityId").is_none() || s("idpSsoUrl").is_none() || certs == 0) {
                return Err(ApiError::field(
                    "idpCertificate",
                    "SAML needs metadataUrl or metadataXml, or idpEntityId + idpSsoUrl + idpCertificate (a connection without an IdP signing certificate would accept unsigned responses)",
                ));
            }
            for (i, c) in cfg
                .get("idpCertificates")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let pem = c.as_str().unwrap_or_default();
                if pem.len() > 16_384 || pem.trim().is_empty() {
                    return Err(ApiError::field(
                        format!("idpCertificates[{i}]"),
                        "must be a PEM or base64 certificate",
                    ));
                }
            }
            if let Some(acs) = s("spAcsUrl") {
                check_url(state, "spAcsUrl", &acs)?;
            }
        }
        "ldap" => {
            let url = s("ldapUrl").ok_or_else(|| ApiError::field("ldapUrl", "is required for LDAP"))?;
            let parsed =
                url::Url::parse(&url).map_err(|_| ApiError::field("ldapUrl", "must be an ldap:// or ldaps:// URL"))?;
            if !matches!(parsed.scheme(), "ldap" | "ldaps") || parsed.host_str().is_none() {
                return Err(ApiError::field("ldapUrl", "must be an ldap:// or ldaps:// URL"));
            }
            for k in ["ldapBindDn", "ldapSearchBase"] {
                if s(k).is_none_or(|v| v.trim().is_empty()) {
                    return Err(ApiError::field(k, "is required for LDAP"));
                }
            }
            if conn.ldap_bind_password.is_none() {
                return Err(ApiError::field("ldapBindPassword", "is required for LDAP"));
            }
            if let Some(f) = s("ldapSearchFilter") {
                if portico_ldap::escape::check_template("ldapSearchFilter", &f, true).is_err() || !f.starts_with('(') {
                    return Err(ApiError::field(
                        "ldapSearchFilter",
                        "must be an LDAP filter containing {{username}}",
                    ));
                }
            }
            if let Some(f) = s("ldapGroupSearchFilter") {
                if portico_ldap::escape::check_template("ldapGroupSearchFilter", &f, false).is_err()
                    || !f.starts_with('(')
                {
                    return Err(ApiError::field(
                        "ldapGroupSearchFilter",
                        "must be an LDAP filter (placeholders {{dn}}, {{username}})",
                    ));
                }
            }
            // Never plain text unless explicitly allowed; ldapStartTls only on ldap:// URLs.
            let flag = |k: &str| cfg.get(k).and_then(Value::as_bool);
            let (start_tls, allow_plain) = (
                flag("ldapStartTls").unwrap_or(false),
                flag("ldapAllowPlaintext").unwrap_or(false),
            );
            if let Err(e) =
                portico_ldap::Transport::decide(parsed.scheme(), start_tls, flag("ldapTlsEnabled"), allow_plain)
            {
                let field = if parsed.scheme() == "ldaps" {
                    "ldapStartTls"
                } else {
                    "ldapAllowPlaintext"
                };
                return Err(ApiError::field(
                    field,
                    e.to_string()
                        .trim_start_matches("connection misconfigured: ")
                        .to_owned(),
                ));
            }
            if let Some(pem) = s("ldapCaCertificate") {
                portico_ldap::check_ca_certificate(&pem).map_err(|e| {
                    ApiError::field(
                        "ldapCaCertificate",
                        e.to_string()
                            .trim_start_matches("connection misconfigured: ")
                            .to_owned(),
                    )
                })?;
            }
        }
        other => {
            return Err(ApiError::field(
                "protocol",
                format!("{other:?} is not oidc, saml or ldap"),
            ))
        }
    }
    let _ = creating;
    Ok(())
}

fn check_url(state: &AppState, field: &str, u: &str) -> Result<(), ApiError> {
    let parsed = url::Url::parse(u).map_err(|_| ApiError::field(field, "must be an absolute URL"))?;
    let ok = parsed.scheme() == "https"
        || (parsed.scheme() == "http" && (state.settings.outbound.allow_insecure_http || is_loopback(&parsed)));
    if !ok || parsed.host_str().is_none() || !parsed.username().is_empty() || u.len() > 2048 {
        return Err(ApiError::field(field, "must be an https URL"));
    }
    Ok(())
}

fn is_loopback(u: &url::Url) -> bool {
    matches!(u.host_str(), Some("localhost") | Some("127.0.0.1") | Some("[::1]"))
}

/// Refuses a domain already on another active connection of the organization.
async fn check_domain_exclusive(db: &mut sqlx::PgConnection, conn: &Connection) -> Result<(), ApiError> {
    if conn.status != "active" || conn.domains.is_empty() {
        return Ok(());
    }
    for other in connections::for_org(&mut *db, &conn.organization_id).await? {
        if other.id == conn.id || other.status != "active" {
            continue;
        }
        if let Some(d) = other.domains.iter().find(|d| conn.domains.contains(d)) {
            return Err(ApiError::Conflict(format!(
                "domains: {d} is already routed to active connection {}",
                other.id
            )));
        }
    }
    Ok(())
}

/// Locks the organization row so concurrent connection writes serialise on it.
async fn lock_org(db: &mut sqlx::PgConnection, org_id: &str) -> Result<(), ApiError> {
    sqlx::query("SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE")
        .bind(org_id)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// Creates a connection.
pub async fn create(
    state: &AppState,
    ctx: &ClientInfo,
    access: &OrgAccess,
    input: ConnectionInput,
) -> Result<Connection, ApiError> {
    access.require(Need::Owner)?;
    let protocol = input
        .protocol
        .value()
        .cloned()
        .ok_or_else(|| ApiError::field("protocol", "is required (oidc, saml or ldap)"))?;
    if portico_core::idp::Protocol::parse(&protocol).is_none() {
        return Err(ApiError::field("protocol", "must be oidc, saml or ldap"));
    }
    if input.name.value().is_none() {
        return Err(ApiError::field("name", "is required"));
    }
    let mut conn = blank(&access.org.id, &protocol);
    apply(state, &mut conn, input, true)?;
    if conn.protocol == "saml" {
        crate::services::saml_setup::prepare(state, &mut conn)?;
        crate::services::saml_setup::check_idp_metadata_url(state, &conn).await?;
    }
    let mut tx = state.db.begin().await?;
    lock_org(&mut tx, &access.org.id).await?;
    check_domain_exclusive(&mut tx, &conn).await?;
    let saved = connections::insert(&mut *tx, &conn).await?;
    let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "sso_connection.create");
    e.connection_id = Some(saved.id.clone());
    e.details = Some(json!({ "name": saved.name, "protocol": saved.protocol, "domains": saved.domains }));
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(saved)
}

/// Updates a connection (any subset; not the protocol).
pub async fn update(
    state: &AppState,
    ctx: &ClientInfo,
    access: &OrgAccess,
    id: &str,
    input: ConnectionInput,
) -> Result<Connection, ApiError> {
    access.require(Need::Owner)?;
    if input.protocol.is_present() {
        return Err(ApiError::field(
            "protocol",
            "cannot be changed; create a new connection",
        ));
    }
    let mut tx = state.db.begin().await?;
    lock_org(&mut tx, &access.org.id).await?;
    let mut conn = connections::by_id(&mut *tx, id, Some(&access.org.id))
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    let changed_config = input.issuer_url.is_present()
        || input.client_id.is_present()
        || input.client_secret.is_present()
        || input.metadata_url.is_present()
        || input.metadata_xml.is_present()
        || input.idp_entity_id.is_present()
        || input.idp_sso_url.is_present()
        || input.idp_certificate.is_present()
        || input.idp_certificates.is_present()
        || input.ldap_url.is_present()
        || input.ldap_bind_password.is_present();
    apply(state, &mut conn, input, false)?;
    if changed_config {
        conn.last_test_at = None;
        conn.last_test_success = None;
    }
    if conn.protocol == "saml" {
        crate::services::saml_setup::check_idp(&conn)?;
        // Inside the transaction (the org row is locked for at most the outbound timeout): an
        // update is rare, and the check must see the merged configuration.
        if changed_config {
            crate::services::saml_setup::check_idp_metadata_url(state, &conn).await?;
        }
    }
    check_domain_exclusive(&mut tx, &conn).await?;
    let saved = connections::update(&mut *tx, &conn).await?;
    let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "sso_connection.update");
    e.connection_id = Some(saved.id.clone());
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(saved)
}

/// Deletes a connection; its identities and sessions go with it (revoked at once).
pub async fn delete(db: &PgPool, ctx: &ClientInfo, access: &OrgAccess, id: &str) -> Result<(), ApiError> {
    access.require(Need::Owner)?;
    let mut tx = db.begin().await?;
    connections::delete(&mut *tx, id, &access.org.id)
        .await
        .map_err(crate::error::not_found("connection"))?;
    let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "sso_connection.delete");
    e.connection_id = Some(id.to_owned());
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(())
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
    if let (Some(obj), Some(cfg)) = (v.as_object_mut(), c.config.as_object()) {
        for k in CONFIG_KEYS {
            if let Some(val) = cfg.get(*k) {
                obj.insert((*k).to_owned(), val.clone());
            }
        }
        if let Some(first) = cfg
            .get("idpCertificates")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            obj.insert("idpCertificate".into(), first.clone());
        }
        obj.insert("clientSecretSet".into(), json!(c.client_secret.is_some()));
        if c.protocol == "ldap" {
            obj.insert("ldapBindPasswordSet".into(), json!(c.ldap_bind_password.is_some()));
        }
    }
    v
}

/// The test result as the SDK expects it (`success`, `protocol`, discovery facts, `error`).
pub fn test_view(c: &Connection, report: &portico_core::idp::CheckReport) -> Value {
    let mut v = json!({
        "success": report.success(),
        "protocol": c.protocol,
        "checks": report.checks,
    });
    if let Some(obj) = v.as_object_mut() {
        for (k, cfg_key) in [
            ("issuer", "issuerUrl"),
            ("idpEntityId", "idpEntityId"),
            ("idpSsoUrl", "idpSsoUrl"),
        ] {
            if let Some(val) = c.config.get(cfg_key) {
                obj.insert(k.into(), val.clone());
            }
        }
        if let Some(f) = report.first_failure() {
            obj.insert("error".into(), json!(format!("{}: {}", f.name, f.message)));
        }
    }
    v
}

/// Tests a connection and records the result; failures are a report, not an error.
pub async fn test(
    state: &AppState,
    ctx: &ClientInfo,
    access: &OrgAccess,
    conn: &Connection,
) -> Result<portico_core::idp::CheckReport, ApiError> {
    let report = match state.idp.provider(conn, &state.secrets) {
        Ok(p) => p.check().await,
        Err(e) => {
            let mut r = portico_core::idp::CheckReport::default();
            r.push("configuration", false, e.to_string());
            r
        }
    };
    let success = report.success();
    connections::record_test(&state.db, &conn.id, success).await?;
    let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "sso_connection.test");
    e.connection_id = Some(conn.id.clone());
    e.success = success;
    e.reason = report.first_failure().map(|c| c.name.clone());
    audit::record(&state.db, e).await?;
    Ok(report)
}
