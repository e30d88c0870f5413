//! SAML browser endpoints: SP metadata and the POST-binding ACS (filled in by the SAML issue).

use crate::api::Api;

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api
}
