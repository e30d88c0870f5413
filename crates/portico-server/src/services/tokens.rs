//! Personal access tokens / API keys: minted once, stored as digests.

use chrono::{DateTime, Utc};
use portico_core::{ids, token};
use portico_store::tokens::{self, ApiToken, NewToken};
use secrecy::SecretString;
use sqlx::PgExecutor;

use crate::error::ApiError;

/// Creates a token for `user_id`, optionally pinned; returns the row and the secret (shown once).
pub async fn create(
    db: impl PgExecutor<'_>,
    user_id: &str,
    organization_id: Option<&str>,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
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
        },
    )
    .await?;
    Ok((row, minted.token))
}
