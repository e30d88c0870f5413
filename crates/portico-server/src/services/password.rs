//! Password sign-in, with the organization policy applied: a member of an organization that
//! requires SSO (and whose role is not exempt) is refused with `SSO_REQUIRED` and its login URL.
//! A user with TOTP on needs `totpCode` (a code or a recovery code; the session then has MFA);
//! auto-join runs once the user is in.

use portico_core::account::SessionMethod;
use portico_core::password;
use portico_core::role::Role;
use portico_store::{audit, orgs, users};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::policy;
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::services::audit::{event, failed};
use crate::services::sessions::{self, CreatedSession, SessionSpec};
use crate::services::signin::admission::autojoin;
use crate::services::totp;
use crate::state::AppState;

/// Signs a user in with email and password.
pub async fn sign_in(
    state: &AppState,
    ctx: &ClientInfo,
    email: &str,
    pw: &SecretString,
    totp_code: Option<&str>,
) -> Result<(CreatedSession, String), ApiError> {
    let user = users::by_email(&state.db, email).await?;
    let Some(user) = user.filter(|u| u.password_hash.is_some()) else {
        password::dummy_verify(pw.expose_secret());
        let mut e = failed(event(ctx, None, None, "sign_in.password"), "unknown_user");
        e.details = Some(serde_json::json!({ "email": email }));
        audit::record(&state.db, e).await?;
        return Err(ApiError::Unauthorized("invalid email or password"));
    };
    let ok = password::verify(pw.expose_secret(), user.password_hash.as_deref().unwrap_or_default());
    let mut base = event(ctx, None, None, "sign_in.password");
    base.actor_user_id = Some(user.id.clone());
    base.actor_kind = "user";
    if !ok {
        audit::record(&state.db, failed(base, "bad_password")).await?;
        return Err(ApiError::Unauthorized("invalid email or password"));
    }
    if !user.is_active() {
        audit::record(&state.db, failed(base, "user_disabled")).await?;
        return Err(ApiError::Unauthorized("invalid email or password"));
    }
    for m in orgs::memberships_of(&state.db, &user.id).await? {
        let role = Role::parse(&m.role).unwrap_or(Role::Member);
        if policy::sso_required_for(&m.org, &role) {
            let mut e = failed(base.clone(), "sso_required");
            e.organization_id = Some(m.org.id.clone());
            audit::record(&state.db, e).await?;
            return Err(ApiError::SsoRequired {
                login_url: Some(state.sso_login_url(&m.org.slug)),
            });
        }
    }
    let second_factor = totp::password_second_factor(state, &user, totp_code, &base).await?;
    let created = sessions::create(
        &state.db,
        &state.settings,
        SessionSpec {
            user_id: &user.id,
            method: SessionMethod::Password,
            mfa: second_factor.is_some(),
            ..Default::default()
        },
        ctx,
    )
    .await?;
    autojoin::at_sign_in(&state.db, ctx, &user, autojoin::Proof::PasswordAccount).await;
    base.target_id = Some(created.session.id.clone());
    base.details = second_factor.map(|f| serde_json::json!({ "mfa": f }));
    audit::record(&state.db, base).await?;
    Ok((created, user.id))
}
