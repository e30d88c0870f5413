//! Organization roles: `owner`, `admin`, `member`, or a custom member-level role string.

use std::fmt;

/// A member's role in one organization.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Full control, including SSO, security and domain settings.
    Owner,
    /// Manages members, sessions and join requests.
    Admin,
    /// Ordinary member.
    Member,
    /// A custom role named by a connection's `defaultRole`; treated as member-level.
    Custom(String),
}

/// Why a role string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("role must be 1-64 characters of a-z, 0-9, '_', ':' or '-', starting with a letter")]
pub struct InvalidRole;

impl Role {
    /// Parses a role string; custom roles must be short lower-case identifiers.
    pub fn parse(s: &str) -> Result<Self, InvalidRole> {
        match s {
            "owner" => Ok(Self::Owner),
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            other => {
                let ok = !other.is_empty()
                    && other.len() <= 64
                    && other.starts_with(|c: char| c.is_ascii_lowercase())
                    && other
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_:-".contains(c));
                if ok {
                    Ok(Self::Custom(other.to_owned()))
                } else {
                    Err(InvalidRole)
                }
            }
        }
    }

    /// The wire and database spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Custom(s) => s,
        }
    }

    /// Privilege rank: owner 3, admin 2, member and custom roles 1.
    pub fn rank(&self) -> u8 {
        match self {
            Self::Owner => 3,
            Self::Admin => 2,
            Self::Member | Self::Custom(_) => 1,
        }
    }

    /// True when this role is at least as privileged as `other`.
    pub fn at_least(&self, other: &Role) -> bool {
        self.rank() >= other.rank()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_rank() {
        assert_eq!(Role::parse("owner"), Ok(Role::Owner));
        assert_eq!(Role::parse("viewer"), Ok(Role::Custom("viewer".into())));
        assert!(Role::parse("Viewer").is_err());
        assert!(Role::parse("").is_err());
        assert!(Role::parse(&"a".repeat(65)).is_err());
        assert!(Role::Admin.at_least(&Role::Member));
        assert!(!Role::Custom("x".into()).at_least(&Role::Admin));
    }
}
