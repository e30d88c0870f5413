//! Schemas of the domain types that live in `portico-core`, which does not depend on `utoipa`.
//! Each mirror carries the same serde spelling as its original, and a test below holds the two
//! to the same wire values (enums) or the same keys (structs).

/// A connection's status on the wire (mirrors [`portico_core::connection::ConnectionStatus`]).
#[derive(utoipa::ToSchema)]
#[schema(as = ConnectionStatus)]
#[allow(dead_code)]
pub enum ConnectionStatusSchema {
    /// Routes logins.
    #[schema(rename = "active")]
    Active,
    /// Kept, but routes nothing.
    #[schema(rename = "inactive")]
    Inactive,
    /// Being set up: routes nothing by domain or default, and refuses logins.
    #[schema(rename = "testing")]
    Testing,
}

/// A connection's protocol on the wire (mirrors [`portico_core::connection::Protocol`]).
#[derive(utoipa::ToSchema)]
#[schema(as = Protocol)]
#[allow(dead_code)]
pub enum ProtocolSchema {
    /// OpenID Connect.
    #[schema(rename = "oidc")]
    Oidc,
    /// SAML 2.0.
    #[schema(rename = "saml")]
    Saml,
    /// LDAP bind.
    #[schema(rename = "ldap")]
    Ldap,
}

/// One step of a connection test (mirrors [`portico_core::idp::Check`]).
#[derive(utoipa::ToSchema)]
#[schema(as = Check)]
#[allow(dead_code)]
pub struct CheckSchema {
    /// Step name (`discovery`, `issuer`, `jwks`, `bind`, …).
    name: String,
    /// Whether it passed.
    ok: bool,
    /// What happened.
    message: String,
    /// Present (and true) on a passed step that still asks for the operator's attention.
    warning: Option<bool>,
}

/// How the session that minted a token signed in (the token view's `mintedBy`).
#[derive(utoipa::ToSchema)]
#[schema(as = MintedBy)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct MintedBySchema {
    /// The sign-in method (`password`, `sso`, …), null for tokens minted before it was kept.
    #[schema(required = true)]
    method: Option<String>,
    /// The organization whose connection signed the session in.
    #[schema(required = true)]
    organization_id: Option<String>,
    /// Whether the session had passed a second factor.
    mfa: bool,
}

#[cfg(test)]
mod tests {
    use portico_core::connection::{ConnectionStatus, Protocol};
    use utoipa::PartialSchema;

    /// The mirror's values are exactly the ones the original parses and prints.
    #[test]
    fn connection_status_mirror_matches() {
        let schema = serde_json::to_value(super::ConnectionStatusSchema::schema()).unwrap();
        let values: Vec<String> = schema["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(values, ["active", "inactive", "testing"]);
        for v in &values {
            assert_eq!(ConnectionStatus::parse(v).map(|s| s.as_str()), Some(v.as_str()));
        }
    }

    /// The protocol mirror's values are exactly the ones the original parses and prints.
    #[test]
    fn protocol_mirror_matches() {
        let schema = serde_json::to_value(super::ProtocolSchema::schema()).unwrap();
        let values: Vec<&str> = schema["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(values, ["oidc", "saml", "ldap"]);
        for v in values {
            assert_eq!(Protocol::parse(v).map(|p| p.as_str()), Some(v));
        }
    }

    /// The check mirror has exactly the keys the original serializes (`warning` only when set).
    #[test]
    fn check_mirror_matches() {
        let schema = serde_json::to_value(super::CheckSchema::schema()).unwrap();
        let mut props: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        props.sort();
        let full = portico_core::idp::Check {
            name: "bind".into(),
            ok: true,
            message: "m".into(),
            warning: true,
        };
        let full = serde_json::to_value(&full).unwrap();
        let mut keys: Vec<&String> = full.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(props, keys);
        let plain = serde_json::to_value(portico_core::idp::Check {
            name: "bind".into(),
            ok: true,
            message: "m".into(),
            warning: false,
        })
        .unwrap();
        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        required.sort();
        let mut present: Vec<&str> = plain.as_object().unwrap().keys().map(String::as_str).collect();
        present.sort();
        assert_eq!(required, present, "required = what an unwarned step always has");
    }
}
