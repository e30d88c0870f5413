//! Binds: the service account's (on pooled connections), the user's (always on a fresh
//! connection, closed afterwards), and the decoy bind that keeps "unknown user" as slow as
//! "wrong password". Empty and oversized passwords never reach a bind: many servers treat a
//! DN with an empty password as an unauthenticated (anonymous) bind and answer success.

use ldap3::exop::WhoAmI;
use ldap3::Ldap;
use portico_core::idp::IdpError;
use secrecy::{ExposeSecret, SecretString};

use crate::connect::{self, diag, timed, Fail};
use crate::settings::{Resolved, MAX_PASSWORD, MAX_USERNAME};

/// Refuses, before any LDAP traffic, credentials that must never reach a bind: an empty or blank
/// username, one over [`MAX_USERNAME`] bytes, an empty password, one over [`MAX_PASSWORD`]
/// bytes, or one containing NUL.
pub fn check_credentials(username: &str, password: &SecretString) -> Result<(), IdpError> {
    if username.trim().is_empty() || username.len() > MAX_USERNAME {
        return Err(IdpError::InvalidCredentials(format!(
            "username empty or over {MAX_USERNAME} bytes (refused before any search)"
        )));
    }
    let pw = password.expose_secret();
    if pw.is_empty() {
        return Err(IdpError::InvalidCredentials(
            "empty password (refused before any bind)".into(),
        ));
    }
    if pw.len() > MAX_PASSWORD {
        return Err(IdpError::InvalidCredentials(format!(
            "password over {MAX_PASSWORD} bytes (refused before any bind)"
        )));
    }
    if pw.contains('\0') {
        return Err(IdpError::InvalidCredentials(
            "password contains NUL (refused before any bind)".into(),
        ));
    }
    Ok(())
}

/// Binds `ldap` as the service account.
pub(crate) async fn service(r: &Resolved, ldap: &mut Ldap) -> Result<(), Fail> {
    let pw = &r.settings.bind_password;
    let res = timed(
        r,
        "service bind",
        ldap.simple_bind(&r.settings.bind_dn, pw.expose_secret()),
    )
    .await?;
    match res.rc {
        0 => Ok(()),
        51 | 52 => Err(IdpError::Unavailable(format!(
            "directory busy or unavailable on service bind (rc={}{})",
            res.rc,
            diag(&res.text)
        ))
        .into()),
        rc => Err(IdpError::Config(format!(
            "the service account bind was refused (rc={rc}{}): check ldapBindDn and ldapBindPassword",
            diag(&res.text)
        ))
        .into()),
    }
}

/// Binds as `dn` with `password` on a fresh connection; success only when the server accepts the
/// bind and (when it supports Who Am I?) does not report the connection as anonymous.
pub(crate) async fn user(r: &Resolved, dn: &str, password: &SecretString) -> Result<(), IdpError> {
    let mut ldap = connect::open(r).await?;
    let res = timed(r, "user bind", ldap.simple_bind(dn, password.expose_secret())).await?;
    match res.rc {
        0 => {}
        49 => {
            return Err(IdpError::InvalidCredentials(format!(
                "wrong password for {dn} (rc=49 invalidCredentials{})",
                diag(&res.text)
            )))
        }
        51 | 52 => {
            return Err(IdpError::Unavailable(format!(
                "directory busy or unavailable on user bind (rc={}{})",
                res.rc,
                diag(&res.text)
            )))
        }
        // unwillingToPerform, constraintViolation, inappropriateAuthentication...: disabled,
        // locked or expired accounts, password policy.
        rc => {
            return Err(IdpError::InvalidCredentials(format!(
                "bind as {dn} refused (rc={rc}{})",
                diag(&res.text)
            )))
        }
    }
    let who = timed(r, "Who Am I?", ldap.extended(WhoAmI)).await?;
    if who.1.rc == 0 && who.0.val.as_deref().is_none_or(<[u8]>::is_empty) {
        return Err(IdpError::InvalidCredentials(format!(
            "the directory accepted the bind of {dn} as anonymous (unauthenticated bind)"
        )));
    }
    let _ = tokio::time::timeout(r.settings.op_timeout, ldap.unbind()).await;
    Ok(())
}

/// A bind that cannot succeed (a DN that does not exist, a random password), so a login for an
/// unknown or ambiguous username costs what a wrong password costs. Its outcome is ignored.
pub(crate) async fn decoy(r: &Resolved) {
    let Ok(mut ldap) = connect::open(r).await else {
        return;
    };
    let dn = format!(
        "cn=portico-no-such-entry-{},{}",
        portico_core::token::random_urlsafe(12),
        r.settings.search_base
    );
    let pw = portico_core::token::random_urlsafe(24);
    let _ = timed(r, "decoy bind", ldap.simple_bind(&dn, &pw)).await;
    let _ = tokio::time::timeout(r.settings.op_timeout, ldap.unbind()).await;
}
