//! Portico's domain core: identifiers, roles, the [`idp::IdentityProvider`] trait that every
//! protocol adapter implements, the secret box that seals stored secrets, and the token,
//! password and TOTP primitives. No HTTP, no database.
#![forbid(unsafe_code)]

pub mod account;
pub mod connection;
pub mod domain;
pub mod idp;
pub mod ids;
pub mod org;
pub mod password;
pub mod provider;
pub mod role;
pub mod secretbox;
pub mod slug;
pub mod token;
pub mod totp;
pub mod vocab;

pub use secrecy::{ExposeSecret, SecretString};
