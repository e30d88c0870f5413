//! The one interface every protocol adapter (OIDC, SAML, LDAP) implements, and the normalised
//! values that cross it. Adapters never see the database or HTTP routing: the server stores
//! [`PendingLogin`] on the login transaction and hands it back on completion.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

crate::vocab::vocabulary! {
    /// The sign-in protocol of a connection.
    pub enum Protocol("protocol") {
        /// OpenID Connect (authorization code flow).
        Oidc = "oidc",
        /// SAML 2.0 Web Browser SSO.
        Saml = "saml",
        /// LDAP search-then-bind.
        Ldap = "ldap",
    }
}

/// Inputs for starting a login.
#[derive(Clone, Debug)]
pub struct LoginContext {
    /// The opaque `state` / `RelayState` the server generated for this transaction.
    pub state: String,
    /// Where the IdP must send the browser back (OIDC redirect URI or SAML ACS URL).
    pub redirect_uri: String,
    /// An optional login hint (the email the user typed).
    pub login_hint: Option<String>,
    /// The IdP must authenticate the person again, whatever session it holds (OIDC
    /// `prompt=login` + `max_age=0`, SAML `ForceAuthn`).
    pub force_authn: bool,
    /// The current time.
    pub now: DateTime<Utc>,
}

/// What the login transaction must remember between start and completion.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingLogin {
    /// OIDC nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// OIDC PKCE S256 verifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce_verifier: Option<String>,
    /// SAML AuthnRequest ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The redirect URI / ACS used when starting (must be repeated at the token endpoint).
    pub redirect_uri: String,
    /// Set when re-authentication was demanded: the IdP's authentication must not be older
    /// than this instant (unix seconds; OIDC checks the ID token's `auth_time`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reauth_since: Option<i64>,
    /// The whole authorization response comes back to Portico's own callback (a browser login),
    /// so a missing RFC 9207 `iss` means something when the provider advertises sending it.
    /// An SDK login's server-to-server callback carries only `code` and `state`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub iss_expected: bool,
}

/// How a login begins.
#[derive(Debug)]
pub enum LoginStart {
    /// Send the browser to `url`; keep `pending` on the transaction.
    Redirect {
        /// The IdP URL (OIDC authorize, SAML Redirect-binding AuthnRequest).
        url: String,
        /// Data to keep for completion.
        pending: PendingLogin,
    },
    /// The caller must collect a username and password (LDAP).
    CollectCredentials,
}

/// What the IdP (or user) sent back.
#[derive(Debug)]
pub enum LoginInput {
    /// OIDC authorization response (state already matched by the server).
    OidcCode {
        /// The authorization code.
        code: String,
        /// RFC 9207 `iss` parameter, when the provider sent one.
        iss: Option<String>,
    },
    /// SAML POST-binding response (base64).
    SamlResponse {
        /// The base64 `SAMLResponse` form field.
        saml_response: String,
    },
    /// Username and password (LDAP).
    Credentials {
        /// The username as typed.
        username: String,
        /// The password; never logged.
        password: SecretString,
    },
}

/// Inputs for completing a login.
#[derive(Clone, Debug)]
pub struct CompleteContext {
    /// What `begin_login` asked to keep, when the login started at Portico (None: IdP-initiated).
    pub pending: Option<PendingLogin>,
    /// The current time.
    pub now: DateTime<Utc>,
}

/// A verified identity as the IdP asserted it, normalised across protocols.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ExternalIdentity {
    /// The asserting party (OIDC issuer, SAML IdP entity ID, LDAP URL).
    pub issuer: String,
    /// The stable subject (OIDC `sub`, SAML NameID, LDAP entry DN or uid).
    pub subject: String,
    /// Email address, if asserted.
    pub email: Option<String>,
    /// Whether the IdP says the email is verified (None when it said nothing).
    pub email_verified: Option<bool>,
    /// Display name.
    pub name: Option<String>,
    /// Group names.
    pub groups: Vec<String>,
    /// Authentication methods (OIDC `amr`, SAML AuthnContextClassRef).
    pub amr: Vec<String>,
    /// True when the IdP asserted multi-factor authentication.
    pub mfa: bool,
    /// When the IdP's assertion or token stops being valid (how long a SAML assertion stays in
    /// the replay cache; an OIDC ID token's `exp`). Not a session lifetime by itself.
    pub expires_at: Option<DateTime<Utc>>,
    /// The end the IdP sets to the session it starts (SAML `SessionNotOnOrAfter`): a Portico
    /// session never outlives it.
    pub session_not_on_or_after: Option<DateTime<Utc>>,
    /// Raw claims / attributes, for attribute mapping and debugging (no secrets).
    pub raw: serde_json::Value,
    /// A one-time assertion id (SAML) the server must record in its replay cache until
    /// `expires_at`; a second use is refused.
    pub assertion_id: Option<String>,
}

/// One step of a connection test.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Check {
    /// Step name (`discovery`, `issuer`, `jwks`, `bind`, …).
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What happened.
    pub message: String,
    /// A passed step that still asks for the operator's attention (with the fix in `message`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub warning: bool,
}

/// The outcome of testing a connection.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct CheckReport {
    /// The steps, in order; the first failing step ends the test.
    pub checks: Vec<Check>,
    /// What the test learnt from the IdP (`issuer`, `authorizationEndpoint`, `idpSsoUrl`, …),
    /// keyed by the SDK's field names.
    #[serde(skip)]
    pub facts: std::collections::BTreeMap<String, serde_json::Value>,
}

impl CheckReport {
    /// True when every step passed (and there was at least one).
    pub fn success(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }

    /// Records a step.
    pub fn push(&mut self, name: &str, ok: bool, message: impl Into<String>) {
        self.checks.push(Check {
            name: name.to_owned(),
            ok,
            message: message.into(),
            warning: false,
        });
    }

    /// Records a passed step that warns (the message says what to do).
    pub fn warn(&mut self, name: &str, message: impl Into<String>) {
        self.checks.push(Check {
            name: name.to_owned(),
            ok: true,
            message: message.into(),
            warning: true,
        });
    }

    /// Records a fact learnt from the IdP.
    pub fn fact(&mut self, key: &str, value: impl Into<serde_json::Value>) {
        self.facts.insert(key.to_owned(), value.into());
    }

    /// The first failing step, if any.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| !c.ok)
    }
}

/// Why a login or test failed. `code()` is stable and safe to show; `Display` is the precise
/// reason for the audit log (never containing secrets).
#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    /// The connection's configuration is unusable.
    #[error("connection misconfigured: {0}")]
    Config(String),
    /// The IdP could not be reached or answered garbage (timeouts, DNS, refused targets).
    #[error("identity provider unreachable: {0}")]
    Unavailable(String),
    /// The IdP answered something unusable: too large, not JSON, not the document asked for.
    /// Deterministic (the same request gets the same answer), so never a retried 5xx.
    #[error("identity provider answer invalid: {0}")]
    ResponseInvalid(String),
    /// Discovery or metadata was invalid (including issuer mismatch).
    #[error("identity provider metadata invalid: {0}")]
    Metadata(String),
    /// The IdP returned an error to the authorization request (e.g. `access_denied`).
    #[error("identity provider returned error {error}: {description}")]
    Denied {
        /// The protocol error code.
        error: String,
        /// The provider's description.
        description: String,
    },
    /// The code or grant was refused at the token endpoint (`invalid_grant`, bad client secret).
    #[error("token exchange refused: {0}")]
    TokenExchange(String),
    /// The token or assertion failed validation (signature, audience, issuer, nonce, time…).
    #[error("invalid token or assertion: {0}")]
    InvalidAssertion(String),
    /// The assertion was already used.
    #[error("assertion replayed: {0}")]
    Replay(String),
    /// Wrong username or password, unknown user, ambiguous match (LDAP).
    #[error("invalid credentials: {0}")]
    InvalidCredentials(String),
    /// The operation is not supported by this protocol or connection.
    #[error("not supported: {0}")]
    Unsupported(String),
}

impl IdpError {
    /// Stable machine code for callers and redirects.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => "SSO_MISCONFIGURED",
            Self::Unavailable(_) => "IDP_UNAVAILABLE",
            Self::ResponseInvalid(_) => "IDP_RESPONSE_INVALID",
            Self::Metadata(_) => "IDP_METADATA_INVALID",
            Self::Denied { .. } => "IDP_DENIED",
            Self::TokenExchange(_) => "TOKEN_EXCHANGE_FAILED",
            Self::InvalidAssertion(_) => "INVALID_ASSERTION",
            Self::Replay(_) => "ASSERTION_REPLAYED",
            Self::InvalidCredentials(_) => "SSO_AUTH_FAILED",
            Self::Unsupported(_) => "UNSUPPORTED",
        }
    }
}

/// A configured identity provider for one connection.
#[async_trait::async_trait]
pub trait IdentityProvider: Send + Sync {
    /// The protocol this provider speaks.
    fn protocol(&self) -> Protocol;

    /// Starts a login: a redirect to the IdP, or a request for credentials.
    async fn begin_login(&self, ctx: &LoginContext) -> Result<LoginStart, IdpError>;

    /// Completes a login from what came back; returns the verified identity.
    async fn complete_login(&self, ctx: &CompleteContext, input: LoginInput) -> Result<ExternalIdentity, IdpError>;

    /// Tests the connection (behind "test connection"); failures are steps, not errors.
    async fn check(&self) -> CheckReport;
}
