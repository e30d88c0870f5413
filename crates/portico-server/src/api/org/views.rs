//! The JSON shapes of the Organization API (camelCase), built from store rows.

use chrono::{DateTime, Utc};
use portico_core::account::{MemberStatus, SessionMethod};
use portico_store::orgs::{Member, MemberOrganization, Organization};
use portico_store::sessions::SessionView;
use portico_store::tokens::ApiToken;
use serde::Serialize;

/// An organization, with the caller's role when known.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Organization)]
pub struct OrgView {
    id: String,
    slug: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl OrgView {
    /// From an organization and the caller's role.
    pub fn new(o: &Organization, role: Option<&str>) -> Self {
        Self {
            id: o.id.clone(),
            slug: o.slug.clone(),
            name: o.name.clone(),
            role: role.map(str::to_owned),
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

impl From<&MemberOrganization> for OrgView {
    fn from(m: &MemberOrganization) -> Self {
        Self::new(&m.org, Some(&m.role))
    }
}

/// A member.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Member)]
pub struct MemberView {
    user_id: String,
    email: String,
    name: Option<String>,
    #[schema(value_type = String)]
    status: MemberStatus,
    role: String,
    joined_at: DateTime<Utc>,
}

impl From<&Member> for MemberView {
    fn from(m: &Member) -> Self {
        Self {
            user_id: m.user_id.clone(),
            email: m.email.clone(),
            name: m.name.clone(),
            status: m.status,
            role: m.role.clone(),
            joined_at: m.created_at,
        }
    }
}

/// A personal access token (never the secret).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Token)]
pub struct TokenView {
    id: String,
    name: String,
    prefix: String,
    organization_id: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    /// How the session that minted it signed in (what policy judges the token by).
    #[schema(value_type = crate::openapi::mirrors::MintedBySchema)]
    minted_by: serde_json::Value,
}

impl From<&ApiToken> for TokenView {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            prefix: t.prefix.clone(),
            organization_id: t.organization_id.clone(),
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
            created_at: t.created_at,
            minted_by: serde_json::json!({
                "method": t.auth_method,
                "organizationId": t.auth_org_id,
                "mfa": t.auth_mfa,
            }),
        }
    }
}

/// A session (never the token).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Session)]
pub struct SessionItem {
    id: String,
    user_id: String,
    email: String,
    name: Option<String>,
    #[schema(value_type = String)]
    method: SessionMethod,
    mfa: bool,
    organization_id: Option<String>,
    connection_id: Option<String>,
    connection_name: Option<String>,
    ip: Option<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl From<&SessionView> for SessionItem {
    fn from(v: &SessionView) -> Self {
        let s = &v.session;
        Self {
            id: s.id.clone(),
            user_id: s.user_id.clone(),
            email: v.email.clone(),
            name: v.name.clone(),
            method: s.method,
            mfa: s.mfa,
            organization_id: s.organization_id.clone(),
            connection_id: s.connection_id.clone(),
            connection_name: v.connection_name.clone(),
            ip: s.ip.clone(),
            created_at: s.created_at,
            expires_at: s.expires_at,
        }
    }
}
