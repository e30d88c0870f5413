//! One error type for every route. `status()` and `code()` are the single mapping; each API
//! family renders the same error in its own shape (see [`crate::respond`]).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use portico_store::StoreError;
use serde::Serialize;

/// `Retry-After` of every 503: a database restart or failover is usually over within seconds.
pub const RETRY_AFTER_UNAVAILABLE_SECS: u64 = 2;

/// One problem with one input field.
#[derive(Clone, Debug, Serialize)]
pub struct FieldIssue {
    /// JSON path of the field (`clientId`, `domains[2]`), or `body`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Every error an API route can answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Invalid input (400).
    #[error("{message}")]
    Validation {
        /// Summary.
        message: String,
        /// Per-field problems.
        details: Vec<FieldIssue>,
    },
    /// Body over the limit (413).
    #[error("request body is too large")]
    PayloadTooLarge,
    /// No or bad credentials (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// The organization requires MFA and the session has none (403).
    #[error("this organization requires multi-factor authentication")]
    MfaRequired,
    /// A password sign-in whose account has TOTP on, without a valid second factor (403
    /// `MFA_REQUIRED`; the message says what was missing).
    #[error("{0}")]
    SecondFactorRequired(&'static str),
    /// The organization requires SSO (403).
    #[error("this organization requires single sign-on")]
    SsoRequired {
        /// Where to sign in instead.
        login_url: Option<String>,
    },
    /// No such thing, or not visible to the caller (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness or state conflict (409).
    #[error("{0}")]
    Conflict(String),
    /// Raising the policy to SSO before a tested connection exists (409).
    #[error("single sign-on cannot be required until an active connection has passed its test")]
    SsoNotReady,
    /// Too many attempts (429).
    #[error("too many attempts; retry later")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// Sign-in failed; deliberately generic (401).
    #[error("authentication failed")]
    SsoAuthFailed,
    /// A precise, stable failure code with its own status (e.g. `LOGIN_MODE_MISMATCH`).
    #[error("{message}")]
    Coded {
        /// HTTP status.
        status: StatusCode,
        /// Stable code.
        code: &'static str,
        /// Human text.
        message: String,
    },
    /// A SCIM request's fault (RFC 7644 §3.12), rendered with its `scimType`.
    #[error("{message}")]
    Scim {
        /// What was wrong.
        fault: ScimFault,
        /// Human text (`detail`).
        message: String,
    },
    /// A dependency is down (503).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure (500); the detail is logged, never returned.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A validation error about one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let (field, message) = (field.into(), message.into());
        Self::Validation {
            message: format!("{field}: {message}"),
            details: vec![FieldIssue { field, message }],
        }
    }

    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation { .. } => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized(_) | Self::SsoAuthFailed => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::MfaRequired | Self::SecondFactorRequired(_) | Self::SsoRequired { .. } => {
                StatusCode::FORBIDDEN
            }
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::SsoNotReady => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Coded { status, .. } => *status,
            Self::Scim { fault, .. } => fault.status(),
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } | Self::PayloadTooLarge => "VALIDATION_ERROR",
            Self::Unauthorized(_) => "UNAUTHORIZED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::MfaRequired | Self::SecondFactorRequired(_) => "MFA_REQUIRED",
            Self::SsoRequired { .. } => "SSO_REQUIRED",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Conflict(_) => "CONFLICT",
            Self::SsoNotReady => "SSO_NOT_READY",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::SsoAuthFailed => "SSO_AUTH_FAILED",
            Self::Coded { code, .. } => code,
            Self::Scim { fault, .. } => fault.code(),
            Self::Unavailable(_) => "SERVICE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL_ERROR",
        }
    }
}

/// What a SCIM request got wrong: the RFC 7644 §3.12 `scimType` (lower camel case), or Portico's
/// code where the RFC names none. The SCIM service says which; its status is decided here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScimFault {
    /// 400 `invalidFilter`.
    InvalidFilter,
    /// 400 `invalidPath`.
    InvalidPath,
    /// 400 `invalidSyntax`.
    InvalidSyntax,
    /// 400 `invalidValue`.
    InvalidValue,
    /// 400 `noTarget`.
    NoTarget,
    /// 400 `tooMany`.
    TooMany,
    /// 409 `uniqueness`.
    Uniqueness,
    /// 403 `FORBIDDEN` (a disabled directory).
    Forbidden,
    /// 404 `NOT_FOUND`.
    NotFound,
    /// 412 `PRECONDITION_FAILED` (`If-Match` does not match).
    PreconditionFailed,
    /// 415 `UNSUPPORTED_MEDIA_TYPE`.
    UnsupportedMediaType,
}

impl ScimFault {
    /// HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidFilter
            | Self::InvalidPath
            | Self::InvalidSyntax
            | Self::InvalidValue
            | Self::NoTarget
            | Self::TooMany => StatusCode::BAD_REQUEST,
            Self::Uniqueness => StatusCode::CONFLICT,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    /// The `scimType`, or the stable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidFilter => "invalidFilter",
            Self::InvalidPath => "invalidPath",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidValue => "invalidValue",
            Self::NoTarget => "noTarget",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::PreconditionFailed => "PRECONDITION_FAILED",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
        }
    }
}

/// The family-neutral error carried from a handler to the responder middleware.
#[derive(Clone, Debug)]
pub struct RenderedError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Safe message.
    pub message: String,
    /// Field problems.
    pub details: Vec<FieldIssue>,
    /// Extra top-level fields (e.g. `loginUrl`).
    pub extra: Option<(&'static str, String)>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) = &self {
            tracing::error!(error = %detail, "internal error");
        }
        let status = self.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR && !matches!(self, Self::Internal(_)) {
            tracing::error!(error = %self, code = self.code(), "internal error");
        }
        let mut res = status.into_response();
        let retry_after = match &self {
            Self::RateLimited { retry_after } => Some(*retry_after),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => Some(RETRY_AFTER_UNAVAILABLE_SECS),
            _ => None,
        };
        if let Some(v) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
            res.headers_mut().insert("retry-after", v);
        }
        let extra = match &self {
            Self::SsoRequired { login_url: Some(u) } => Some(("loginUrl", u.clone())),
            _ => None,
        };
        let details = match &self {
            Self::Validation { details, .. } => details.clone(),
            _ => Vec::new(),
        };
        res.extensions_mut().insert(RenderedError {
            status,
            code: self.code(),
            message: self.to_string(),
            details,
            extra,
        });
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("resource"),
            StoreError::Conflict(c) => Self::Conflict(conflict_message(&c)),
            StoreError::Constraint(c) => Self::field(constraint_field(&c), "value refused by a constraint"),
            StoreError::BadText => Self::field("body", "contains a character that cannot be stored (NUL)"),
            StoreError::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                Self::Unavailable("the database is unavailable; retry shortly".into())
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<portico_core::secretbox::SecretBoxError> for ApiError {
    fn from(e: portico_core::secretbox::SecretBoxError) -> Self {
        Self::Internal(format!("secret box: {e}"))
    }
}

fn conflict_message(constraint: &str) -> String {
    match constraint {
        "organizations_slug_key" => "slug: an organization with this slug already exists".into(),
        "users_email_ci" => "email: a user with this email already exists".into(),
        "sso_connections_one_default" => "the organization already has a default SSO connection".into(),
        other => format!("conflict ({other})"),
    }
}

fn constraint_field(constraint: &str) -> String {
    // Constraint names look like `table_column_check`; report the column.
    let parts: Vec<&str> = constraint.split('_').collect();
    if parts.len() >= 3 {
        parts[1..parts.len() - 1].join("_")
    } else {
        constraint.to_owned()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::from(e).into()
    }
}

/// Maps a store error, naming what was not found.
pub fn not_found(what: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |e| match e {
        StoreError::NotFound => ApiError::NotFound(what),
        other => other.into(),
    }
}
