//! `portico bootstrap`: an owner, an organization and an API key pinned to it, in one
//! transaction. The key works unchanged with both API families.

use portico_core::role::Role;
use portico_core::{ids, password, slug};
use portico_store::{audit, orgs, users, PgPool};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::error::ApiError;

/// What bootstrap prints (once).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bootstrapped {
    /// Organization id.
    pub organization_id: String,
    /// Organization slug.
    pub organization_slug: String,
    /// Owner's user id.
    pub user_id: String,
    /// Owner's email.
    pub email: String,
    /// The API key (secret).
    #[serde(serialize_with = "expose")]
    pub api_key: SecretString,
}

impl std::fmt::Debug for Bootstrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bootstrapped")
            .field("organization_id", &self.organization_id)
            .finish_non_exhaustive()
    }
}

fn expose<S: serde::Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose_secret())
}

/// Creates (or reuses, by email) the owner, creates the organization and a pinned key.
pub async fn run(
    db: &PgPool,
    org_name: &str,
    org_slug: &str,
    owner_email: &str,
    owner_password: Option<&str>,
) -> Result<Bootstrapped, ApiError> {
    if !slug::is_valid(org_slug) {
        return Err(ApiError::field(
            "orgSlug",
            "must be 1-63 characters of a-z, 0-9 and inner '-'",
        ));
    }
    if org_name.trim().is_empty() || org_name.len() > 200 {
        return Err(ApiError::field("orgName", "must be 1-200 characters"));
    }
    let hash = owner_password
        .map(password::hash)
        .transpose()
        .map_err(|e| ApiError::field("ownerPassword", e.to_string()))?;
    let mut tx = db.begin().await?;
    let user = match users::by_email(&mut *tx, owner_email).await? {
        Some(u) => u,
        None => users::insert(&mut *tx, &ids::prefixed(ids::USER), owner_email, None, hash.as_deref()).await?,
    };
    let org = orgs::insert(&mut *tx, &ids::bare(), org_slug, org_name.trim()).await?;
    orgs::add_member(&mut *tx, &org.id, &user.id, Role::Owner.as_str()).await?;
    let (_, key) = crate::services::tokens::create(
        &mut *tx,
        &user.id,
        Some(&org.id),
        "bootstrap",
        None,
        &crate::services::tokens::operator(),
    )
    .await?;
    let mut e = portico_store::audit::NewEvent {
        organization_id: Some(org.id.clone()),
        actor_kind: "system",
        action: "organization.bootstrap",
        success: true,
        target_id: Some(org.id.clone()),
        ..Default::default()
    };
    e.details = Some(serde_json::json!({ "ownerUserId": user.id }));
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(Bootstrapped {
        organization_id: org.id,
        organization_slug: org.slug,
        user_id: user.id,
        email: user.email,
        api_key: key,
    })
}
