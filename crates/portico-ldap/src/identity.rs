//! The normalised identity of a directory entry. The subject is the entry's immutable identifier
//! (`entryUUID`, OpenLDAP/389/FreeIPA; `objectGUID`, Active Directory), else its DN: a DN or a
//! uid can be renamed or reused by another person, a UUID cannot.

use std::collections::BTreeSet;

use portico_core::idp::ExternalIdentity;
use serde_json::json;

use crate::entry::Entry;

/// `objectGUID` bytes in Active Directory's string form (the first three fields little-endian).
pub fn guid_string(b: &[u8]) -> Option<String> {
    let b: &[u8; 16] = b.try_into().ok()?;
    Some(format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    ))
}

/// The stable subject of `entry`.
pub fn subject(entry: &Entry) -> String {
    if let Some(uuid) = entry.first("entryUUID") {
        return uuid.to_ascii_lowercase();
    }
    if let Some(guid) = entry.raw("objectGUID").first().and_then(|v| guid_string(v)) {
        return guid;
    }
    entry.dn.clone()
}

/// The identity for `entry` with `groups`, asserted by the directory at `issuer`.
pub(crate) fn build(issuer: &str, entry: &Entry, groups: BTreeSet<String>) -> ExternalIdentity {
    let name = entry.first("displayName").or_else(|| entry.first("cn"));
    let uid = entry.first("uid").or_else(|| entry.first("sAMAccountName"));
    let email = entry.first("mail");
    let groups: Vec<String> = groups.into_iter().collect();
    ExternalIdentity {
        issuer: issuer.to_owned(),
        subject: subject(entry),
        email: email.clone(),
        // A directory's mail attribute is administered, not verified by anyone: say nothing.
        email_verified: None,
        name: name.clone(),
        groups: groups.clone(),
        amr: vec!["pwd".into()],
        mfa: false,
        expires_at: None,
        session_not_on_or_after: None,
        raw: json!({ "dn": entry.dn, "uid": uid, "mail": email, "name": name, "groups": groups }),
        assertion_id: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn subjects_prefer_immutable_ids() {
        let uuid = Entry::new("uid=a,dc=x", vec![("entryUUID".into(), vec![b"8D61-AB".to_vec()])]);
        assert_eq!(subject(&uuid), "8d61-ab");
        let guid = Entry::new("CN=A,DC=x", vec![("objectGUID".into(), vec![(0u8..16).collect()])]);
        assert_eq!(subject(&guid), "03020100-0504-0706-0809-0a0b0c0d0e0f");
        let dn = Entry::new("uid=a,dc=x", vec![]);
        assert_eq!(subject(&dn), "uid=a,dc=x");
        assert_eq!(guid_string(&[1, 2]), None);
    }

    #[test]
    fn builds_the_identity() {
        let e = Entry::new(
            "uid=a,dc=x",
            vec![
                ("mail".into(), vec![b"a@x.com".to_vec()]),
                ("cn".into(), vec![b"A Person".to_vec()]),
                ("uid".into(), vec![b"a".to_vec()]),
            ],
        );
        let id = build(
            "ldaps://dir:636",
            &e,
            ["b".to_owned(), "a".to_owned()].into_iter().collect(),
        );
        assert_eq!(id.email.as_deref(), Some("a@x.com"));
        assert_eq!(id.name.as_deref(), Some("A Person"));
        assert_eq!(id.groups, vec!["a", "b"]);
        assert_eq!(id.email_verified, None);
        assert_eq!(id.raw["uid"], "a");
        assert!(!id.raw.to_string().contains("password"));
    }
}
