//! The operator's OAuth clients: registration (`portico clients …`) and client authentication
//! at the token and revocation endpoints.

use portico_core::token;
use portico_store::oauth_clients::{self, Client};
use portico_store::PgPool;
use secrecy::SecretString;
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// Prefix of client secrets.
pub const SECRET_PREFIX: &str = "pcs_";

/// What `portico clients add` registers.
#[derive(Debug)]
pub struct NewClient {
    /// Display name.
    pub name: String,
    /// Redirect URIs (exact).
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Public (no secret, PKCE required).
    pub public: bool,
    /// `ES256` (default) or `RS256`.
    pub id_token_alg: String,
}

/// A redirect URI must be absolute, without a fragment, http(s) (http only for loopback hosts
/// unless `allow_http`), or a private-use scheme for native apps (RFC 8252).
fn check_uri(uri: &str, allow_http: bool) -> Result<(), ApiError> {
    let u =
        url::Url::parse(uri).map_err(|_| ApiError::field("redirect_uri", format!("{uri} is not an absolute URI")))?;
    if u.fragment().is_some() {
        return Err(ApiError::field(
            "redirect_uri",
            format!("{uri} must not have a fragment"),
        ));
    }
    let loopback = matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    match u.scheme() {
        "https" => Ok(()),
        "http" if loopback || allow_http => Ok(()),
        "http" => Err(ApiError::field(
            "redirect_uri",
            format!("{uri}: http is only allowed for loopback hosts"),
        )),
        s if s.contains('.') => Ok(()),
        _ => Err(ApiError::field("redirect_uri", format!("{uri}: unsupported scheme"))),
    }
}

/// Registers a client; returns it and, for a confidential client, its secret (shown once).
pub async fn add(db: &PgPool, n: NewClient, allow_http: bool) -> Result<(Client, Option<SecretString>), ApiError> {
    if n.name.trim().is_empty() || n.name.len() > 200 {
        return Err(ApiError::field("name", "must be 1-200 characters"));
    }
    if n.redirect_uris.is_empty() {
        return Err(ApiError::field("redirect_uri", "at least one is required"));
    }
    for u in n.redirect_uris.iter().chain(&n.post_logout_redirect_uris) {
        check_uri(u, allow_http)?;
    }
    if !matches!(n.id_token_alg.as_str(), "ES256" | "RS256") {
        return Err(ApiError::field("id_token_alg", "must be ES256 or RS256"));
    }
    let minted = (!n.public).then(|| token::mint(SECRET_PREFIX));
    let c = Client {
        id: portico_core::ids::prefixed("cli_"),
        name: n.name.trim().to_owned(),
        public: n.public,
        secret_hash: minted.as_ref().map(|m| m.digest.clone()),
        redirect_uris: n.redirect_uris,
        post_logout_redirect_uris: n.post_logout_redirect_uris,
        id_token_alg: n.id_token_alg,
        created_at: chrono::Utc::now(),
    };
    let c = oauth_clients::insert(db, &c).await?;
    Ok((c, minted.map(|m| m.token)))
}

/// A new secret for a confidential client (the old one stops working at once).
pub async fn rotate_secret(db: &PgPool, id: &str) -> Result<SecretString, ApiError> {
    let m = token::mint(SECRET_PREFIX);
    if !oauth_clients::set_secret(db, id, &m.digest).await? {
        return Err(ApiError::NotFound("confidential client"));
    }
    Ok(m.token)
}

/// True when `secret` is `client`'s secret (constant time).
pub fn secret_matches(client: &Client, secret: &str) -> bool {
    match &client.secret_hash {
        Some(h) => bool::from(token::digest(secret).ct_eq(h)),
        None => false,
    }
}

/// The JSON view of a client (never a secret).
pub fn view(c: &Client) -> serde_json::Value {
    serde_json::json!({
        "client_id": c.id, "name": c.name, "public": c.public, "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris, "id_token_alg": c.id_token_alg,
        "created_at": c.created_at,
    })
}
