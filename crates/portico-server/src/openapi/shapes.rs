//! Hand-written schemas of the answers that handlers assemble as JSON values (`json!`) rather
//! than from a typed view. Written by hand because there is no Rust type to derive them from;
//! each is held to what is really served by the integration tests, which validate every answer
//! they receive against the document (`tests/integration/support/contract.rs`).

use serde_json::{json, Value};

use crate::api::Shape;

fn s() -> Value {
    json!({ "type": "string" })
}
fn ns() -> Value {
    json!({ "type": ["string", "null"] })
}
fn dt() -> Value {
    json!({ "type": "string", "format": "date-time" })
}
fn ndt() -> Value {
    json!({ "type": ["string", "null"], "format": "date-time" })
}
fn b() -> Value {
    json!({ "type": "boolean" })
}
fn int() -> Value {
    json!({ "type": "integer" })
}
fn strings() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

/// An object with these properties, all of them required.
fn all(props: Value) -> Value {
    let required: Vec<String> = props
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    json!({ "type": "object", "required": required, "properties": props })
}

/// An object with these properties, of which `required` are always present.
fn some(props: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "required": required, "properties": props })
}

/// `{ "status": "ok" }` and the like (health, readiness).
pub fn status() -> Shape {
    Shape::named("Status", some(json!({ "status": s(), "database": s() }), &["status"]))
}

/// `{ id, deleted: true }` (and the other "done" acknowledgements carry an id and a flag).
pub fn deleted() -> Shape {
    Shape::named(
        "Deleted",
        some(
            json!({ "id": s(), "domain": s(), "deleted": { "const": true } }),
            &["deleted"],
        ),
    )
}

/// A session revoked through the Organization API.
pub fn revoked() -> Shape {
    Shape::named("Revoked", all(json!({ "id": s(), "revoked": { "const": true } })))
}

/// A member's role changed.
pub fn role_changed() -> Shape {
    Shape::named("RoleChanged", all(json!({ "userId": s(), "role": s() })))
}

/// A member removed.
pub fn member_removed() -> Shape {
    Shape::named(
        "MemberRemoved",
        all(json!({ "userId": s(), "removed": { "const": true } })),
    )
}

/// `GET /api/user/me`.
pub fn me() -> Shape {
    let user = all(json!({ "id": s(), "email": s(), "name": ns(), "status": s(), "createdAt": dt() }));
    let minted = all(json!({ "method": ns(), "organizationId": ns(), "mfa": b() }));
    let authentication = some(
        json!({
            "type": { "enum": ["api_key", "session"] }, "method": s(), "tokenId": s(), "sessionId": s(),
            "organizationId": ns(), "connectionId": ns(), "mfa": b(), "expiresAt": dt(), "mintedBy": minted,
        }),
        &["type", "method", "mfa", "organizationId"],
    );
    let mut c = Vec::new();
    let org = Shape::of::<crate::api::org::views::OrgView>();
    c.extend(org.components);
    let schema = all(json!({
        "user": user,
        "memberships": { "type": "array", "items": org.schema },
        "authentication": authentication,
    }));
    c.push(("Me".to_owned(), schema));
    Shape {
        schema: json!({ "$ref": "#/components/schemas/Me" }),
        components: c,
    }
}

/// A freshly created token: its view plus the secret, shown once.
pub fn created_token() -> Shape {
    let view = Shape::of::<crate::api::org::views::TokenView>();
    let mut c = view.components;
    c.push((
        "CreatedToken".to_owned(),
        json!({ "allOf": [view.schema, all(json!({ "token": s() }))] }),
    ));
    Shape {
        schema: json!({ "$ref": "#/components/schemas/CreatedToken" }),
        components: c,
    }
}

/// Password sign-in.
pub fn signed_in() -> Shape {
    let session = all(json!({ "id": s(), "method": s(), "mfa": b(), "expiresAt": dt() }));
    Shape::named(
        "SignedIn",
        all(json!({ "userId": s(), "session": session, "token": s() })),
    )
}

/// Directory-password (LDAP) sign-in.
pub fn ldap_signed_in() -> Shape {
    let session = all(json!({ "id": s(), "method": s(), "mfa": b(), "expiresAt": dt() }));
    Shape::named(
        "LdapSignedIn",
        all(json!({ "userId": s(), "session": session, "token": s(), "provisioned": b() })),
    )
}

/// Sign-out.
pub fn signed_out() -> Shape {
    Shape::named("SignedOut", all(json!({ "signedOut": { "const": true } })))
}

/// How an email signs in.
pub fn discovered() -> Shape {
    Shape::named(
        "SignInMethod",
        some(
            json!({ "method": { "enum": ["sso", "password"] }, "protocol": s(), "loginUrl": s() }),
            &["method"],
        ),
    )
}

/// The organization's security policy.
pub fn security_policy() -> Shape {
    Shape::named(
        "SecurityPolicy",
        all(json!({ "authRequired": s(), "requireMfa": b(), "exemptRoles": strings() })),
    )
}

/// One result of a connection or settings test.
fn checks() -> Value {
    json!({ "type": "array", "items": some(json!({ "name": s(), "ok": b(), "message": s(), "warning": b() }), &["name", "ok", "message"]) })
}

/// The default OIDC settings' test.
pub fn settings_test() -> Shape {
    Shape::named(
        "SettingsTest",
        all(json!({ "success": b(), "message": s(), "checks": checks() })),
    )
}

/// A connection test (both families).
pub fn connection_test() -> Shape {
    Shape::named(
        "ConnectionTest",
        some(
            json!({ "success": b(), "protocol": s(), "checks": checks(), "issuer": s(),
                    "idpEntityId": s(), "idpSsoUrl": s(), "error": s() }),
            &["success", "protocol", "checks"],
        ),
    )
}

/// An SSO connection (both families; never a secret, only whether one is set).
pub fn connection() -> Shape {
    let object = json!({ "type": "object" });
    Shape::named(
        "Connection",
        some(
            json!({
                "id": s(), "developerId": s(), "name": s(), "protocol": { "enum": ["oidc", "saml", "ldap"] },
                "status": s(), "domains": strings(), "jitProvisioning": b(), "enforce": b(),
                "groupAttribute": ns(), "groupMappings": object, "defaultScopes": strings(),
                "defaultRole": ns(), "attributeMapping": object, "redirectUris": strings(),
                "isDefault": b(), "lastTestAt": ndt(), "lastTestSuccess": { "type": ["boolean", "null"] },
                "createdAt": dt(), "updatedAt": dt(), "clientSecretSet": b(), "ldapBindPasswordSet": b(),
                "issuerUrl": s(), "clientId": s(), "idpEntityId": s(), "idpSsoUrl": s(),
                "idpCertificate": s(), "idpCertificates": strings(), "spEntityId": s(), "spAcsUrl": s(),
            }),
            &[
                "id",
                "developerId",
                "name",
                "protocol",
                "status",
                "domains",
                "createdAt",
                "updatedAt",
            ],
        ),
    )
}

/// The create body: the update body ([`crate::services::connections::ConnectionInput`]) with
/// `name` and `protocol` required.
pub fn connection_create() -> Shape {
    let input = Shape::of::<crate::services::connections::ConnectionInput>();
    let mut c = input.components;
    c.push((
        "ConnectionCreate".to_owned(),
        json!({ "allOf": [input.schema, { "required": ["name", "protocol"] }] }),
    ));
    Shape {
        schema: json!({ "$ref": "#/components/schemas/ConnectionCreate" }),
        components: c,
    }
}

/// The SDK's list of connections.
pub fn connection_list() -> Shape {
    let c = connection();
    let mut comps = c.components;
    comps.push((
        "ConnectionList".to_owned(),
        all(json!({ "connections": { "type": "array", "items": c.schema } })),
    ));
    Shape {
        schema: json!({ "$ref": "#/components/schemas/ConnectionList" }),
        components: comps,
    }
}

/// A domain with its verification record and auto-join settings.
pub fn domain() -> Shape {
    Shape::named(
        "Domain",
        some(
            json!({
                "id": s(), "organizationId": s(), "domain": s(), "status": s(),
                "verification": all(json!({ "type": { "const": "TXT" }, "name": s(), "value": s() })),
                "verifiedAt": ndt(), "lastCheckedAt": ndt(), "lastError": ns(),
                "autoJoin": all(json!({ "enabled": b(), "requireApproval": b(), "role": s() })),
                "createdAt": dt(), "updatedAt": dt(), "result": s(),
            }),
            &[
                "id",
                "organizationId",
                "domain",
                "status",
                "verification",
                "autoJoin",
                "createdAt",
            ],
        ),
    )
}

/// A SCIM directory (with its token only when just minted).
pub fn directory() -> Shape {
    Shape::named(
        "Directory",
        some(
            json!({
                "id": s(), "organizationId": s(), "name": s(), "provider": s(), "status": s(),
                "groupRoleMappings": { "type": "object" }, "scimBaseUrl": s(), "tokenPrefix": s(),
                "tokenRotatedAt": ndt(), "createdAt": dt(), "updatedAt": dt(), "token": s(),
            }),
            &[
                "id",
                "organizationId",
                "name",
                "provider",
                "status",
                "scimBaseUrl",
                "createdAt",
            ],
        ),
    )
}

/// A user a directory synced.
pub fn directory_user() -> Shape {
    Shape::named(
        "DirectoryUser",
        all(json!({
            "id": s(), "userName": s(), "externalId": ns(), "email": ns(), "displayName": ns(),
            "active": b(), "userId": ns(), "createdAt": dt(), "updatedAt": dt(),
        })),
    )
}

/// A group a directory synced, with its mapped role.
pub fn directory_group() -> Shape {
    Shape::named(
        "DirectoryGroup",
        all(json!({
            "id": s(), "displayName": s(), "externalId": ns(), "memberCount": int(),
            "mappedRole": ns(), "createdAt": dt(), "updatedAt": dt(),
        })),
    )
}

/// An audit event (`portico_store::audit::AuditEvent` as served).
pub fn audit_event() -> Shape {
    Shape::named(
        "AuditEvent",
        some(
            json!({
                "id": s(), "organizationId": ns(), "actorUserId": ns(), "actorKind": s(), "action": s(),
                "outcome": { "enum": ["success", "failure"] }, "reason": ns(), "targetId": ns(),
                "connectionId": ns(), "ip": ns(), "requestId": ns(), "details": {}, "createdAt": dt(),
            }),
            &["id", "actorKind", "action", "outcome", "createdAt"],
        ),
    )
}

/// TOTP state of the caller.
pub fn totp_status() -> Shape {
    Shape::named(
        "TotpStatus",
        all(json!({ "enabled": b(), "pending": b(), "enabledAt": ndt(), "recoveryCodesLeft": int() })),
    )
}

/// A TOTP enrolment (the secret, shown once).
pub fn totp_enrolment() -> Shape {
    Shape::named(
        "TotpEnrolment",
        all(json!({ "secret": s(), "otpauthUri": s(), "algorithm": s(), "digits": int(), "period": int() })),
    )
}

/// TOTP confirmed or disabled, and recovery codes (shown once).
pub fn totp_change() -> Shape {
    Shape::named(
        "TotpChange",
        some(json!({ "enabled": b(), "recoveryCodes": strings() }), &[]),
    )
}

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

/// SCIM's `meta` (RFC 7643 §3.1).
fn scim_meta() -> Value {
    some(
        json!({ "resourceType": s(), "created": dt(), "lastModified": dt(), "location": s(), "version": s() }),
        &[],
    )
}

/// A SCIM resource as served: `id` and `schemas` always (RFC 7643 §7 "returned: always"), the
/// rest as `attributes`/`excludedAttributes` project it.
fn scim_resource(kind: &str) -> Shape {
    let own = match kind {
        "ScimUser" => json!({
            "userName": s(), "externalId": s(), "active": b(), "displayName": s(),
            "name": { "type": "object" }, "emails": { "type": "array", "items": { "type": "object" } },
        }),
        _ => json!({
            "displayName": s(), "externalId": s(),
            "members": { "type": "array", "items": some(json!({ "value": s(), "$ref": s(), "type": s() }), &["value"]) },
        }),
    };
    let mut props = json!({ "schemas": strings(), "id": s(), "meta": scim_meta() });
    if let (Some(p), Some(o)) = (props.as_object_mut(), own.as_object()) {
        p.extend(o.clone());
    }
    Shape::named(kind, some(props, &["schemas", "id"]))
}

/// A SCIM user (core schema plus the enterprise extension).
pub fn scim_user() -> Shape {
    scim_resource("ScimUser")
}

/// A SCIM group.
pub fn scim_group() -> Shape {
    scim_resource("ScimGroup")
}

/// A SCIM list answer (RFC 7644 §3.4.2).
pub fn scim_list() -> Shape {
    Shape::named(
        "ScimListResponse",
        some(
            json!({
                "schemas": strings(), "totalResults": int(), "startIndex": int(), "itemsPerPage": int(),
                "Resources": { "type": "array", "items": { "type": "object" } },
            }),
            &["schemas", "totalResults"],
        ),
    )
}

/// Any SCIM discovery document (ServiceProviderConfig, a ResourceType, a Schema).
pub fn scim_document() -> Shape {
    Shape::named("ScimDocument", some(json!({ "schemas": strings() }), &["schemas"]))
}

/// A SCIM resource body (create, replace): RFC 7643 attributes; the server checks them.
pub fn scim_resource_body() -> Shape {
    Shape::named(
        "ScimResourceBody",
        some(
            json!({ "schemas": strings(), "userName": s(), "displayName": s(), "externalId": s(), "active": b() }),
            &["schemas"],
        ),
    )
}

/// A SCIM PATCH body (RFC 7644 §3.5.2).
pub fn scim_patch_body() -> Shape {
    let op = some(json!({ "op": { "type": "string" }, "path": s(), "value": {} }), &["op"]);
    Shape::named(
        "ScimPatchOp",
        some(
            json!({ "schemas": strings(), "Operations": { "type": "array", "items": op } }),
            &["schemas", "Operations"],
        ),
    )
}

/// A SCIM search body (RFC 7644 §3.4.3).
pub fn scim_search_body() -> Shape {
    Shape::named(
        "ScimSearchRequest",
        some(
            json!({
                "schemas": strings(), "filter": s(), "attributes": strings(), "excludedAttributes": strings(),
                "startIndex": int(), "count": int(), "sortBy": s(), "sortOrder": s(),
            }),
            &["schemas"],
        ),
    )
}

/// OpenID Provider metadata (OpenID Connect Discovery 1.0 §3).
pub fn oidc_discovery() -> Shape {
    Shape::named(
        "OpenIdConfiguration",
        some(
            json!({
                "issuer": s(), "authorization_endpoint": s(), "token_endpoint": s(), "userinfo_endpoint": s(),
                "jwks_uri": s(), "revocation_endpoint": s(), "end_session_endpoint": s(),
                "response_types_supported": strings(), "scopes_supported": strings(),
                "id_token_signing_alg_values_supported": strings(), "code_challenge_methods_supported": strings(),
            }),
            &[
                "issuer",
                "authorization_endpoint",
                "token_endpoint",
                "jwks_uri",
                "response_types_supported",
            ],
        ),
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
    Shape::named("EmptyObject", json!({ "type": "object", "maxProperties": 0 }))
}
