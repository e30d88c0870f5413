//! SSO connections: several per organization; the default OIDC connection is the one that
//! `/settings/sso` and the legacy `/v1/sso/config` write.

use chrono::{DateTime, Utc};
use portico_core::connection::{ConnectionStatus, Protocol};
use sqlx::PgExecutor;

use crate::StoreError;

/// A connection row. Sealed secrets stay sealed here; only the secret box opens them.
#[derive(Clone, sqlx::FromRow)]
pub struct Connection {
    /// `sso_<ULID>`.
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// Display name.
    pub name: String,
    /// The sign-in protocol (fixed at creation).
    #[sqlx(try_from = "String")]
    pub protocol: Protocol,
    /// Whether the connection takes part in sign-in.
    #[sqlx(try_from = "String")]
    pub status: ConnectionStatus,
    /// The organization's default OIDC connection.
    pub is_default: bool,
    /// IdP family (`okta`, `azure`, `google`, `oidc`).
    pub provider: Option<String>,
    /// Non-secret protocol fields (the server's typed per-protocol settings, as JSON).
    pub config: serde_json::Value,
    /// Sealed OIDC client secret.
    pub client_secret: Option<String>,
    /// Sealed LDAP bind password.
    pub ldap_bind_password: Option<String>,
    /// Sealed SAML SP private key.
    pub sp_private_key: Option<String>,
    /// Email domains routed to this connection.
    pub domains: Vec<String>,
    /// Just-in-time provisioning.
    pub jit_provisioning: bool,
    /// Enforcement flag as the SDK sees it.
    pub enforce: bool,
    /// Attribute / claim carrying groups.
    pub group_attribute: Option<String>,
    /// `{"Group": ["scope", …]}`.
    pub group_mappings: serde_json::Value,
    /// Scopes when no group matched.
    pub default_scopes: Vec<String>,
    /// Role for provisioned members.
    pub default_role: Option<String>,
    /// Attribute mapping.
    pub attribute_mapping: serde_json::Value,
    /// Allowed redirect URIs for SDK logins.
    pub redirect_uris: Vec<String>,
    /// Last test time.
    pub last_test_at: Option<DateTime<Utc>>,
    /// Whether the last test passed.
    pub last_test_success: Option<bool>,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("organization_id", &self.organization_id)
            .field("protocol", &self.protocol)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

const COLS: &str = "id, organization_id, name, protocol, status, is_default, provider, config, client_secret,
    ldap_bind_password, sp_private_key, domains, jit_provisioning, enforce, group_attribute, group_mappings,
    default_scopes, default_role, attribute_mapping, redirect_uris, last_test_at, last_test_success, created_at, updated_at";

/// The same columns qualified by the alias `c` (for joins).
pub(crate) const COLS_OF_C: &str = "c.id, c.organization_id, c.name, c.protocol, c.status, c.is_default, c.provider,
    c.config, c.client_secret, c.ldap_bind_password, c.sp_private_key, c.domains, c.jit_provisioning, c.enforce,
    c.group_attribute, c.group_mappings, c.default_scopes, c.default_role, c.attribute_mapping, c.redirect_uris,
    c.last_test_at, c.last_test_success, c.created_at, c.updated_at";

/// Inserts a connection row as given (all columns but timestamps and test results).
pub async fn insert(db: impl PgExecutor<'_>, c: &Connection) -> Result<Connection, StoreError> {
    Ok(sqlx::query_as::<_, Connection>(&format!(
        "INSERT INTO sso_connections (id, organization_id, name, protocol, status, is_default, provider, config,
            client_secret, ldap_bind_password, sp_private_key, domains, jit_provisioning, enforce, group_attribute,
            group_mappings, default_scopes, default_role, attribute_mapping, redirect_uris)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
         RETURNING {COLS}"
    ))
    .bind(&c.id)
    .bind(&c.organization_id)
    .bind(&c.name)
    .bind(c.protocol.as_str())
    .bind(c.status.as_str())
    .bind(c.is_default)
    .bind(&c.provider)
    .bind(&c.config)
    .bind(&c.client_secret)
    .bind(&c.ldap_bind_password)
    .bind(&c.sp_private_key)
    .bind(&c.domains)
    .bind(c.jit_provisioning)
    .bind(c.enforce)
    .bind(&c.group_attribute)
    .bind(&c.group_mappings)
    .bind(&c.default_scopes)
    .bind(&c.default_role)
    .bind(&c.attribute_mapping)
    .bind(&c.redirect_uris)
    .fetch_one(db)
    .await?)
}

/// Writes every mutable column of `c` (by id and organization).
pub async fn update(db: impl PgExecutor<'_>, c: &Connection) -> Result<Connection, StoreError> {
    Ok(sqlx::query_as::<_, Connection>(&format!(
        "UPDATE sso_connections SET name = $3, status = $4, provider = $5, config = $6, client_secret = $7,
            ldap_bind_password = $8, sp_private_key = $9, domains = $10, jit_provisioning = $11, enforce = $12,
            group_attribute = $13, group_mappings = $14, default_scopes = $15, default_role = $16,
            attribute_mapping = $17, redirect_uris = $18, last_test_at = $19, last_test_success = $20, updated_at = now()
         WHERE id = $1 AND organization_id = $2 RETURNING {COLS}"
    ))
    .bind(&c.id)
    .bind(&c.organization_id)
    .bind(&c.name)
    .bind(c.status.as_str())
    .bind(&c.provider)
    .bind(&c.config)
    .bind(&c.client_secret)
    .bind(&c.ldap_bind_password)
    .bind(&c.sp_private_key)
    .bind(&c.domains)
    .bind(c.jit_provisioning)
    .bind(c.enforce)
    .bind(&c.group_attribute)
    .bind(&c.group_mappings)
    .bind(&c.default_scopes)
    .bind(&c.default_role)
    .bind(&c.attribute_mapping)
    .bind(&c.redirect_uris)
    .bind(c.last_test_at)
    .bind(c.last_test_success)
    .fetch_one(db)
    .await?)
}

/// A connection by id, scoped to an organization when `org_id` is given.
pub async fn by_id(db: impl PgExecutor<'_>, id: &str, org_id: Option<&str>) -> Result<Option<Connection>, StoreError> {
    Ok(sqlx::query_as::<_, Connection>(&format!(
        "SELECT {COLS} FROM sso_connections WHERE id = $1 AND ($2::text IS NULL OR organization_id = $2)"
    ))
    .bind(id)
    .bind(org_id)
    .fetch_optional(db)
    .await?)
}

/// The organization's default OIDC connection.
pub async fn default_for(db: impl PgExecutor<'_>, org_id: &str) -> Result<Option<Connection>, StoreError> {
    Ok(sqlx::query_as::<_, Connection>(&format!(
        "SELECT {COLS} FROM sso_connections WHERE organization_id = $1 AND is_default"
    ))
    .bind(org_id)
    .fetch_optional(db)
    .await?)
}

/// Every connection of an organization, oldest first.
pub async fn for_org(db: impl PgExecutor<'_>, org_id: &str) -> Result<Vec<Connection>, StoreError> {
    Ok(sqlx::query_as::<_, Connection>(&format!(
        "SELECT {COLS} FROM sso_connections WHERE organization_id = $1 ORDER BY id LIMIT 500"
    ))
    .bind(org_id)
    .fetch_all(db)
    .await?)
}

/// Deletes a connection (its identities, transactions and sessions go with it).
pub async fn delete(db: impl PgExecutor<'_>, id: &str, org_id: &str) -> Result<(), StoreError> {
    let r = sqlx::query("DELETE FROM sso_connections WHERE id = $1 AND organization_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(db)
        .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Records a test result.
pub async fn record_test(db: impl PgExecutor<'_>, id: &str, success: bool) -> Result<(), StoreError> {
    sqlx::query("UPDATE sso_connections SET last_test_at = now(), last_test_success = $2 WHERE id = $1")
        .bind(id)
        .bind(success)
        .execute(db)
        .await?;
    Ok(())
}

/// Records what a test learnt about an OIDC connection's IdP (`issParameterSupported` in
/// `config`), only while its issuer is still `issuer` (a concurrent change voids the fact).
pub async fn record_iss_support(
    db: impl PgExecutor<'_>,
    id: &str,
    issuer: &str,
    supported: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sso_connections SET config = jsonb_set(config, '{issParameterSupported}', to_jsonb($3::boolean))
         WHERE id = $1 AND config->>'issuerUrl' = $2",
    )
    .bind(id)
    .bind(issuer)
    .bind(supported)
    .execute(db)
    .await?;
    Ok(())
}

/// True when the organization has an active connection whose last test passed.
pub async fn has_ready(db: impl PgExecutor<'_>, org_id: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM sso_connections WHERE organization_id = $1 AND status = 'active' AND last_test_success)",
    )
    .bind(org_id)
    .fetch_one(db)
    .await?)
}

/// The active connections whose (unverified) domain list holds `domain`, across organizations.
pub async fn active_claiming(db: impl PgExecutor<'_>, domain: &str) -> Result<Vec<Connection>, StoreError> {
    Ok(sqlx::query_as::<_, Connection>(&format!(
        "SELECT {COLS} FROM sso_connections WHERE status = 'active' AND $1 = ANY(domains) ORDER BY created_at, id"
    ))
    .bind(domain)
    .fetch_all(db)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aliased_columns_are_the_columns() {
        let plain: Vec<&str> = COLS.split(',').map(str::trim).collect();
        let aliased: Vec<String> = COLS_OF_C
            .split(',')
            .map(|c| c.trim().trim_start_matches("c.").to_owned())
            .collect();
        assert_eq!(plain, aliased);
    }
}
