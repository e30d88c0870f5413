//! Auto-join: at sign-in by any method, a user whose email is verified and on a verified domain
//! with auto-join on becomes a member with the domain's role (never `owner`), or gets a pending
//! join request when the domain requires approval; admins approve or reject requests.
//!
//! Whose word makes an email "verified" for organization O (owner of the verified domain):
//! - a password account: Portico has no self-service sign-up; password accounts are created by
//!   the operator (`portico bootstrap`), who vouches for the address. A future sign-up flow must
//!   record email verification and this rule must then require it;
//! - an SSO identity: only an identity asserted by one of O's own connections (and not marked
//!   unverified, which admission already refuses). Another organization's IdP is controlled by
//!   that organization's admins and can assert any address: trusting it would let them join O
//!   as anybody on O's domain. Since admission through O's connection already makes the user a
//!   member of O, SSO auto-join only ever confirms that.
//!
//! A password sign-in is not auto-joined into an organization that demands SSO of the auto-join
//! role: that user must arrive through the organization's IdP. A rejected request is kept, and
//! the user is not asked about again; auto-join never runs twice for a pending request.
//! Auto-join never fails a sign-in: store errors are logged and the sign-in goes on.

use portico_core::ids;
use portico_core::org::JoinRequestStatus;
use portico_core::role::Role;
use portico_store::join_requests::{self, JoinRequest, NewJoinRequest};
use portico_store::users::User;
use portico_store::{audit, domains, orgs, PgPool, StoreError};
use serde_json::json;

use crate::auth::org::OrgAccess;
use crate::auth::policy::{self, Need};
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::services::audit::{event, failed};

const JOIN_REQUEST_ID: &str = "jrq_";

/// How the signing-in user proved the email address.
#[derive(Clone, Copy, Debug)]
pub enum Proof<'a> {
    /// An operator-provisioned password account.
    PasswordAccount,
    /// An identity asserted by a connection of `organization_id` and admitted through it: the
    /// user is a member of `organization_id`.
    Idp {
        /// The connection's organization.
        organization_id: &'a str,
    },
}

/// What auto-join did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Became a member of the organization with the role.
    Joined {
        /// Organization.
        organization_id: String,
        /// Role.
        role: String,
    },
    /// A join request awaits approval.
    Requested {
        /// Organization.
        organization_id: String,
        /// The request.
        request_id: String,
    },
}

/// Applies auto-join for `user` after a successful sign-in. Never fails the sign-in.
pub async fn at_sign_in(db: &PgPool, ctx: &ClientInfo, user: &User, proof: Proof<'_>) -> Option<Outcome> {
    match try_at_sign_in(db, ctx, user, proof).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(user = %user.id, error = %e, "auto-join failed; sign-in continues");
            None
        }
    }
}

async fn try_at_sign_in(
    db: &PgPool,
    ctx: &ClientInfo,
    user: &User,
    proof: Proof<'_>,
) -> Result<Option<Outcome>, StoreError> {
    if let Proof::Idp { organization_id } = proof {
        // Only the organization that verified the email's domain could auto-join the user: when
        // that is another organization, its domain is not asserted by its own IdP (skipped, see
        // the module doc); when it is `organization_id`, admission made the user a member
        // already. Either way nothing to do, and nothing to query.
        tracing::trace!(user = %user.id, organization_id, "auto-join: an IdP sign-in, nothing to do");
        return Ok(None);
    }
    let Some(email_domain) = portico_core::domain::of_email(&user.email) else {
        return Ok(None);
    };
    let Some(d) = domains::verified(db, &email_domain)
        .await?
        .filter(|d| d.auto_join_enabled)
    else {
        return Ok(None);
    };
    if orgs::role_of(db, &d.organization_id, &user.id).await?.is_some()
        || join_requests::is_open_or_rejected(db, &d.organization_id, &user.id).await?
    {
        return Ok(None);
    }
    let role = match Role::parse(&d.auto_join_role) {
        Ok(Role::Owner) | Err(_) => Role::Member,
        Ok(r) => r,
    };
    let Some(org) = orgs::by_id(db, &d.organization_id).await? else {
        return Ok(None);
    };
    let mut base = event(ctx, None, Some(&org.id), "membership.auto_join");
    base.actor_user_id = Some(user.id.clone());
    base.actor_kind = "user";
    base.target_id = Some(user.id.clone());
    base.details = Some(json!({ "domain": d.domain, "domainId": d.id, "role": role.as_str() }));
    if matches!(proof, Proof::PasswordAccount) && policy::sso_required_for(&org, &role) {
        audit::record(db, failed(base, "sso_required")).await?;
        return Ok(None);
    }
    let mut tx = db.begin().await?;
    let outcome = if d.auto_join_require_approval {
        let id = ids::prefixed(JOIN_REQUEST_ID);
        let created = join_requests::insert_pending(
            &mut *tx,
            NewJoinRequest {
                id: &id,
                organization_id: &org.id,
                user_id: &user.id,
                domain_id: &d.id,
                domain: &d.domain,
                email: &user.email,
                role: role.as_str(),
            },
        )
        .await?;
        if created.is_none() {
            return Ok(None);
        }
        base.action = "join_request.create";
        base.target_id = Some(id.clone());
        Outcome::Requested {
            organization_id: org.id.clone(),
            request_id: id,
        }
    } else {
        if !orgs::add_member(&mut *tx, &org.id, &user.id, role.as_str()).await? {
            return Ok(None);
        }
        Outcome::Joined {
            organization_id: org.id.clone(),
            role: role.as_str().to_owned(),
        }
    };
    audit::record(&mut *tx, base).await?;
    tx.commit().await?;
    Ok(Some(outcome))
}

/// Approves (`true`) or rejects a pending join request (admin+; a request for an admin-level
/// role needs the owner, as granting that role does).
pub async fn decide(
    db: &PgPool,
    ctx: &ClientInfo,
    access: &OrgAccess,
    id: &str,
    approve: bool,
) -> Result<JoinRequest, ApiError> {
    access.require(Need::Admin)?;
    if !ids::is_prefixed(id, JOIN_REQUEST_ID) {
        return Err(ApiError::NotFound("join request"));
    }
    let mut tx = db.begin().await?;
    let req = join_requests::lock(&mut *tx, &access.org.id, id)
        .await?
        .ok_or(ApiError::NotFound("join request"))?;
    if req.status != JoinRequestStatus::Pending {
        return Err(ApiError::Conflict(format!(
            "this join request was already {}",
            req.status
        )));
    }
    let role = Role::parse(&req.role).map_err(|_| ApiError::Internal("stored join request role invalid".into()))?;
    if approve {
        if role.at_least(&Role::Admin) {
            access.require(Need::Owner)?;
        }
        orgs::add_member(&mut *tx, &access.org.id, &req.user_id, role.as_str()).await?;
    }
    let decided = join_requests::decide(
        &mut *tx,
        &req.id,
        if approve {
            JoinRequestStatus::Approved
        } else {
            JoinRequestStatus::Rejected
        },
        &access.caller.user_id,
    )
    .await?;
    let mut e = event(
        ctx,
        Some(&access.caller),
        Some(&access.org.id),
        if approve {
            "join_request.approve"
        } else {
            "join_request.reject"
        },
    );
    e.target_id = Some(req.id.clone());
    e.details = Some(json!({ "userId": req.user_id, "email": req.email, "role": req.role, "domain": req.domain }));
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(decided)
}
