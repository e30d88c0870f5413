//! Identifiers: ULIDs, bare (organizations, domains) or with a type prefix (`usr_`, `sso_`, …).

use ulid::Ulid;

/// Prefix of user ids.
pub const USER: &str = "usr_";
/// Prefix of SSO connection ids (as the `grantex` SDK expects).
pub const CONNECTION: &str = "sso_";
/// Prefix of sessions created by SSO sign-in (as the `grantex` SDK expects).
pub const SSO_SESSION: &str = "ssosess_";
/// Prefix of sessions created by password sign-in.
pub const SESSION: &str = "ses_";
/// Prefix of API keys / personal access tokens (the row id, not the secret).
pub const TOKEN: &str = "tok_";
/// Prefix of audit events.
pub const AUDIT_EVENT: &str = "evt_";
/// Prefix of login transactions.
pub const LOGIN: &str = "lgn_";
/// Prefix of external identities.
pub const IDENTITY: &str = "idn_";

/// A new bare ULID string (organizations, domains).
pub fn bare() -> String {
    Ulid::new().to_string()
}

/// A new ULID with the given type prefix.
pub fn prefixed(prefix: &str) -> String {
    format!("{prefix}{}", Ulid::new())
}

/// True when `s` is a canonical 26-character Crockford ULID.
pub fn is_ulid(s: &str) -> bool {
    s.len() == 26 && Ulid::from_string(s).is_ok() && s.chars().all(|c| !c.is_ascii_lowercase())
}

/// True when `s` is `prefix` followed by a canonical ULID.
pub fn is_prefixed(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(is_ulid)
}

/// The smallest id with `prefix` whose ULID was made at `unix_ms` (milliseconds since the epoch):
/// ids made earlier sort below it, ids made at or after it sort at or above it (a ULID's first 48
/// bits are its time, and Crockford's alphabet is in ascending order), so "made before t" is a
/// range of an id index.
pub fn floor_at(prefix: &str, unix_ms: u64) -> String {
    format!("{prefix}{}", Ulid::from_parts(unix_ms, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(is_ulid(&bare()));
        assert!(is_prefixed(&prefixed(USER), USER));
        assert!(!is_prefixed("usr_nope", USER));
        assert!(!is_ulid("01hz3k5r4x9y2v6qf8tj7w0cdn"));
    }

    #[test]
    fn floor_orders_by_time() {
        let now = Ulid::new();
        let t = now.timestamp_ms();
        assert!(floor_at(AUDIT_EVENT, t) <= format!("{AUDIT_EVENT}{now}"));
        assert!(floor_at(AUDIT_EVENT, t + 1) > format!("{AUDIT_EVENT}{now}"));
        assert!(floor_at(AUDIT_EVENT, t - 1) < floor_at(AUDIT_EVENT, t));
    }
}
