//! Input extractors whose every rejection is an [`ApiError`] (never a plain-text framework
//! error): JSON bodies with unknown-field and type errors named by path, query strings,
//! pagination, and the client's address.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{ApiError, FieldIssue};
use crate::state::AppState;

/// A JSON body, validated by serde with the failing field's path reported.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

/// Parses a JSON document into `T`, naming the failing path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." || path.is_empty() {
            "body".to_owned()
        } else {
            path
        };
        let message = if inner.is_syntax() || inner.is_eof() {
            "body is not valid JSON".to_owned()
        } else {
            // serde's messages name the unknown field or the expected type; strip positions.
            let m = inner.to_string();
            m.split(" at line ").next().unwrap_or(&m).to_owned()
        };
        ApiError::Validation {
            message: format!("{field}: {message}"),
            details: vec![FieldIssue { field, message }],
        }
    })
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/json")
            });
        if json == Some(false) {
            return Err(ApiError::field("body", "Content-Type must be application/json"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::field("body", "could not read the request body")
            }
        })?;
        if bytes.is_empty() {
            return parse_json(b"{}").map(ValidJson);
        }
        parse_json(&bytes).map(ValidJson)
    }
}

/// A query string, validated like a body.
#[derive(Debug)]
pub struct ValidQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded_from_str(q).map(ValidQuery)
    }
}

fn serde_urlencoded_from_str<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes()).into_owned().collect();
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        if map.contains_key(&k) {
            return Err(ApiError::field(k, "given more than once"));
        }
        map.insert(k, serde_json::Value::String(v));
    }
    let bytes = serde_json::to_vec(&map).map_err(|e| ApiError::Internal(e.to_string()))?;
    parse_json(&bytes)
}

/// `?limit=&cursor=` on every list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Page size (default 50, max 200), as text.
    pub limit: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// Validates into a store page.
    pub fn page(&self) -> Result<portico_store::Page, ApiError> {
        let limit = match &self.limit {
            None => 50,
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=200).contains(n))
                .ok_or_else(|| ApiError::field("limit", "must be an integer between 1 and 200"))?,
        };
        if let Some(c) = &self.cursor {
            if c.is_empty() || c.len() > 64 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(ApiError::field("cursor", "invalid cursor"));
            }
        }
        Ok(portico_store::Page {
            limit,
            cursor: self.cursor.clone(),
        })
    }
}

/// The request's id, the caller's network address and user agent (for audit and sessions).
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    /// Request id.
    pub request_id: Option<String>,
    /// IP address.
    pub ip: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let forwarded = state
            .settings
            .server
            .trust_forwarded_for
            .then(|| parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()))
            .flatten()
            .and_then(|v| v.split(',').next())
            .map(|s| s.trim().to_owned());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect());
        let request_id = parts.extensions.get::<crate::respond::RequestId>().map(|r| r.0.clone());
        Ok(Self {
            request_id,
            ip: forwarded.or(peer),
            user_agent,
        })
    }
}
