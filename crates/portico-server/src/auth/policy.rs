//! The organization security policy, enforced here and nowhere else: who may change what
//! (roles), `authRequired` (`any`/`mfa`/`sso`), `requireMfa` and the exempt roles, for every
//! credential (sessions, and tokens by how their minting session signed in), and the rule that
//! an SSO credential belongs to its connection's organization.

use portico_core::org::AuthRequired;
use portico_core::role::Role;
use portico_store::orgs::Organization;

use super::Credential;
use crate::error::ApiError;

/// What an action needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Any member.
    Member,
    /// Admin or owner.
    Admin,
    /// Owner only (SSO, security and domain settings; rename and delete).
    Owner,
}

/// Refuses a role below `need`.
pub fn require_role(role: &Role, need: Need) -> Result<(), ApiError> {
    let min = match need {
        Need::Member => Role::Member,
        Need::Admin => Role::Admin,
        Need::Owner => Role::Owner,
    };
    if role.at_least(&min) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "this action requires the {} role",
            min.as_str()
        )))
    }
}

/// True when the organization demands SSO of a member with `role`.
pub fn sso_required_for(org: &Organization, role: &Role) -> bool {
    org.auth_required == AuthRequired::Sso && !org.exempt_roles.iter().any(|r| r == role.as_str())
}

/// True when the organization demands MFA of sessions.
pub fn mfa_required(org: &Organization) -> bool {
    org.auth_required == AuthRequired::Mfa || org.require_mfa
}

/// Enforces the policy for one request on the organization's routes, for sessions and tokens
/// alike: a token is judged by how the session that minted it signed in. Beyond that, using a
/// token is not re-challenged (seed 004: PATs are not subject to MFA prompts).
pub fn enforce(
    org: &Organization,
    role: &Role,
    cred: &Credential,
    login_url: impl FnOnce() -> String,
) -> Result<(), ApiError> {
    if cred.is_operator_key() {
        return Ok(());
    }
    if let Some(other) = cred.sso_org().filter(|o| *o != org.id) {
        // An SSO session (or a token minted from one) belongs to its connection's organization.
        tracing::debug!(session_org = other, "SSO credential used on another organization");
        return Err(ApiError::Forbidden(
            "signed in through another organization's identity provider; sign in to this organization".into(),
        ));
    }
    if sso_required_for(org, role) && !cred.is_sso_for(&org.id) {
        return Err(ApiError::SsoRequired {
            login_url: Some(login_url()),
        });
    }
    if mfa_required(org) && !cred.mfa_for(&org.id) {
        return Err(ApiError::MfaRequired);
    }
    Ok(())
}
