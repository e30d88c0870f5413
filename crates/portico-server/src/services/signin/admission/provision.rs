//! From a verified external identity to a Portico user and membership — one rule set for OIDC,
//! SAML and LDAP (SPEC §3 "Identity and provisioning"):
//! - identities are keyed on (connection, subject), never on email alone;
//! - the email's domain must be one of the connection's domains when it lists any, and an
//!   email the IdP marks unverified is refused;
//! - verified domains are authoritative: no connection of another organization creates, links
//!   or signs in a user of a domain an organization verified (`EMAIL_DOMAIN_CLAIMED`), and an
//!   existing account is linked by email only by SPEC rules (a) and (b) ([`super::linking`]);
//! - JIT on: user + identity + membership (`defaultRole`, else `member`) in one transaction,
//!   race-safe (a unique violation retries and finds the winner's rows); JIT off: only linked
//!   users or existing members; disabled users never pass.

use std::collections::BTreeSet;

use portico_core::idp::ExternalIdentity;
use portico_core::ids;
use portico_core::role::Role;
use portico_store::connections::Connection;
use portico_store::users::User;
use portico_store::{identities, orgs, users, PgPool, StoreError};

pub use super::refusal::Refusal;

/// An admitted sign-in.
#[derive(Debug)]
pub struct Admitted {
    /// The user.
    pub user: User,
    /// True when the user was created by this sign-in.
    pub provisioned: bool,
    /// Scopes mapped from groups.
    pub mapped_scopes: Vec<String>,
}

/// The scopes for `groups`: union over matched groups, else the defaults.
pub fn map_scopes(conn: &Connection, groups: &[String]) -> Vec<String> {
    let mut out = BTreeSet::new();
    if let Some(map) = conn.group_mappings.as_object() {
        for g in groups {
            if let Some(scopes) = map.get(g).and_then(|v| v.as_array()) {
                out.extend(scopes.iter().filter_map(|s| s.as_str().map(str::to_owned)));
            }
        }
    }
    if out.is_empty() {
        return conn.default_scopes.clone();
    }
    out.into_iter().collect()
}

/// The membership role that group mapping grants: the most privileged `role:<name>` scope among
/// the mapped scopes (e.g. `{"Admins": ["role:admin"]}`), never `owner`.
pub fn role_from_scopes(scopes: &[String]) -> Option<Role> {
    scopes
        .iter()
        .filter_map(|s| s.strip_prefix("role:"))
        .filter_map(|r| Role::parse(r).ok())
        .filter(|r| *r != Role::Owner)
        .max_by_key(Role::rank)
}

/// True when some group of the connection maps to a `role:` scope.
fn manages_roles(conn: &Connection) -> bool {
    conn.group_mappings.as_object().is_some_and(|m| {
        m.values()
            .filter_map(|v| v.as_array())
            .flatten()
            .filter_map(|v| v.as_str())
            .any(|s| s.starts_with("role:"))
    })
}

fn email_domain(email: &str) -> Option<String> {
    email
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
}

/// The role group mapping wants for an existing member at each sign-in, when the connection
/// maps groups to roles (None: it does not, and the member's role is left as it is). Owners are
/// never changed, whatever this says.
pub fn wanted_role(conn: &Connection, groups: &[String]) -> Option<String> {
    manages_roles(conn).then(|| role_for(conn, groups))
}

/// The role of a membership created or re-evaluated by group mapping: the mapped role, else the
/// connection's default role (never `owner`), else `member`.
fn role_for(conn: &Connection, groups: &[String]) -> String {
    role_from_scopes(&map_scopes(conn, groups))
        .map(|r| r.as_str().to_owned())
        .or_else(|| conn.default_role.clone().filter(|r| Role::parse(r) != Ok(Role::Owner)))
        .unwrap_or_else(|| Role::Member.as_str().to_owned())
}

/// True when a connection's stored domain is `normalized` (a row written before domains were
/// IDNA-normalised at input is normalised here too).
pub fn same_domain(stored: &str, normalized: &str) -> bool {
    portico_core::domain::normalize(stored)
        .map_or_else(|_| stored.eq_ignore_ascii_case(normalized), |d| d == normalized)
}

/// The checks that need no database: a usable email, not marked unverified by the IdP, on one
/// of the connection's domains when it lists any. Returns the email and its domain.
pub fn check_email<'a>(conn: &Connection, identity: &'a ExternalIdentity) -> Result<(&'a str, String), Refusal> {
    let email = identity
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| e.contains('@') && e.len() <= 320)
        .ok_or_else(|| Refusal::new("EMAIL_MISSING", "identity carries no usable email"))?;
    if identity.email_verified == Some(false) {
        return Err(Refusal::new(
            "EMAIL_NOT_VERIFIED",
            format!("IdP marked {email} unverified"),
        ));
    }
    // IDNA-normalised like claimed domains (`portico_core::domain`); else as written, lower-cased.
    let domain = portico_core::domain::of_email(email)
        .or_else(|| email_domain(email))
        .ok_or_else(|| Refusal::new("EMAIL_MISSING", "email has no domain"))?;
    if !conn.domains.is_empty() && !conn.domains.iter().any(|d| same_domain(d, &domain)) {
        return Err(Refusal::new(
            "EMAIL_DOMAIN_NOT_ALLOWED",
            format!("domain {domain} is not among the connection's domains"),
        ));
    }
    Ok((email, domain))
}

/// Admits `identity` through `conn`, provisioning as the connection allows.
pub async fn admit(db: &PgPool, conn: &Connection, identity: &ExternalIdentity) -> Result<Admitted, Refusal> {
    let (email, domain) = check_email(conn, identity)?;
    admit_checked(db, conn, identity, email, &domain).await
}

/// [`admit`] once [`check_email`] passed (`email` and `domain` are what it returned).
pub async fn admit_checked(
    db: &PgPool,
    conn: &Connection,
    identity: &ExternalIdentity,
    email: &str,
    domain: &str,
) -> Result<Admitted, Refusal> {
    for attempt in 0..3 {
        match admit_once(db, conn, identity, email, domain).await {
            Err(AdmitError::Store(StoreError::Conflict(c))) if attempt < 2 => {
                tracing::debug!(constraint = %c, "concurrent provisioning; retrying");
            }
            Err(AdmitError::Store(e)) => return Err(Refusal::new("INTERNAL", format!("store: {e}"))),
            Err(AdmitError::Refused(r)) => return Err(r),
            Ok(a) => {
                // Admission made the user a member of the connection's organization; auto-join
                // decides about the organization that verified the email's domain.
                let proof = super::autojoin::Proof::Idp {
                    organization_id: &conn.organization_id,
                };
                super::autojoin::at_sign_in(db, &crate::extract::ClientInfo::default(), &a.user, proof).await;
                let mapped_scopes = map_scopes(conn, &identity.groups);
                return Ok(Admitted { mapped_scopes, ..a });
            }
        }
    }
    Err(Refusal::new("INTERNAL", "provisioning kept conflicting"))
}

enum AdmitError {
    Store(StoreError),
    Refused(Refusal),
}

impl From<StoreError> for AdmitError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<sqlx::Error> for AdmitError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

impl From<Refusal> for AdmitError {
    fn from(r: Refusal) -> Self {
        Self::Refused(r)
    }
}

async fn admit_once(
    db: &PgPool,
    conn: &Connection,
    identity: &ExternalIdentity,
    email: &str,
    domain: &str,
) -> Result<Admitted, AdmitError> {
    let mut tx = db.begin().await?;
    // Checked again here, in the admission's transaction (a domain verified meanwhile).
    super::linking::domain_not_claimed(&mut *tx, conn, domain).await??;
    let mut provisioned = false;
    let user = match identities::user_for(&mut *tx, &conn.id, &identity.subject).await? {
        Some(uid) => users::by_id(&mut *tx, &uid).await?.ok_or(StoreError::NotFound)?,
        None => {
            match users::by_email(&mut *tx, email).await? {
                // A concurrent first login committed the user and this identity together after our
                // identity lookup: the identity is visible now, so take it (READ COMMITTED).
                Some(existing)
                    if identities::user_for(&mut *tx, &conn.id, &identity.subject)
                        .await?
                        .as_deref()
                        == Some(existing.id.as_str()) =>
                {
                    existing
                }
                Some(existing) => {
                    // SPEC §3 rules (a) and (b): `linking`.
                    super::linking::may_link(&mut tx, conn, identity, &existing, domain).await??;
                    identities::link(&mut *tx, &conn.id, &identity.subject, &existing.id, Some(email)).await?;
                    // Whatever another organization's IdP signed this account in with (a squatter
                    // before the domain was verified) ends with the link.
                    let (s, t) =
                        portico_store::sessions::revoke_foreign_sso(&mut tx, &existing.id, &conn.organization_id)
                            .await?;
                    if s + t > 0 {
                        tracing::info!(user = %existing.id, sessions = s, tokens = t, "linked: foreign SSO credentials revoked");
                    }
                    existing
                }
                None if conn.jit_provisioning => {
                    let u = users::insert(
                        &mut *tx,
                        &ids::prefixed(ids::USER),
                        email,
                        identity.name.as_deref(),
                        None,
                    )
                    .await?;
                    identities::link(&mut *tx, &conn.id, &identity.subject, &u.id, Some(email)).await?;
                    provisioned = true;
                    u
                }
                None => {
                    return Err(Refusal::new(
                        "NOT_PROVISIONED",
                        format!("no user for {email} and JIT provisioning is off"),
                    )
                    .into())
                }
            }
        }
    };
    if !user.is_active() {
        return Err(Refusal::new("USER_DISABLED", format!("user {} is disabled", user.id)).into());
    }
    // Directory sync (SPEC §7): link a SCIM user waiting for this subject; a membership a
    // directory suspended admits nobody.
    let subjects = crate::services::scim::effects::subjects(identity);
    if crate::services::scim::effects::at_sign_in(&mut tx, &conn.organization_id, &subjects, &user.id).await? {
        return Err(Refusal::new(
            "MEMBERSHIP_SUSPENDED",
            format!("user {}'s membership was suspended by a directory", user.id),
        )
        .into());
    }
    match orgs::role_of(&mut *tx, &conn.organization_id, &user.id).await? {
        None => {
            if !conn.jit_provisioning {
                return Err(Refusal::new(
                    "NOT_PROVISIONED",
                    format!("user {} is not a member and JIT provisioning is off", user.id),
                )
                .into());
            }
            let role = role_for(conn, &identity.groups);
            orgs::add_member(&mut *tx, &conn.organization_id, &user.id, &role).await?;
        }
        // When the connection maps groups to roles, the IdP's groups keep deciding the role at every
        // sign-in (leaving the group demotes); owners are never touched.
        Some(current) if Role::parse(&current) != Ok(Role::Owner) => {
            if let Some(target) = wanted_role(conn, &identity.groups).filter(|t| *t != current) {
                orgs::set_role(&mut *tx, &conn.organization_id, &user.id, &target).await?;
            }
        }
        Some(_) => {}
    }
    tx.commit().await?;
    Ok(Admitted {
        user,
        provisioned,
        mapped_scopes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::same_domain;

    #[test]
    fn stored_domains_compare_idna_normalised() {
        assert!(same_domain("xn--bcher-kva.example", "xn--bcher-kva.example"));
        // A row written before input normalisation, in Unicode or another case.
        assert!(same_domain("Bücher.Example", "xn--bcher-kva.example"));
        assert!(same_domain(
            "ÉXAMPLE.com",
            &portico_core::domain::normalize("éxample.COM").unwrap()
        ));
        assert!(!same_domain("bucher.example", "xn--bcher-kva.example"));
        assert!(!same_domain("example.com.evil", "example.com"));
    }
}
