//! The Organization API (seed 004), in the envelope.

mod audit;
mod auth;
mod connections;
mod directories;
mod discover;
mod domains;
mod me;
mod members;
mod mfa;
mod orgs;
mod saml;
mod security;
mod sessions;
mod sso;
mod tokens;
pub mod views;

use super::Api;

/// Registers the Organization API routes.
pub fn routes(api: Api) -> Api {
    let api = auth::routes(api);
    let api = me::routes(api);
    let api = orgs::routes(api);
    let api = members::routes(api);
    let api = sessions::routes(api);
    let api = tokens::routes(api);
    let api = sso::routes(api);
    let api = connections::routes(api);
    let api = domains::routes(api);
    let api = directories::routes(api);
    let api = security::routes(api);
    let api = mfa::routes(api);
    let api = discover::routes(api);
    let api = saml::routes(api);
    audit::routes(api)
}
