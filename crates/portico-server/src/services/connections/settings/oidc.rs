//! OIDC settings: the issuer (discovery base), the client ID and how the client authenticates
//! at the token endpoint; the client secret itself is a sealed column of the row.

use portico_core::connection::Protocol;
use portico_store::connections::Connection;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ProtocolFields, UrlRules};
use crate::error::ApiError;

/// The OIDC fields of a connection (`config`, camelCase).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcSettings {
    /// Discovery base (`/.well-known/openid-configuration` is appended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_url: Option<String>,
    /// The client ID registered at the IdP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `client_secret_basic` (default) or `client_secret_post`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// Scopes requested instead of the adapter's default (internal: no API field sets it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Browser logins come back to `{public_url}/api/auth/sso/callback/{connectionId}` instead
    /// of the shared callback (mix-up protection, SPEC §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedicated_callback: Option<bool>,
    /// What the last connection test learnt: the IdP advertises RFC 9207 `iss` in its
    /// authorization responses (internal: written by the test, cleared with the issuer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss_parameter_supported: Option<bool>,
    /// Stored keys this version does not know.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: Map<String, Value>,
}

impl ProtocolFields for OidcSettings {
    const PROTOCOL: Protocol = Protocol::Oidc;
    const INTERNAL: &'static [&'static str] = &["scopes", "issParameterSupported"];

    fn unknown(&self) -> &Map<String, Value> {
        &self.unknown
    }
}

/// Which protection against the OIDC mix-up holds for a connection (`mixUpProtection`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MixUpProtection {
    /// Its logins come back on its own callback path (`dedicatedCallback`).
    DedicatedCallback,
    /// Its IdP advertises RFC 9207 `iss`, which is then required and checked.
    Iss,
    /// Neither: a malicious IdP of another organization could obtain its codes.
    None,
}

impl OidcSettings {
    /// True when browser logins use the connection's dedicated callback.
    pub fn dedicated(&self) -> bool {
        self.dedicated_callback == Some(true)
    }

    /// The protection that holds: the dedicated callback (Portico's own guarantee) first, then
    /// `iss` as the last test learnt it, else none.
    pub fn mix_up_protection(&self) -> MixUpProtection {
        if self.dedicated() {
            MixUpProtection::DedicatedCallback
        } else if self.iss_parameter_supported == Some(true) {
            MixUpProtection::Iss
        } else {
            MixUpProtection::None
        }
    }

    /// Refuses settings an OIDC login could not use, naming the field.
    pub fn validate(&self, conn: &Connection, rules: UrlRules) -> Result<(), ApiError> {
        let issuer = self
            .issuer_url
            .as_deref()
            .ok_or_else(|| ApiError::field("issuerUrl", "is required for OIDC"))?;
        rules.check_issuer("issuerUrl", issuer)?;
        let cid = self
            .client_id
            .as_deref()
            .ok_or_else(|| ApiError::field("clientId", "is required for OIDC"))?;
        if cid.is_empty() || cid.len() > 256 {
            return Err(ApiError::field("clientId", "must be 1-256 characters"));
        }
        if conn.client_secret.is_none() {
            return Err(ApiError::field("clientSecret", "is required for OIDC"));
        }
        if let Some(m) = &self.token_endpoint_auth_method {
            if portico_oidc::ClientAuth::parse(m).is_none() {
                return Err(ApiError::field(
                    "tokenEndpointAuthMethod",
                    "must be client_secret_basic or client_secret_post",
                ));
            }
        }
        Ok(())
    }
}
