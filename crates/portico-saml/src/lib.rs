//! SAML 2.0 service provider adapter: IdP metadata by URL or XML, SP metadata, SP-initiated login
//! by the HTTP-Redirect binding (AuthnRequests written with `quick-xml`), optional IdP-initiated
//! login, and hardened response validation (see [`response`] for the order of the checks).
//! Response signatures are verified by [`c14n`] + `dsig` over the validator's own tree with
//! OpenSSL; the tests check them against `samael`'s xmlsec verification as a reference.
//!
//! Modules by step: [`config`] (settings, certificates), [`metadata`] (IdP metadata in, SP
//! metadata out), [`runtime`] (metadata fetching and cache), [`request`] (AuthnRequest),
//! [`xml`] (safe intake), [`signature`] (document shape and
//! signature placement), [`c14n`] and `dsig` (XML signature verification), [`response`] (validation), [`attributes`] (identity), [`credentials`]
//! (SP key generation), [`provider`] (the `IdentityProvider`).
#![forbid(unsafe_code)]

pub mod attributes;
pub mod c14n;
pub mod config;
pub mod credentials;
mod decrypt;
mod dsig;
pub mod metadata;
pub mod provider;
pub mod request;
pub mod response;
pub mod runtime;
pub mod signature;
pub mod xml;

pub use config::{AttributeMapping, IdpSource, SamlConfig, SignaturePolicy};
pub use credentials::generate_sp_credentials;
pub use metadata::{parse_idp_metadata, sp_metadata_xml, IdpMetadata};
pub use provider::SamlProvider;
pub use response::{Expected, ValidatedAssertion};
pub use runtime::SamlRuntime;

/// A connection test warns when the nearest IdP certificate expires within this many days.
pub const CERT_EXPIRY_WARNING_DAYS: i64 = 30;
