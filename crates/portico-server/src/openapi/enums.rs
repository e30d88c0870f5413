//! Schemas of the domain enums that live in `portico-core`, which does not depend on `utoipa`.
//! Each mirror carries the same serde spelling as its original, and a test below holds the two
//! to the same set of wire values.

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
}
