//! Organizations and memberships, with the rules about roles in one place: only owners grant,
//! change or remove `owner` (and manage admins); admins manage members; anyone may leave; the
//! last owner can never leave, be removed or be demoted (checked under a row lock).

use portico_core::ids;
use portico_core::role::Role;
use portico_store::orgs::{self, Organization};
use portico_store::{audit, PgPool};

use crate::auth::org::OrgAccess;
use crate::auth::policy::{self, Need};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::services::audit::event;

/// Creates an organization with `caller` as owner.
pub async fn create(
    db: &PgPool,
    ctx: &ClientInfo,
    caller: &Caller,
    name: &str,
    slug: &str,
) -> Result<Organization, ApiError> {
    let mut tx = db.begin().await?;
    let org = orgs::insert(&mut *tx, &ids::bare(), slug, name).await?;
    orgs::add_member(&mut *tx, &org.id, &caller.user_id, Role::Owner.as_str()).await?;
    let mut e = event(ctx, Some(caller), Some(&org.id), "organization.create");
    e.target_id = Some(org.id.clone());
    e.details = Some(serde_json::json!({ "name": name, "slug": slug }));
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(org)
}

/// Renames an organization (owner).
pub async fn rename(db: &PgPool, ctx: &ClientInfo, access: &OrgAccess, name: &str) -> Result<Organization, ApiError> {
    access.require(Need::Owner)?;
    let mut tx = db.begin().await?;
    let org = orgs::rename(&mut *tx, &access.org.id, name).await?;
    let mut e = event(ctx, Some(&access.caller), Some(&org.id), "organization.rename");
    e.details = Some(serde_json::json!({ "from": access.org.name, "to": name }));
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(org)
}

/// Deletes an organization (owner).
pub async fn delete(db: &PgPool, ctx: &ClientInfo, access: &OrgAccess) -> Result<(), ApiError> {
    access.require(Need::Owner)?;
    let mut tx = db.begin().await?;
    orgs::delete(&mut *tx, &access.org.id).await?;
    let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "organization.delete");
    e.target_id = Some(access.org.id.clone());
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(())
}

fn may_manage(actor: &Role, target_current: &Role, target_new: Option<&Role>) -> Result<(), ApiError> {
    policy::require_role(actor, Need::Admin)?;
    let touches_privileged =
        target_current.at_least(&Role::Admin) || target_new.is_some_and(|r| r.at_least(&Role::Admin));
    if touches_privileged {
        policy::require_role(actor, Need::Owner)?;
    }
    Ok(())
}

/// Changes a member's role.
pub async fn set_role(
    db: &PgPool,
    ctx: &ClientInfo,
    access: &OrgAccess,
    user_id: &str,
    role: &Role,
) -> Result<(), ApiError> {
    let mut tx = db.begin().await?;
    let owners = orgs::lock_owner_count(&mut *tx, &access.org.id).await?;
    let current = orgs::role_of(&mut *tx, &access.org.id, user_id)
        .await?
        .ok_or(ApiError::NotFound("member"))?;
    let current = Role::parse(&current).map_err(|_| ApiError::Internal("stored role invalid".into()))?;
    may_manage(&access.role, &current, Some(role))?;
    if current == Role::Owner && *role != Role::Owner && owners <= 1 {
        return Err(ApiError::Conflict(
            "the last owner cannot be demoted; make another member owner first".into(),
        ));
    }
    orgs::set_role(&mut *tx, &access.org.id, user_id, role.as_str()).await?;
    let mut e = event(
        ctx,
        Some(&access.caller),
        Some(&access.org.id),
        "membership.role_change",
    );
    e.target_id = Some(user_id.to_owned());
    e.details = Some(serde_json::json!({ "from": current.as_str(), "to": role.as_str() }));
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a member (or the caller leaves).
pub async fn remove_member(db: &PgPool, ctx: &ClientInfo, access: &OrgAccess, user_id: &str) -> Result<(), ApiError> {
    let mut tx = db.begin().await?;
    let owners = orgs::lock_owner_count(&mut *tx, &access.org.id).await?;
    let current = orgs::role_of(&mut *tx, &access.org.id, user_id)
        .await?
        .ok_or(ApiError::NotFound("member"))?;
    let current = Role::parse(&current).map_err(|_| ApiError::Internal("stored role invalid".into()))?;
    let leaving = user_id == access.caller.user_id;
    if !leaving {
        may_manage(&access.role, &current, None)?;
    }
    if current == Role::Owner && owners <= 1 {
        return Err(ApiError::Conflict("the last owner cannot leave or be removed".into()));
    }
    orgs::remove_member(&mut *tx, &access.org.id, user_id).await?;
    let mut e = event(
        ctx,
        Some(&access.caller),
        Some(&access.org.id),
        if leaving {
            "membership.leave"
        } else {
            "membership.remove"
        },
    );
    e.target_id = Some(user_id.to_owned());
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(())
}
