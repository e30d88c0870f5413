//! Orchestration shared by both API families: handlers stay thin and call these.

pub mod audit;
pub mod bootstrap;
pub mod idp;
pub mod keys;
pub mod login;
pub mod orgs;
pub mod password;
pub mod provision;
pub mod sessions;
pub mod sso_settings;
pub mod tokens;
