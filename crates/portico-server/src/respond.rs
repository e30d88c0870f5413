//! The two responders. The Organization API wraps everything in the envelope of SPEC §1.1; the
//! SDK-compatible API answers bare objects and `{message, code, requestId}` errors. One
//! middleware ([`finalize`]) assigns the request id, renders errors in the caller's family,
//! converts any stray framework error into the same shapes, and records metrics.

use std::time::Instant;

use tracing::Instrument;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{ApiError, RenderedError};

/// The request id of the current request (echoed from a sane `x-request-id`, else a ULID).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Which API family a path belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `/api/...`, health and everything else: the envelope.
    Org,
    /// `/v1/...` and `/sso/...`: bare objects.
    Sdk,
    /// `/scim/v2/...`: SCIM error bodies (RFC 7644 §3.12) as `application/scim+json`.
    Scim,
}

impl Family {
    /// The family of a request path.
    pub fn of(path: &str) -> Self {
        if path.starts_with("/v1/") || path.starts_with("/sso/") {
            Self::Sdk
        } else if path.starts_with("/scim/") {
            Self::Scim
        } else {
            Self::Org
        }
    }
}

/// Routes a person's browser navigates to (sign-in starts, IdP callbacks, the provider's
/// authorize and logout): their failures are shown as a page, never as raw JSON (SPEC §3).
pub fn is_browser_route(path: &str) -> bool {
    let sso_login = path
        .strip_prefix("/api/auth/sso/")
        .is_some_and(|rest| rest.ends_with("/login") && rest.matches('/').count() == 1);
    sso_login
        || path == "/api/auth/sso/callback"
        || path.starts_with("/api/auth/sso/callback/")
        || path == "/oauth2/authorize"
        || path == "/oauth2/logout"
}

/// Whether the caller asked for HTML (a browser navigating), as opposed to a script.
fn wants_html(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// The small page a person sees when a browser route fails: what happened, what to do, and the
/// request id to quote to support.
pub fn error_page(err: &RenderedError, request_id: &str) -> String {
    let (title, advice) = match err.status.as_u16() {
        503 => (
            "Sign-in is temporarily unavailable",
            "The service is briefly unavailable. Wait a few seconds and try again.",
        ),
        s if s >= 500 => (
            "Something went wrong",
            "An unexpected error occurred. Try again; if it persists, contact your administrator.",
        ),
        _ => (
            "Sign-in could not continue",
            "Go back to the application and start the sign-in again.",
        ),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\"><h1>{title}</h1>\
         <p>{message}</p><p>{advice}</p><p><small>Error {code} · request id <code>{rid}</code></small></p>\
         </body></html>\n",
        message = html_escape(&err.message),
        code = html_escape(err.code),
        rid = html_escape(request_id),
    )
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A successful Organization-API response.
#[derive(Debug)]
pub struct Envelope {
    status: StatusCode,
    message: String,
    data: Value,
    pagination: Option<Value>,
}

impl Envelope {
    /// 200 with `data`.
    pub fn ok(data: impl Serialize) -> Self {
        Self::with_status(StatusCode::OK, data)
    }

    /// 201 with `data`.
    pub fn created(data: impl Serialize) -> Self {
        Self::with_status(StatusCode::CREATED, data)
    }

    /// Any status with `data`.
    pub fn with_status(status: StatusCode, data: impl Serialize) -> Self {
        let data = serde_json::to_value(data).unwrap_or(Value::Null);
        Self {
            status,
            message: "OK".into(),
            data,
            pagination: None,
        }
    }

    /// A page of items.
    pub fn list<T: Serialize>(items: Vec<T>, next_cursor: Option<String>, limit: i64) -> Self {
        let mut e = Self::ok(items);
        e.pagination = Some(json!({ "nextCursor": next_cursor, "limit": limit }));
        e
    }

    /// Sets the message.
    pub fn message(mut self, m: impl Into<String>) -> Self {
        self.message = m.into();
        self
    }
}

impl IntoResponse for Envelope {
    fn into_response(self) -> Response {
        let mut body = json!({
            "success": true,
            "status": self.status.as_u16(),
            "code": "OK",
            "message": self.message,
            "data": self.data,
        });
        if let (Some(p), Some(obj)) = (self.pagination, body.as_object_mut()) {
            obj.insert("pagination".into(), p);
        }
        (self.status, axum::Json(body)).into_response()
    }
}

/// Result type of Organization-API handlers.
pub type OrgResult = Result<Envelope, ApiError>;

fn sane_request_id(v: Option<&HeaderValue>) -> Option<String> {
    let s = v?.to_str().ok()?;
    let ok = !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| s.to_owned())
}

/// Renders an error in a family's shape.
pub fn render(family: Family, err: &RenderedError, request_id: &str) -> Value {
    match family {
        Family::Org => {
            let mut v = json!({
                "success": false,
                "status": err.status.as_u16(),
                "code": err.code,
                "message": err.message,
                "data": null,
                "requestId": request_id,
            });
            if let Some(obj) = v.as_object_mut() {
                if !err.details.is_empty() {
                    obj.insert("details".into(), json!(err.details));
                }
                if let Some((k, val)) = &err.extra {
                    obj.insert((*k).into(), json!(val));
                }
            }
            v
        }
        Family::Scim => scim_error_body(err),
        Family::Sdk => {
            let mut v = json!({ "message": err.message, "code": err.code, "requestId": request_id });
            if let (Some(obj), Some((k, val))) = (v.as_object_mut(), &err.extra) {
                obj.insert((*k).into(), json!(val));
            }
            v
        }
    }
}

/// The SCIM error message schema.
pub const SCIM_ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// An error in the SCIM error schema: a lower-camel `code` is the `scimType`.
pub fn scim_error_body(err: &RenderedError) -> Value {
    let scim_type = if err.code.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some(err.code)
    } else if err.status == StatusCode::BAD_REQUEST {
        Some("invalidSyntax")
    } else {
        None
    };
    let mut v = json!({
        "schemas": [SCIM_ERROR_SCHEMA],
        "status": err.status.as_u16().to_string(),
        "detail": err.message,
    });
    if let (Some(t), Some(o)) = (scim_type, v.as_object_mut()) {
        o.insert("scimType".into(), json!(t));
    }
    v
}

/// A framework-level failure (unknown route, wrong method, extractor rejection) as an ApiError.
fn stray(status: StatusCode) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::NotFound("route"),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::Coded {
            status,
            code: "METHOD_NOT_ALLOWED",
            message: "method not allowed on this route".into(),
        },
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::field("body", "Content-Type must be application/json"),
        s if s.is_client_error() => ApiError::Validation {
            message: "invalid request".into(),
            details: Vec::new(),
        },
        _ => ApiError::Internal(format!("unrendered {status} response")),
    }
}

/// The outermost middleware: request id, error rendering, access log and metrics.
pub async fn finalize(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id =
        sane_request_id(req.headers().get("x-request-id")).unwrap_or_else(|| ulid::Ulid::new().to_string());
    let family = Family::of(req.uri().path());
    let html = is_browser_route(req.uri().path()) && wants_html(req.headers());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, route = %route);
    let mut res = next.run(req).instrument(span).await;

    let rendered = res.extensions_mut().remove::<RenderedError>();
    // Framework rejections come as bare status codes or `text/plain; charset=utf-8` bodies.
    let framework_body = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain; charset=utf-8"));
    let rendered = match rendered {
        Some(r) => Some(r),
        None if (res.status().is_client_error() || res.status().is_server_error()) && framework_body => {
            let err = stray(res.status());
            let mut fresh = err.into_response();
            let r = fresh.extensions_mut().remove::<RenderedError>();
            // keep headers such as Retry-After / Allow from the original
            for (k, v) in res.headers() {
                if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
                    fresh.headers_mut().insert(k.clone(), v.clone());
                }
            }
            res = fresh;
            r
        }
        None => None,
    };
    if let Some(err) = rendered {
        let (bytes, content_type) = if html {
            (error_page(&err, &request_id).into_bytes(), "text/html; charset=utf-8")
        } else {
            let body = render(family, &err, &request_id);
            let ct = if family == Family::Scim {
                "application/scim+json"
            } else {
                "application/json"
            };
            (serde_json::to_vec(&body).unwrap_or_default(), ct)
        };
        *res.body_mut() = Body::from(bytes);
        *res.status_mut() = err.status;
        res.headers_mut().remove(header::CONTENT_LENGTH);
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert("x-request-id", v);
    }
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    metrics::counter!("portico_http_requests_total", "route" => route.clone(), "method" => method.to_string(), "status" => status.to_string()).increment(1);
    metrics::histogram!("portico_http_request_duration_seconds", "route" => route.clone())
        .record(elapsed.as_secs_f64());
    if status >= 500 {
        tracing::warn!(request_id, %method, route, status, elapsed_ms = elapsed.as_millis() as u64, "request failed");
    } else {
        tracing::debug!(request_id, %method, route, status, elapsed_ms = elapsed.as_millis() as u64, "request");
    }
    res
}

/// A 302 to `location` that also sets `cookies` (full `Set-Cookie` values).
pub fn redirect_with_cookies(location: &str, cookies: &[String]) -> Response {
    let mut res = (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response();
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}
