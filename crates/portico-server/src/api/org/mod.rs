//! The Organization API (seed 004), in the envelope.

mod audit;
mod auth;
mod connections;
mod members;
mod me;
mod orgs;
mod saml;
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
    let api = saml::routes(api);
    audit::routes(api)
}
