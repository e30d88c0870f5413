//! Portico as the applications' OpenID Provider (SPEC §6): clients, signing keys, the validated
//! authorization request, codes and tokens, and the claims of ID tokens and userinfo. HTTP is
//! decided in `api::oauth2`; this module never builds a response.

pub mod clients;
pub mod grants;
pub mod keys;
pub mod logout;

use portico_store::oauth_grants::GrantClaims;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Scopes Portico understands (others are dropped from the grant).
pub const SCOPES: [&str; 6] = ["openid", "profile", "email", "organization", "groups", "offline_access"];

/// Claims Portico issues.
pub const CLAIMS: [&str; 20] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "sid",
    "amr",
    "acr",
    "azp",
    "email",
    "email_verified",
    "name",
    "org_id",
    "org_slug",
    "org_role",
    "groups",
    "connection_id",
    "idp_protocol",
];

/// Access-token lifetime.
pub const ACCESS_TTL_SECS: i64 = 3600;
/// ID-token lifetime.
pub const ID_TOKEN_TTL_SECS: i64 = 3600;
/// Refresh-token lifetime (each rotation starts a new one).
pub const REFRESH_TTL_SECS: i64 = 30 * 24 * 3600;
/// Authorization-code lifetime.
pub const CODE_TTL_SECS: i64 = 60;

/// A validated authorization request: what the code will be bound to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    /// Client.
    pub client_id: String,
    /// Exact registered redirect URI.
    pub redirect_uri: String,
    /// Granted scope (known scopes only, space separated).
    pub scope: String,
    /// Passed through.
    pub state: Option<String>,
    /// Passed through into the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
}

impl AuthorizeRequest {
    /// True when `scope` was granted.
    pub fn has(&self, scope: &str) -> bool {
        has_scope(&self.scope, scope)
    }
}

/// True when the space-separated `scopes` hold `scope`.
pub fn has_scope(scopes: &str, scope: &str) -> bool {
    scopes.split(' ').any(|s| s == scope)
}

/// The identity claims of a grant, by scope (shared by the ID token and userinfo).
pub fn identity_claims(c: &GrantClaims) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sub".into(), json!(c.user_id));
    if has_scope(&c.scope, "email") {
        m.insert("email".into(), json!(c.email));
        // Admission accepted the address: the IdP vouched for it and its domain is the connection's.
        m.insert("email_verified".into(), json!(true));
    }
    if has_scope(&c.scope, "profile") {
        if let Some(n) = &c.name {
            m.insert("name".into(), json!(n));
        }
    }
    if has_scope(&c.scope, "organization") {
        m.insert("org_id".into(), json!(c.organization_id));
        m.insert("org_slug".into(), json!(c.org_slug));
        m.insert("org_role".into(), json!(c.org_role));
    }
    if has_scope(&c.scope, "groups") {
        m.insert("groups".into(), json!(c.groups));
    }
    m.insert("connection_id".into(), json!(c.connection_id));
    m.insert("idp_protocol".into(), json!(c.method));
    m
}

/// `amr` and `acr` of a grant: `["sso"]`, plus `"mfa"` when the IdP asserted it.
pub fn amr_acr(c: &GrantClaims) -> (Value, &'static str) {
    if c.mfa {
        (json!(["sso", "mfa"]), "urn:portico:acr:sso-mfa")
    } else {
        (json!(["sso"]), "urn:portico:acr:sso")
    }
}
