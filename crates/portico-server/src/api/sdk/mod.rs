//! The SDK-compatible family (`/v1/sso/…`, `/sso/…`), wire-compatible with the `grantex` 0.7.2
//! Python SDK: bare camelCase objects, `{message, code, requestId}` errors (rendered by
//! [`crate::respond`]). The organization is the calling key's pinned organization.

mod access;
mod connections;
mod legacy;
mod login;
mod sessions;

use super::Api;

pub use access::SdkAccess;

/// Registers the SDK routes.
pub fn routes(api: Api) -> Api {
    let api = connections::routes(api);
    let api = sessions::routes(api);
    let api = login::routes(api);
    legacy::routes(api)
}
