//! The OpenID Provider: discovery, JWKS, the token and revocation forms and answers, UserInfo.

use serde_json::json;

use super::*;
use crate::api::Shape;

/// OpenID Provider metadata (OpenID Connect Discovery 1.0 §3).
pub fn oidc_discovery() -> Shape {
    let f = || json!({ "const": false });
    Shape::named(
        "OpenIdConfiguration",
        all(json!({
            "issuer": s(), "authorization_endpoint": s(), "token_endpoint": s(), "userinfo_endpoint": s(),
            "jwks_uri": s(), "revocation_endpoint": s(), "end_session_endpoint": s(),
            "response_types_supported": strings(), "response_modes_supported": strings(),
            "grant_types_supported": strings(), "subject_types_supported": strings(),
            "id_token_signing_alg_values_supported": strings(), "code_challenge_methods_supported": strings(),
            "token_endpoint_auth_methods_supported": strings(),
            "revocation_endpoint_auth_methods_supported": strings(), "scopes_supported": strings(),
            "claims_supported": strings(), "prompt_values_supported": strings(),
            "authorization_response_iss_parameter_supported": { "const": true },
            "request_parameter_supported": f(), "request_uri_parameter_supported": f(),
        })),
    )
}

/// A JSON Web Key Set (RFC 7517 §5).
pub fn jwks() -> Shape {
    let key = some(json!({ "kty": s(), "kid": s(), "alg": s(), "use": s() }), &["kty"]);
    Shape::named("Jwks", all(json!({ "keys": { "type": "array", "items": key } })))
}

/// The token endpoint's form (RFC 6749 §4.1.3, §6; client credentials in the body or Basic).
pub fn token_form() -> Shape {
    Shape::named(
        "TokenRequest",
        some(
            json!({
                "grant_type": { "enum": ["authorization_code", "refresh_token"] }, "code": s(),
                "redirect_uri": s(), "code_verifier": s(), "refresh_token": s(), "client_id": s(),
                "client_secret": s(),
            }),
            &["grant_type"],
        ),
    )
}

/// The revocation endpoint's form (RFC 7009 §2.1).
pub fn revoke_form() -> Shape {
    Shape::named(
        "RevocationRequest",
        some(
            json!({ "token": s(), "token_type_hint": s(), "client_id": s(), "client_secret": s() }),
            &["token"],
        ),
    )
}

/// A successful token answer (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
pub fn token_set() -> Shape {
    Shape::named(
        "TokenResponse",
        some(
            json!({
                "access_token": s(), "token_type": { "const": "Bearer" }, "expires_in": int(), "scope": s(),
                "refresh_token": s(), "id_token": s(),
            }),
            &["access_token", "token_type", "expires_in"],
        ),
    )
}

/// UserInfo claims (OpenID Connect Core §5.3.2).
pub fn userinfo() -> Shape {
    Shape::named(
        "UserInfo",
        some(
            json!({ "sub": s(), "email": s(), "email_verified": b(), "name": s() }),
            &["sub"],
        ),
    )
}

/// The revocation endpoint's answer (`{}`).
pub fn empty_object() -> Shape {
    Shape::named(
        "EmptyObject",
        json!({ "type": "object", "maxProperties": 0, "additionalProperties": false }),
    )
}
