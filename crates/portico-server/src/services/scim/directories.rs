//! Directories of an organization (owner): create with a token shown once, read, update
//! (`name`, `groupRoleMappings`, `status`, `requireMappedGroup`), rotate the token (the old one dies with the
//! commit), delete (deprovisions every person it linked first).

use portico_core::org::DirectoryStatus;
use portico_core::role::Role;
use portico_core::token;
use portico_store::audit;
use portico_store::scim::directories::{self, Directory, NewDirectory};
use portico_store::scim::users as scim_users;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use super::effects;
use crate::auth::org::OrgAccess;
use crate::auth::policy::Need;
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::services::audit::event;
use crate::state::AppState;

/// Prefix of directory tokens.
pub const TOKEN_PREFIX: &str = "pdt_";
/// Providers a directory may name.
pub const PROVIDERS: &[&str] = &["okta", "entra", "google", "onelogin", "jumpcloud", "generic"];

/// A directory as the Organization API shows it.
pub fn view(state: &AppState, d: &Directory) -> Value {
    json!({
        "id": d.id,
        "organizationId": d.organization_id,
        "name": d.name,
        "provider": d.provider,
        "status": d.status,
        "groupRoleMappings": d.group_role_mappings,
        "requireMappedGroup": d.require_mapped_group,
        "scimBaseUrl": super::base_url(state, &d.id),
        "tokenPrefix": d.token_prefix,
        "tokenRotatedAt": d.token_rotated_at,
        "createdAt": d.created_at,
        "updatedAt": d.updated_at,
    })
}

/// A view with the freshly minted token (shown this once).
pub fn view_with_token(state: &AppState, d: &Directory, token: &SecretString) -> Value {
    let mut v = view(state, d);
    if let Some(o) = v.as_object_mut() {
        o.insert("token".into(), json!(token.expose_secret()));
    }
    v
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 200 {
        return Err(ApiError::field("name", "must be 1-200 characters"));
    }
    Ok(n.to_owned())
}

/// Checks `{"Group display name": "role"}`: roles are admin, member or a custom role; never owner.
pub fn check_mappings(v: &Value) -> Result<Value, ApiError> {
    let Value::Object(m) = v else {
        return Err(ApiError::field(
            "groupRoleMappings",
            "must be an object of group display name to role",
        ));
    };
    if m.len() > 500 {
        return Err(ApiError::field("groupRoleMappings", "at most 500 groups"));
    }
    let mut out = Map::new();
    for (g, r) in m {
        let field = format!("groupRoleMappings.{g}");
        if g.trim().is_empty() || g.len() > 512 {
            return Err(ApiError::field(field, "group names are 1-512 characters"));
        }
        let role = r
            .as_str()
            .and_then(|r| Role::parse(r).ok())
            .ok_or_else(|| ApiError::field(&field, "must be a role (admin, member or a custom role)"))?;
        if role == Role::Owner {
            return Err(ApiError::field(field, "a directory cannot grant owner"));
        }
        out.insert(g.clone(), json!(role.as_str()));
    }
    Ok(Value::Object(out))
}

/// Creates a directory; the token is in the answer only.
pub async fn create(
    state: &AppState,
    ctx: &ClientInfo,
    access: &OrgAccess,
    name: &str,
    provider: &str,
) -> Result<(Directory, SecretString), ApiError> {
    access.require(Need::Owner)?;
    let name = check_name(name)?;
    if !PROVIDERS.contains(&provider) {
        return Err(ApiError::field(
            "provider",
            format!("must be one of {}", PROVIDERS.join(", ")),
        ));
    }
    let minted = token::mint(TOKEN_PREFIX);
    let id = portico_core::ids::prefixed("dir_");
    let mut tx = state.db.begin().await?;
    let d = directories::insert(
        &mut *tx,
        NewDirectory {
            id: &id,
            organization_id: &access.org.id,
            name: &name,
            provider,
            token_prefix: &minted.display_prefix,
            token_digest: &minted.digest,
        },
    )
    .await?;
    let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "directory.create");
    e.target_id = Some(d.id.clone());
    e.details = Some(json!({ "provider": provider, "name": name }));
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok((d, minted.token))
}

/// One directory (admin+).
pub async fn get(state: &AppState, access: &OrgAccess, id: &str) -> Result<Directory, ApiError> {
    access.require(Need::Admin)?;
    directories::by_id(&state.db, &access.org.id, id)
        .await?
        .ok_or(ApiError::NotFound("directory"))
}

/// What PATCH may change.
#[derive(Debug, Default)]
pub struct Changes {
    /// New name.
    pub name: Option<String>,
    /// New mappings.
    pub group_role_mappings: Option<Value>,
    /// `active` or `disabled`, as received (read here, after the owner check).
    pub status: Option<String>,
    /// Suspend the people who are in none of the mapped groups.
    pub require_mapped_group: Option<bool>,
}

/// Updates a directory; changed mappings are re-applied to everyone it linked.
pub async fn update(
    state: &AppState,
    ctx: &ClientInfo,
    access: &OrgAccess,
    id: &str,
    c: Changes,
) -> Result<Directory, ApiError> {
    access.require(Need::Owner)?;
    let name = c.name.as_deref().map(check_name).transpose()?;
    let mappings = c.group_role_mappings.as_ref().map(check_mappings).transpose()?;
    let status = c
        .status
        .as_deref()
        .map(|s| DirectoryStatus::parse(s).ok_or_else(|| ApiError::field("status", "must be active or disabled")))
        .transpose()?;
    let mut tx = state.db.begin().await?;
    let cur = directories::lock(&mut *tx, &access.org.id, id)
        .await?
        .ok_or(ApiError::NotFound("directory"))?;
    let mappings = mappings.as_ref().unwrap_or(&cur.group_role_mappings);
    let require = c.require_mapped_group.unwrap_or(cur.require_mapped_group);
    if require && mappings.as_object().is_none_or(|m| m.is_empty()) {
        return Err(ApiError::field(
            "requireMappedGroup",
            "needs at least one groupRoleMappings entry (else everyone would be suspended)",
        ));
    }
    let settings = directories::Settings {
        name: name.as_deref().unwrap_or(&cur.name),
        mappings,
        status: status.unwrap_or(cur.status),
        require_mapped_group: require,
    };
    let d = directories::update(&mut *tx, id, settings).await?;
    let reapply =
        d.group_role_mappings != cur.group_role_mappings || d.require_mapped_group != cur.require_mapped_group;
    if reapply && d.is_active() {
        let linked: Vec<String> = scim_users::all_linked(&mut *tx, id)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect();
        effects::groups_changed(&mut tx, &d, &linked, ctx).await?;
    }
    let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "directory.update");
    e.target_id = Some(d.id.clone());
    e.details = Some(json!({
        "name": d.name, "status": d.status, "groupRoleMappings": d.group_role_mappings,
        "requireMappedGroup": d.require_mapped_group,
    }));
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(d)
}

/// Issues a new token; the previous one stops working at once.
pub async fn rotate(
    state: &AppState,
    ctx: &ClientInfo,
    access: &OrgAccess,
    id: &str,
) -> Result<(Directory, SecretString), ApiError> {
    access.require(Need::Owner)?;
    let minted = token::mint(TOKEN_PREFIX);
    let mut tx = state.db.begin().await?;
    let d = directories::set_token(&mut *tx, &access.org.id, id, &minted.display_prefix, &minted.digest)
        .await
        .map_err(crate::error::not_found("directory"))?;
    let mut e = event(
        ctx,
        Some(&access.caller),
        Some(&access.org.id),
        "directory.token.rotate",
    );
    e.target_id = Some(d.id.clone());
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok((d, minted.token))
}

/// Deletes a directory after suspending everyone it linked.
pub async fn delete(state: &AppState, ctx: &ClientInfo, access: &OrgAccess, id: &str) -> Result<Directory, ApiError> {
    access.require(Need::Owner)?;
    let mut tx = state.db.begin().await?;
    let d = directories::lock(&mut *tx, &access.org.id, id)
        .await?
        .ok_or(ApiError::NotFound("directory"))?;
    let linked = scim_users::all_linked(&mut *tx, id).await?;
    for u in &linked {
        effects::deprovision(&mut tx, &d, u, ctx).await?;
    }
    directories::delete(&mut *tx, &access.org.id, id).await?;
    let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "directory.delete");
    e.target_id = Some(d.id.clone());
    e.details = Some(json!({ "deprovisioned": linked.len() }));
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(d)
}
