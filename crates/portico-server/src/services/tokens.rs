//! Personal access tokens / API keys: minted once, stored as digests.

use chrono::{DateTime, Utc};
use portico_core::account::AuthMethod;
use portico_core::{ids, token};
use portico_store::tokens::{self, ApiToken, MintedBy, NewToken};
use secrecy::SecretString;
use sqlx::PgExecutor;

use crate::auth::Credential;
use crate::error::ApiError;

/// The record a token minted with `cred` keeps: the session's sign-in (its organization only
/// for SSO), or, for a token minted with a token, that token's record.
pub fn minted_by(cred: &Credential) -> MintedBy {
    match cred {
        Credential::Session {
            method,
            mfa,
            organization_id,
            ..
        } => MintedBy {
            method: Some(AuthMethod::from(*method)),
            org_id: organization_id.clone().filter(|_| method.is_sso()),
            mfa: *mfa,
        },
        Credential::ApiKey { minted, .. } => minted.clone(),
    }
}

/// The record of the operator's key made by `portico bootstrap`.
pub fn operator() -> MintedBy {
    MintedBy {
        method: Some(AuthMethod::Bootstrap),
        org_id: None,
        mfa: false,
    }
}

/// Creates a token for `user_id`, optionally pinned; returns the row and the secret (shown once).
pub async fn create(
    db: impl PgExecutor<'_>,
    user_id: &str,
    organization_id: Option<&str>,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    minted_by: &MintedBy,
) -> Result<(ApiToken, SecretString), ApiError> {
    let minted = token::mint(token::API_KEY_PREFIX);
    let id = ids::prefixed(ids::TOKEN);
    let row = tokens::insert(
        db,
        NewToken {
            id: &id,
            user_id,
            organization_id,
            name,
            prefix: &minted.display_prefix,
            digest: &minted.digest,
            expires_at,
            minted_by,
        },
    )
    .await?;
    Ok((row, minted.token))
}
