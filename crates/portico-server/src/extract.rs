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

/// Parses a JSON document into `T`, naming the failing path. Refused (400 `VALIDATION_ERROR`)
/// besides serde's own errors: data after the value, and any string (or key) holding NUL or an
/// unpaired UTF-16 surrogate escape, which PostgreSQL text cannot hold.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if may_hold_nul_escape(bytes) {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
            if let Some(field) = nul_path(&v, String::new()) {
                return Err(ApiError::field(field, "must not contain NUL characters"));
            }
        }
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." || path.is_empty() {
            "body".to_owned()
        } else {
            path
        };
        let m = inner.to_string();
        let message = if m.contains("surrogate") {
            "must not contain unpaired UTF-16 surrogates".to_owned()
        } else if inner.is_syntax() || inner.is_eof() {
            "body is not valid JSON".to_owned()
        } else {
            // serde's messages name the unknown field or the expected type; strip positions.
            m.split(" at line ").next().unwrap_or(&m).to_owned()
        };
        ApiError::Validation {
            message: format!("{field}: {message}"),
            details: vec![FieldIssue { field, message }],
        }
    })?;
    de.end()
        .map_err(|_| ApiError::field("body", "unexpected data after the JSON value"))?;
    Ok(value)
}

/// A cheap pre-scan: JSON can carry NUL only as the escape `\u0000` (a raw control character is
/// a syntax error). An escaped backslash before it (`\\u0000`) is text, not NUL.
fn may_hold_nul_escape(bytes: &[u8]) -> bool {
    bytes
        .windows(6)
        .enumerate()
        .any(|(i, w)| w == b"\\u0000" && bytes[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0)
}

/// The path (`a.b[2]`, serde_path_to_error's style) of the first string or key holding NUL.
fn nul_path(v: &serde_json::Value, at: String) -> Option<String> {
    let here = || if at.is_empty() { "body".to_owned() } else { at.clone() };
    match v {
        serde_json::Value::String(s) => s.contains('\0').then(here),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| nul_path(x, format!("{at}[{i}]"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, x)| {
            let path = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
            if k.contains('\0') {
                Some(here())
            } else {
                nul_path(x, path)
            }
        }),
        _ => None,
    }
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
            return Err(ApiError::field("body", "the body is empty; send a JSON object"));
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
    let pairs = strict_form_pairs(q.as_bytes())?;
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

/// `application/x-www-form-urlencoded` pairs (query strings and form bodies), decoded strictly:
/// a name or value that is not UTF-8 once percent-decoded, or that holds NUL, is a 400 naming it
/// (lossy decoding would silently change what the client sent).
pub fn strict_form_pairs(input: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let decode = |raw: &[u8]| -> Option<String> {
        let plus: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
        let bytes: Vec<u8> = percent_encoding::percent_decode(&plus).collect();
        String::from_utf8(bytes).ok().filter(|s| !s.contains('\0'))
    };
    let mut out = Vec::new();
    for part in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match part.iter().position(|&b| b == b'=') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &b""[..]),
        };
        let Some(name) = decode(k) else {
            return Err(ApiError::field(
                "query",
                "a parameter name is not valid UTF-8 or contains NUL",
            ));
        };
        let Some(value) = decode(v) else {
            return Err(ApiError::field(name, "must be valid UTF-8 without NUL characters"));
        };
        out.push((name, value));
    }
    Ok(out)
}

/// `?limit=&cursor=` on every list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
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
        let server = &state.settings.server;
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let ip = crate::client_addr::resolve(
            peer,
            &parts.headers,
            server.trust_forwarded_for,
            &server.trusted_proxies,
        )
        .map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect());
        let request_id = parts.extensions.get::<crate::respond::RequestId>().map(|r| r.0.clone());
        Ok(Self {
            request_id,
            ip,
            user_agent,
        })
    }
}

/// An `application/x-www-form-urlencoded` body (SAML POST binding, HTML sign-in forms), decoded
/// strictly (see [`strict_form_pairs`]) and validated like a JSON body; a repeated field is a 400.
#[derive(Debug)]
pub struct ValidForm<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for ValidForm<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::field("body", "could not read the request body")
            }
        })?;
        let text = std::str::from_utf8(&bytes).map_err(|_| ApiError::field("body", "is not valid UTF-8"))?;
        serde_urlencoded_from_str(text).map(ValidForm)
    }
}

/// Middleware: every request's path and query string decode to UTF-8 without NUL, whatever
/// extractor the handler uses (`Path`, a map of the query), so nothing undecodable reaches a
/// service or PostgreSQL.
pub async fn uri_hygiene(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path_ok = {
        let raw = req.uri().path().as_bytes();
        let bytes: Vec<u8> = percent_encoding::percent_decode(raw).collect();
        String::from_utf8(bytes).is_ok_and(|p| !p.contains('\0'))
    };
    if !path_ok {
        return ApiError::field("path", "must be valid UTF-8 without NUL characters").into_response();
    }
    if let Some(q) = req.uri().query() {
        if let Err(e) = strict_form_pairs(q.as_bytes()) {
            return e.into_response();
        }
    }
    next.run(req).await
}
