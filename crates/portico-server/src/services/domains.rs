//! Organization domains: claim (pending, with a TXT token), verify by a live DNS lookup, auto-join
//! settings, removal; and the SSO route of a verified domain (sign-in discovery).
//!
//! Validation: `portico_core::domain::normalize` (trim, trailing dot, lower case, IDNA to ASCII,
//! no IPs, two labels at least); then no bare public suffix — the `psl` crate (Mozilla's Public
//! Suffix List compiled in, ICANN and private sections: `com`, `co.uk`, `github.io` are refused,
//! `acme.co.uk` is fine) — and no well-known consumer mail domain ([`CONSUMER_MAIL_DOMAINS`],
//! subdomains included).
//!
//! Verification: TXT at `_portico-verification.<domain>` must equal
//! `portico-verification=<token>` → `verified`; else `record_not_found`, `record_mismatch` or
//! `dns_error`. A domain verified by another organization is a 409 and nothing changes (the
//! database's partial unique index settles races). Verified stays verified until removed.

use portico_core::role::Role;
use portico_core::{domain, ids, token};
use portico_store::connections::Connection;
use portico_store::domains::{self, Domain, VERIFIED_ONCE};
use portico_store::orgs::{self, Organization};
use portico_store::{audit, StoreError};
use serde_json::{json, Value};

use crate::auth::org::OrgAccess;
use crate::auth::policy::Need;
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::services::audit::{event, failed};
use crate::services::dns::{self, TxtLookup};
use crate::state::AppState;

/// The label under which the verification TXT record lives.
pub const RECORD_LABEL: &str = "_portico-verification";
/// The prefix of the TXT record's value.
pub const VALUE_PREFIX: &str = "portico-verification=";

/// Consumer mail domains nobody may claim (each also refuses its subdomains).
pub const CONSUMER_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "live.com",
    "msn.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "ymail.com",
    "rocketmail.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "tutanota.com",
    "tuta.io",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.com",
    "mail.ru",
    "yandex.com",
    "yandex.ru",
    "zoho.com",
    "qq.com",
    "163.com",
    "126.com",
    "fastmail.com",
    "hey.com",
    "duck.com",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "t-online.de",
    "libero.it",
    "naver.com",
    "comcast.net",
];

/// The TXT record name for `domain`.
pub fn record_name(domain: &str) -> String {
    format!("{RECORD_LABEL}.{domain}")
}

/// The TXT record value for `token`.
pub fn record_value(token: &str) -> String {
    format!("{VALUE_PREFIX}{token}")
}

/// Normalises a domain an organization wants to claim, or says why it cannot be claimed.
pub fn claimable(input: &str) -> Result<String, ApiError> {
    let d = domain::normalize(input).map_err(|e| ApiError::field("domain", e.to_string()))?;
    if psl::domain(d.as_bytes()).is_none() {
        return Err(ApiError::field(
            "domain",
            "a public suffix (such as com, co.uk or github.io) cannot be claimed",
        ));
    }
    if CONSUMER_MAIL_DOMAINS
        .iter()
        .any(|c| d == *c || d.ends_with(&format!(".{c}")))
    {
        return Err(ApiError::field("domain", "a consumer mail domain cannot be claimed"));
    }
    Ok(d)
}

/// The domain as the API shows it.
pub fn view(d: &Domain) -> Value {
    json!({
        "id": d.id,
        "organizationId": d.organization_id,
        "domain": d.domain,
        "status": d.status,
        "verification": { "type": "TXT", "name": record_name(&d.domain), "value": record_value(&d.verification_token) },
        "verifiedAt": d.verified_at,
        "lastCheckedAt": d.last_checked_at,
        "lastError": d.last_error,
        "autoJoin": { "enabled": d.auto_join_enabled, "requireApproval": d.auto_join_require_approval, "role": d.auto_join_role },
        "createdAt": d.created_at,
        "updatedAt": d.updated_at,
    })
}

fn id_ok(id: &str) -> Result<(), ApiError> {
    if ids::is_ulid(id) {
        Ok(())
    } else {
        Err(ApiError::NotFound("domain"))
    }
}

/// One domain of the organization (owner or admin).
pub async fn get(state: &AppState, access: &OrgAccess, id: &str) -> Result<Domain, ApiError> {
    access.require(Need::Admin)?;
    id_ok(id)?;
    domains::by_id(&state.db, &access.org.id, id)
        .await?
        .ok_or(ApiError::NotFound("domain"))
}

/// Claims a domain (owner): pending, with the TXT record to publish.
pub async fn add(state: &AppState, ctx: &ClientInfo, access: &OrgAccess, input: &str) -> Result<Domain, ApiError> {
    access.require(Need::Owner)?;
    let name = claimable(input)?;
    let mut tx = state.db.begin().await?;
    let d = domains::insert(
        &mut *tx,
        &ids::bare(),
        &access.org.id,
        &name,
        &token::random_urlsafe(32),
    )
    .await
    .map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::Conflict("domain: this organization has already added this domain".into()),
        other => other.into(),
    })?;
    let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "domain.create");
    e.target_id = Some(d.id.clone());
    e.details = Some(json!({ "domain": d.domain }));
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(d)
}

/// The outcome of a verification: `verified`, `record_not_found`, `record_mismatch`, `dns_error`.
pub type VerifyResult = &'static str;

fn claimed_elsewhere() -> ApiError {
    ApiError::Conflict("domain: this domain is verified by another organization".into())
}

/// Verifies a domain now by a live TXT lookup (owner).
pub async fn verify(
    state: &AppState,
    ctx: &ClientInfo,
    access: &OrgAccess,
    id: &str,
) -> Result<(Domain, VerifyResult), ApiError> {
    access.require(Need::Owner)?;
    id_ok(id)?;
    let d = domains::by_id(&state.db, &access.org.id, id)
        .await?
        .ok_or(ApiError::NotFound("domain"))?;
    if d.is_verified() {
        return Ok((d, "verified"));
    }
    let audit_base = || {
        let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "domain.verify");
        e.target_id = Some(d.id.clone());
        e.details = Some(json!({ "domain": d.domain }));
        e
    };
    if domains::verified(&state.db, &d.domain)
        .await?
        .is_some_and(|v| v.organization_id != access.org.id)
    {
        audit::record(&state.db, failed(audit_base(), "claimed_by_another_organization")).await?;
        return Err(claimed_elsewhere());
    }
    let expected = record_value(&d.verification_token);
    let result = match dns::txt(&state.settings, &record_name(&d.domain)).await {
        TxtLookup::Found(values) if values.iter().any(|v| v.trim() == expected) => "verified",
        TxtLookup::Found(_) => "record_mismatch",
        TxtLookup::NotFound => "record_not_found",
        TxtLookup::Failed(detail) => {
            tracing::warn!(domain = %d.domain, error = %detail, "domain verification lookup failed");
            "dns_error"
        }
    };
    if result != "verified" {
        let mut tx = state.db.begin().await?;
        let d = domains::record_failure(&mut *tx, &access.org.id, &d.id, result).await?;
        audit::record(&mut *tx, failed(audit_base(), result)).await?;
        tx.commit().await?;
        return Ok((d, result));
    }
    let mut tx = state.db.begin().await?;
    let verified = match domains::mark_verified(&mut *tx, &access.org.id, &d.id).await {
        Ok(v) => v,
        Err(StoreError::Conflict(c)) if c == VERIFIED_ONCE => {
            drop(tx);
            audit::record(&state.db, failed(audit_base(), "claimed_by_another_organization")).await?;
            return Err(claimed_elsewhere());
        }
        Err(e) => return Err(e.into()),
    };
    audit::record(&mut *tx, audit_base()).await?;
    tx.commit().await?;
    Ok((verified, "verified"))
}

/// A change of a domain's auto-join policy; `None` keeps the current value.
#[derive(Debug, Default)]
pub struct AutoJoinInput {
    /// Auto-join on.
    pub enabled: Option<bool>,
    /// Needs approval.
    pub require_approval: Option<bool>,
    /// Role granted (never `owner`).
    pub role: Option<String>,
}

/// Sets a domain's auto-join policy (owner). It takes effect once the domain is verified.
pub async fn set_auto_join(
    state: &AppState,
    ctx: &ClientInfo,
    access: &OrgAccess,
    id: &str,
    input: AutoJoinInput,
) -> Result<Domain, ApiError> {
    access.require(Need::Owner)?;
    id_ok(id)?;
    if let Some(r) = &input.role {
        let role = Role::parse(r).map_err(|e| ApiError::field("autoJoin.role", e.to_string()))?;
        if role == Role::Owner {
            return Err(ApiError::field("autoJoin.role", "auto-join never grants owner"));
        }
    }
    let mut tx = state.db.begin().await?;
    let current = domains::by_id(&mut *tx, &access.org.id, id)
        .await?
        .ok_or(ApiError::NotFound("domain"))?;
    let enabled = input.enabled.unwrap_or(current.auto_join_enabled);
    let require_approval = input.require_approval.unwrap_or(current.auto_join_require_approval);
    let role = input.role.unwrap_or_else(|| current.auto_join_role.clone());
    let d = domains::set_auto_join(&mut *tx, &access.org.id, id, enabled, require_approval, &role).await?;
    let mut e = event(
        ctx,
        Some(&access.caller),
        Some(&access.org.id),
        "domain.auto_join.update",
    );
    e.target_id = Some(d.id.clone());
    e.details = Some(json!({
        "domain": d.domain,
        "from": { "enabled": current.auto_join_enabled, "requireApproval": current.auto_join_require_approval, "role": current.auto_join_role },
        "to": { "enabled": enabled, "requireApproval": require_approval, "role": role },
    }));
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(d)
}

/// Removes a domain (owner).
pub async fn remove(state: &AppState, ctx: &ClientInfo, access: &OrgAccess, id: &str) -> Result<Domain, ApiError> {
    access.require(Need::Owner)?;
    id_ok(id)?;
    let mut tx = state.db.begin().await?;
    let d = domains::by_id(&mut *tx, &access.org.id, id)
        .await?
        .ok_or(ApiError::NotFound("domain"))?;
    domains::delete(&mut *tx, &access.org.id, id).await?;
    let mut e = event(ctx, Some(&access.caller), Some(&access.org.id), "domain.delete");
    e.target_id = Some(d.id.clone());
    e.details = Some(json!({ "domain": d.domain, "status": d.status }));
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(d)
}

/// Where an email on a DNS-verified domain signs in: the verifying organization and the
/// connection its login would use, when it has a usable one. Connection `domains` lists alone
/// never route here: they are not proven, and discovery must not send strangers to an IdP.
pub async fn sso_route(state: &AppState, email_domain: &str) -> Result<Option<(Organization, Connection)>, ApiError> {
    let Some(d) = domains::verified(&state.db, email_domain).await? else {
        return Ok(None);
    };
    let Some(org) = orgs::by_id(&state.db, &d.organization_id).await? else {
        return Ok(None);
    };
    match crate::services::signin::pick_connection(state, &org, Some(email_domain), false).await {
        Ok(conn) => Ok(Some((org, conn))),
        Err(ApiError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claimable_domains() {
        assert_eq!(claimable("ExAmple.COM.").ok().as_deref(), Some("example.com"));
        assert_eq!(claimable("acme.co.uk").ok().as_deref(), Some("acme.co.uk"));
        for bad in [
            "com",
            "co.uk",
            "github.io",
            "gmail.com",
            "eu.gmail.com",
            "Proton.Me",
            "127.0.0.1",
            "localhost",
            "a..b",
        ] {
            assert!(claimable(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(record_name("example.com"), "_portico-verification.example.com");
        assert_eq!(record_value("t0k"), "portico-verification=t0k");
    }
}
