//! The Organization API's hand-written answers: acknowledgements, the caller (`/api/user/me`),
//! sign-in, tokens, domains, the audit trail, TOTP and the security policy.

use serde_json::json;

use super::*;
use crate::api::Shape;

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
    let mut c = Vec::new();
    let view = object::<crate::api::org::views::TokenView>(&mut c);
    c.push(("CreatedToken".to_owned(), merge(&[view, all(json!({ "token": s() }))])));
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
