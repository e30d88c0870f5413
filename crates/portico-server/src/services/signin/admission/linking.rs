//! Who may sign in and link which account (SPEC §3 "Identity and provisioning"), one place:
//! - verified domains are authoritative: once an organization has verified a domain, no
//!   connection of another organization creates, links or signs in a user whose email is in it
//!   (`EMAIL_DOMAIN_CLAIMED`) — so no tenant squats or locks out another's people;
//! - an existing user (same email) is linked to a new (connection, subject) only when
//!   (a) this organization verified the email's domain and the IdP vouches for the email (OIDC
//!   `email_verified: true`; SAML and LDAP: the verified domain suffices, the directory being
//!   the organization's own), or (b) everything the user has lies inside this organization
//!   (memberships only here, identities only from its connections), so recreating a connection
//!   or adding a second one to the same directory locks nobody out. Otherwise
//!   `ACCOUNT_LINK_REFUSED`, the exact reason audited.

use portico_core::connection::Protocol;
use portico_core::idp::ExternalIdentity;
use portico_store::connections::Connection;
use portico_store::users::User;
use portico_store::{domains, identities, StoreError};
use sqlx::{PgConnection, PgExecutor};

use super::refusal::Refusal;

/// Refuses (`EMAIL_DOMAIN_CLAIMED`) an email of `domain` when another organization than the
/// connection's has verified it. The outer error is the store's.
pub(super) async fn domain_not_claimed(
    db: impl PgExecutor<'_>,
    conn: &Connection,
    domain: &str,
) -> Result<Result<(), Refusal>, StoreError> {
    Ok(match domains::verified(db, domain).await? {
        Some(claim) if claim.organization_id != conn.organization_id => Err(Refusal::new(
            "EMAIL_DOMAIN_CLAIMED",
            format!(
                "{domain} is verified by organization {}; connection {} of organization {} may not sign its users in",
                claim.organization_id, conn.id, conn.organization_id
            ),
        )),
        _ => Ok(()),
    })
}

/// Decides whether `existing` may be linked to `identity` asserted through `conn` (rules (a)
/// and (b) above). `domain` is the email's normalised domain. The outer error is the store's.
pub(super) async fn may_link(
    db: &mut PgConnection,
    conn: &Connection,
    identity: &ExternalIdentity,
    existing: &User,
    domain: &str,
) -> Result<Result<(), Refusal>, StoreError> {
    let verified_here = domains::is_verified_by(&mut *db, &conn.organization_id, domain).await?;
    // OIDC says so per identity; a SAML or LDAP directory on a domain the organization proved
    // it owns is the organization's own.
    let vouches = identity.email_verified == Some(true) || conn.protocol != Protocol::Oidc;
    if verified_here && vouches {
        return Ok(Ok(()));
    }
    if identities::footprint_inside(&mut *db, &existing.id, &conn.organization_id).await? {
        return Ok(Ok(()));
    }
    Ok(Err(Refusal::new(
        "ACCOUNT_LINK_REFUSED",
        format!(
            "existing user {} not linked to {}: domain {domain} verified by organization {}: {verified_here}, \
             email_verified={:?}, and the user has memberships or identities outside the organization",
            existing.id, conn.id, conn.organization_id, identity.email_verified
        ),
    )))
}
