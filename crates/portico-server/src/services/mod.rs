//! Orchestration shared by both API families: handlers stay thin and call these.

pub mod audit;
pub mod connections;
pub mod dns;
pub mod domains;
pub mod orgs;
pub mod password;
pub mod provider;
pub mod saml_setup;
pub mod scim;
pub mod security_settings;
pub mod sessions;
pub mod signin;
pub mod sso_settings;
pub mod tokens;
pub mod totp;
