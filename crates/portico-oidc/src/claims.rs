//! From validated claims to Portico's [`ExternalIdentity`].

use chrono::{DateTime, Utc};
use openidconnect::core::{CoreIdTokenClaims, CoreUserInfoClaims};
use portico_core::idp::ExternalIdentity;
use serde_json::{Map, Value};

/// Whether an `amr` (RFC 8176 authentication method references) list proves multi-factor
/// authentication. True when:
/// - it contains `mfa` (what Entra ID, Okta, Auth0 and Ping send after a second factor); or
/// - it names methods of at least two different factor kinds:
///   - something you know: `pwd`, `pin`, `kba`;
///   - something you have: `otp`, `sms`, `tel`, `hwk`, `swk`, `sc`;
///   - something you are: `fpt`, `face`, `iris`, `retina`, `vbm`.
///
/// A single method, or several of one kind (`pwd` + `kba`, `otp` + `sms`), is one factor: a
/// passwordless SMS or OTP login is not MFA, and neither is a PIN alone. Unknown values count
/// for nothing.
pub fn amr_indicates_mfa<S: AsRef<str>>(amr: &[S]) -> bool {
    const KNOW: &[&str] = &["pwd", "pin", "kba"];
    const HAVE: &[&str] = &["otp", "sms", "tel", "hwk", "swk", "sc"];
    const ARE: &[&str] = &["fpt", "face", "iris", "retina", "vbm"];
    let has = |kind: &[&str]| amr.iter().any(|m| kind.contains(&m.as_ref()));
    amr.iter().any(|m| m.as_ref() == "mfa") || [has(KNOW), has(HAVE), has(ARE)].iter().filter(|b| **b).count() >= 2
}

/// Email, verification and name taken from one claims source.
#[derive(Default)]
pub(crate) struct Profile {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
}

/// The profile claims of any claim set with the standard accessors (ID token or userinfo; the
/// two openidconnect types share accessor names but no trait).
/// The default-locale value of a localized claim.
fn localized<T: std::ops::Deref<Target = String>>(claim: Option<&openidconnect::LocalizedClaim<T>>) -> Option<String> {
    claim.and_then(|n| n.get(None)).map(|n| n.to_string())
}

macro_rules! profile_of {
    ($claims:expr) => {{
        let c = $claims;
        let name = localized(c.name()).or_else(|| {
            join_names(
                localized(c.given_name()).as_deref(),
                localized(c.family_name()).as_deref(),
            )
        });
        Profile {
            email: c.email().map(|e| e.as_str().to_owned()),
            email_verified: c.email_verified(),
            name,
        }
    }};
}

impl Profile {
    pub(crate) fn from_id_token(claims: &CoreIdTokenClaims) -> Self {
        profile_of!(claims)
    }

    pub(crate) fn from_userinfo(claims: &CoreUserInfoClaims) -> Self {
        profile_of!(claims)
    }

    /// Fills what `self` lacks from `other`. `email` and `email_verified` travel together, so a
    /// verification flag never describes another source's address.
    pub(crate) fn fill_from(&mut self, other: Profile) {
        if self.email.is_none() {
            self.email = other.email;
            self.email_verified = other.email_verified;
        }
        if self.name.is_none() {
            self.name = other.name;
        }
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.email.is_some() && self.name.is_some()
    }
}

fn join_names(given: Option<&str>, family: Option<&str>) -> Option<String> {
    match (given, family) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        (Some(one), None) | (None, Some(one)) => Some(one.to_owned()),
        (None, None) => None,
    }
}

/// Group names from a `groups` claim (an array of strings, or one string).
fn groups(raw: &Map<String, Value>) -> Vec<String> {
    match raw.get("groups") {
        Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// Assembles the identity. `raw` holds the ID token claims, then any userinfo claims the ID
/// token did not have.
pub(crate) fn identity(
    issuer: &str,
    claims: &CoreIdTokenClaims,
    profile: Profile,
    raw: Map<String, Value>,
) -> ExternalIdentity {
    let amr: Vec<String> = claims
        .auth_method_refs()
        .map(|refs| refs.iter().map(|r| r.as_str().to_owned()).collect())
        .unwrap_or_default();
    let expires_at: DateTime<Utc> = claims.expiration();
    ExternalIdentity {
        issuer: issuer.to_owned(),
        subject: claims.subject().as_str().to_owned(),
        email: profile.email,
        email_verified: profile.email_verified,
        name: profile.name,
        groups: groups(&raw),
        mfa: amr_indicates_mfa(&amr),
        amr,
        expires_at: Some(expires_at),
        session_not_on_or_after: None,
        raw: Value::Object(raw),
        assertion_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mfa_needs_the_mfa_value_or_two_kinds_of_factor() {
        for amr in [
            &["mfa"][..],
            &["pwd", "mfa"],
            &["pwd", "otp"],
            &["pwd", "sms"],
            &["pwd", "hwk"],
            &["pin", "hwk"],
            &["face", "hwk"],
            &["fpt", "swk"],
            &["pwd", "fpt"],
            &["kba", "tel"],
            &["pin", "iris"],
        ] {
            assert!(amr_indicates_mfa(amr), "{amr:?} is multi-factor");
        }
        for amr in [
            &[][..],
            &["pwd"],
            &["otp"],
            &["sms"],
            &["hwk"],
            &["face"],
            &["pin"],
            &["pwd", "kba"],
            &["pwd", "pin"],
            &["otp", "sms"],
            &["face", "fpt"],
            &["pwd", "rba"],
            &["pwd", "geo"],
            &["MFA"],
            &["pwd", "wia"],
        ] {
            assert!(!amr_indicates_mfa(amr), "{amr:?} is one factor");
        }
    }

    #[test]
    fn email_and_its_verification_travel_together() {
        let mut p = Profile {
            email: None,
            email_verified: Some(true),
            name: Some("A".into()),
        };
        p.fill_from(Profile {
            email: Some("x@example.com".into()),
            email_verified: Some(false),
            name: Some("B".into()),
        });
        assert_eq!(p.email.as_deref(), Some("x@example.com"));
        assert_eq!(p.email_verified, Some(false));
        assert_eq!(p.name.as_deref(), Some("A"));

        let mut p = Profile {
            email: Some("a@example.com".into()),
            email_verified: None,
            name: None,
        };
        p.fill_from(Profile {
            email: Some("b@example.com".into()),
            email_verified: Some(true),
            name: Some("B".into()),
        });
        assert_eq!(p.email.as_deref(), Some("a@example.com"));
        assert_eq!(p.email_verified, None, "not the other address's flag");
        assert_eq!(p.name.as_deref(), Some("B"));
    }
}
