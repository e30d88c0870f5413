//! The SDK-compatible family (`/v1/sso/…`, `/sso/…`): bare objects, `{message, code, requestId}` errors.

use super::Api;

/// Registers the SDK routes.
pub fn routes(api: Api) -> Api {
    api
}
