//! The grantex-compatible SDK API's answers.

use serde_json::json;

use super::*;
use crate::api::Shape;

/// The SDK's list of sessions (grantex `SsoSession`).
pub fn sdk_sessions() -> Shape {
    let session = all(json!({
        "id": s(), "connectionId": ns(), "connectionName": ns(), "principalId": s(), "email": s(),
        "name": ns(), "idpSubject": s(), "groups": strings(), "mappedScopes": strings(), "method": s(),
        "mfa": b(), "createdAt": dt(), "expiresAt": dt(),
    }));
    Shape::named(
        "SdkSessionList",
        all(json!({ "sessions": { "type": "array", "items": session } })),
    )
}

/// The SDK's enforcement answer.
pub fn sdk_enforce() -> Shape {
    Shape::named(
        "SdkEnforcement",
        all(json!({ "enforce": b(), "enforced": b(), "exemptRoles": strings(), "developerId": s() })),
    )
}

/// Where an SDK login starts.
pub fn sdk_login_url() -> Shape {
    Shape::named(
        "SdkLoginUrl",
        all(json!({ "authorizeUrl": ns(), "protocol": s(), "connectionId": s() })),
    )
}

/// A completed SDK login (grantex `SsoCallbackResult`).
pub fn sdk_signed_in() -> Shape {
    Shape::named(
        "SdkSignIn",
        all(json!({
            "sessionId": s(), "sessionToken": s(), "email": s(), "name": ns(), "sub": s(),
            "groups": strings(), "mappedScopes": strings(), "principalId": s(), "developerId": s(),
            "connectionId": s(), "provisioned": b(), "mfa": b(), "expiresAt": dt(),
        })),
    )
}

/// The legacy default OIDC configuration.
pub fn sdk_config() -> Shape {
    Shape::named(
        "SdkConfig",
        all(json!({
            "issuerUrl": ns(), "clientId": ns(), "redirectUri": ns(), "connectionId": s(),
            "createdAt": dt(), "updatedAt": dt(),
        })),
    )
}
