//! What a SCIM change does in Portico (SPEC §7): a SCIM user is linked to the Portico user of
//! its linking address when that address is in a domain the organization verified and no other
//! SCIM user of the directory claims it (else it waits, unlinked, for a sign-in whose subject is
//! its `externalId`); a linked, active SCIM user is a member of the organization with the
//! highest role its mapped groups give (`member` without one); `active: false` or DELETE
//! suspends the membership and revokes the person's sessions and tokens for the organization in
//! the same transaction; reactivation restores it. A directory with `requireMappedGroup` treats a
//! person in none of its mapped groups like `active: false` (suspended, sessions and tokens
//! revoked; admitted again when a mapped group takes them back). Owners are never changed by a directory, and
//! a directory without `groupRoleMappings` leaves an existing member's role as it is. Every
//! change is an audit event with the directory as the actor.

use portico_core::account::MembershipStatus;
use portico_core::ids;
use portico_core::role::Role;
use portico_store::audit::{self, NewEvent};
use portico_store::scim::directories::Directory;
use portico_store::scim::users::{self as scim_users, ScimUser};
use portico_store::scim::{access, groups};
use portico_store::{domains, users};
use serde_json::json;
use sqlx::PgConnection;

use crate::extract::ClientInfo;
use portico_store::scim::directories;
use portico_store::StoreError;

/// An audit event by directory `dir`.
pub fn event(dir: &Directory, ctx: &ClientInfo, action: &'static str, target: &str) -> NewEvent {
    NewEvent {
        organization_id: Some(dir.organization_id.clone()),
        actor_kind: "directory",
        action,
        success: true,
        target_id: Some(target.to_owned()),
        ip: ctx.ip.clone(),
        request_id: ctx.request_id.clone(),
        details: Some(json!({ "directoryId": dir.id })),
        ..NewEvent::default()
    }
}

fn with(mut e: NewEvent, details: serde_json::Value) -> NewEvent {
    let mut d = e.details.take().unwrap_or_else(|| json!({}));
    if let (Some(o), Some(extra)) = (d.as_object_mut(), details.as_object()) {
        o.extend(extra.clone());
    }
    e.details = Some(d);
    e
}

/// What the directory's mappings say of one SCIM user.
struct Mapped {
    /// The role they give: None when the directory maps no group (roles are then left alone).
    role: Option<String>,
    /// False when the directory requires a mapped group and the user is in none of them.
    admitted: bool,
}

/// The role the directory's mappings give SCIM user `scim_user_id`, and whether the directory's
/// `requireMappedGroup` setting admits them.
async fn mapped(tx: &mut PgConnection, dir: &Directory, scim_user_id: &str) -> Result<Mapped, StoreError> {
    let Some(map) = dir.group_role_mappings.as_object().filter(|m| !m.is_empty()) else {
        return Ok(Mapped {
            role: None,
            admitted: true,
        });
    };
    let names = groups::names_of_user(&mut *tx, scim_user_id).await?;
    let matched: Vec<Role> = map
        .iter()
        .filter(|(g, _)| names.iter().any(|n| n.eq_ignore_ascii_case(g)))
        .filter_map(|(_, r)| r.as_str().and_then(|r| Role::parse(r).ok()))
        .filter(|r| *r != Role::Owner)
        .collect();
    let admitted = !dir.require_mapped_group || !matched.is_empty();
    let best = matched.into_iter().max_by_key(Role::rank);
    Ok(Mapped {
        role: Some(best.unwrap_or(Role::Member).as_str().to_owned()),
        admitted,
    })
}

/// Links `u` by its address when the rules allow it; the linked Portico user id.
async fn try_link(
    tx: &mut PgConnection,
    dir: &Directory,
    u: &ScimUser,
    ctx: &ClientInfo,
) -> Result<Option<String>, StoreError> {
    let Some(email) = u.primary_email.as_deref() else {
        return Ok(None);
    };
    let Some((_, domain)) = email.rsplit_once('@') else {
        return Ok(None);
    };
    if !domains::is_verified_by(&mut *tx, &dir.organization_id, &domain.to_ascii_lowercase()).await? {
        return Ok(None);
    }
    if scim_users::email_claimed_by_other(&mut *tx, &dir.id, email, &u.id).await? {
        return Ok(None);
    }
    let user = match users::by_email(&mut *tx, email).await? {
        Some(existing) => existing,
        None => {
            users::insert(
                &mut *tx,
                &ids::prefixed(ids::USER),
                email,
                u.display_name.as_deref(),
                None,
            )
            .await?
        }
    };
    if scim_users::user_linked_by_other(&mut *tx, &dir.id, &user.id, &u.id).await? {
        return Ok(None);
    }
    scim_users::set_link(&mut *tx, &u.id, Some(&user.id)).await?;
    let e = with(
        event(dir, ctx, "scim.user.link", &u.id),
        json!({ "userId": user.id, "by": "email" }),
    );
    audit::record(&mut *tx, e).await?;
    Ok(Some(user.id))
}

/// Re-applies what SCIM user `u` means for the person's access to the organization.
pub async fn sync_user(
    tx: &mut PgConnection,
    dir: &Directory,
    u: &ScimUser,
    ctx: &ClientInfo,
) -> Result<(), StoreError> {
    let user_id = match &u.user_id {
        Some(id) => Some(id.clone()),
        None => try_link(tx, dir, u, ctx).await?,
    };
    let Some(user_id) = user_id else { return Ok(()) };
    apply_access(tx, dir, u, &user_id, u.active, ctx).await
}

/// Suspends the access of a deleted (or deprovisioned) SCIM user.
pub async fn deprovision(
    tx: &mut PgConnection,
    dir: &Directory,
    u: &ScimUser,
    ctx: &ClientInfo,
) -> Result<(), StoreError> {
    match &u.user_id {
        Some(user_id) => apply_access(tx, dir, u, user_id, false, ctx).await,
        None => Ok(()),
    }
}

async fn apply_access(
    tx: &mut PgConnection,
    dir: &Directory,
    u: &ScimUser,
    user_id: &str,
    active: bool,
    ctx: &ClientInfo,
) -> Result<(), StoreError> {
    let org = dir.organization_id.as_str();
    let current = access::lock(&mut *tx, org, user_id).await?;
    let (mapped, unmapped) = if active {
        let m = mapped(tx, dir, &u.id).await?;
        (m.role, !m.admitted)
    } else {
        (None, false)
    };
    // In no mapped group where the directory requires one: treated like `active: false`.
    let active = active && !unmapped;
    let reason = if unmapped { "notInMappedGroup" } else { "inactive" };
    let details = json!({ "userId": user_id, "scimUserId": u.id, "reason": reason });
    match current {
        None if active => {
            let role = mapped.unwrap_or_else(|| Role::Member.as_str().to_owned());
            access::create(&mut *tx, org, user_id, &role).await?;
            let e = with(
                event(dir, ctx, "scim.membership.create", user_id),
                json!({ "role": role, "scimUserId": u.id }),
            );
            audit::record(&mut *tx, e).await?;
        }
        None => {}
        Some(m) if Role::parse(&m.role) == Ok(Role::Owner) => {}
        Some(m) if active => {
            let role = mapped.unwrap_or_else(|| m.role.clone());
            if m.status != MembershipStatus::Active || m.role != role {
                access::set(&mut *tx, org, user_id, &role, MembershipStatus::Active).await?;
                let action = if m.status != MembershipStatus::Active {
                    "scim.membership.restore"
                } else {
                    "scim.membership.role"
                };
                let e = with(
                    event(dir, ctx, action, user_id),
                    json!({ "role": role, "previousRole": m.role, "scimUserId": u.id }),
                );
                audit::record(&mut *tx, e).await?;
            }
        }
        Some(m) if m.status == MembershipStatus::Active => {
            access::set(&mut *tx, org, user_id, &m.role, MembershipStatus::Suspended).await?;
            let (sessions, tokens) = access::revoke(&mut *tx, org, user_id).await?;
            let e = with(
                event(dir, ctx, "scim.membership.suspend", user_id),
                json!({ "revokedSessions": sessions, "revokedTokens": tokens }),
            );
            audit::record(&mut *tx, with(e, details)).await?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// Re-applies roles for the SCIM users `ids` after their groups changed.
pub async fn groups_changed(
    tx: &mut PgConnection,
    dir: &Directory,
    ids_changed: &[String],
    ctx: &ClientInfo,
) -> Result<(), StoreError> {
    if dir.group_role_mappings.as_object().is_none_or(|m| m.is_empty()) || ids_changed.is_empty() {
        return Ok(());
    }
    for id in ids_changed {
        if let Some(u) = scim_users::get(&mut *tx, &dir.id, id, false).await? {
            if let (Some(user_id), true) = (&u.user_id, u.active) {
                apply_access(tx, dir, &u, user_id, true, ctx).await?;
            }
        }
    }
    Ok(())
}

/// At a sign-in through a connection of `org_id` admitting Portico user `user_id`: the unlinked
/// SCIM users of the organization's active directories whose `externalId` is one of `subjects`
/// (the IdP subject; for Entra also its `oid` claim) are linked to that user and applied. True
/// when a directory has suspended the user's membership (the sign-in must then be refused).
pub async fn at_sign_in(
    tx: &mut PgConnection,
    org_id: &str,
    subjects: &[String],
    user_id: &str,
) -> Result<bool, StoreError> {
    let ctx = ClientInfo::default();
    for subject in subjects {
        for mut u in scim_users::unlinked_by_external_id(&mut *tx, org_id, subject).await? {
            if scim_users::user_linked_by_other(&mut *tx, &u.directory_id, user_id, &u.id).await? {
                continue;
            }
            let Some(dir) = directories::by_id(&mut *tx, org_id, &u.directory_id).await? else {
                continue;
            };
            scim_users::set_link(&mut *tx, &u.id, Some(user_id)).await?;
            let e = with(
                event(&dir, &ctx, "scim.user.link", &u.id),
                json!({ "userId": user_id, "by": "externalId" }),
            );
            audit::record(&mut *tx, e).await?;
            u.user_id = Some(user_id.to_owned());
            apply_access(tx, &dir, &u, user_id, u.active, &ctx).await?;
        }
    }
    Ok(access::lock(&mut *tx, org_id, user_id)
        .await?
        .is_some_and(|m| m.status == MembershipStatus::Suspended))
}

/// The subjects a SCIM `externalId` may name for `identity`: its subject, and Entra's `oid`.
pub fn subjects(identity: &portico_core::idp::ExternalIdentity) -> Vec<String> {
    let mut v = vec![identity.subject.clone()];
    if let Some(oid) = identity.raw.get("oid").and_then(serde_json::Value::as_str) {
        if oid != identity.subject {
            v.push(oid.to_owned());
        }
    }
    v
}
