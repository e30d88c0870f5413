//! Search result entries, decoded without panicking: `ldap3::SearchEntry::construct` panics on a
//! malformed entry, and the directory's answers are input like any other.

use ldap3::asn1::{StructureTag, PL};
use ldap3::ResultEntry;

/// A directory entry: its DN and attribute values (raw octets), names compared case-insensitively.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// The entry's DN as the server wrote it.
    pub dn: String,
    attrs: Vec<(String, Vec<Vec<u8>>)>,
}

impl Entry {
    /// An entry from parts (tests and decoding).
    pub fn new(dn: impl Into<String>, attrs: Vec<(String, Vec<Vec<u8>>)>) -> Self {
        Self { dn: dn.into(), attrs }
    }

    /// Decodes a SearchResultEntry (`[APPLICATION 4] { objectName, attributes }`); `None` when it is
    /// anything else or malformed.
    pub fn decode(re: ResultEntry) -> Option<Self> {
        if re.is_ref() || re.is_intermediate() {
            return None;
        }
        decode_tag(re.0)
    }

    /// Raw values of `name` (case-insensitive; options such as `;binary` must match exactly).
    pub fn raw(&self, name: &str) -> &[Vec<u8>] {
        self.attrs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    /// UTF-8 values of `name`; values that are not UTF-8 are skipped.
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.raw(name)
            .iter()
            .filter_map(|v| std::str::from_utf8(v).ok().map(str::to_owned))
            .collect()
    }

    /// The first non-blank UTF-8 value of `name`, trimmed.
    pub fn first(&self, name: &str) -> Option<String> {
        self.raw(name)
            .iter()
            .filter_map(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
            .find(|v| !v.is_empty())
            .map(str::to_owned)
    }
}

fn primitive(t: StructureTag) -> Option<Vec<u8>> {
    match t.payload {
        PL::P(v) => Some(v),
        PL::C(_) => None,
    }
}

fn constructed(t: StructureTag) -> Option<Vec<StructureTag>> {
    match t.payload {
        PL::C(v) => Some(v),
        PL::P(_) => None,
    }
}

fn decode_tag(t: StructureTag) -> Option<Entry> {
    if t.id != 4 {
        return None;
    }
    let mut parts = constructed(t)?.into_iter();
    let dn = String::from_utf8(primitive(parts.next()?)?).ok()?;
    let mut attrs = Vec::new();
    for pa in constructed(parts.next()?)? {
        let mut pa = constructed(pa)?.into_iter();
        let name = String::from_utf8(primitive(pa.next()?)?).ok()?;
        let values = constructed(pa.next()?)?
            .into_iter()
            .map(primitive)
            .collect::<Option<Vec<_>>>()?;
        attrs.push((name, values));
    }
    Some(Entry { dn, attrs })
}

/// The value of the first RDN of `dn` (`cn=admins,ou=groups,…` → `admins`), unescaped for the
/// common cases; `None` when `dn` does not look like a DN.
pub fn first_rdn_value(dn: &str) -> Option<String> {
    let mut value = String::new();
    let mut seen_eq = false;
    let mut chars = dn.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if seen_eq => {
                if let Some(n) = chars.next() {
                    value.push(n);
                }
            }
            '=' if !seen_eq => seen_eq = true,
            ',' | '+' if seen_eq => break,
            _ if seen_eq => value.push(c),
            _ => {}
        }
    }
    let value = value.trim().to_owned();
    (seen_eq && !value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn first_rdn_values() {
        assert_eq!(
            first_rdn_value("cn=admins,ou=groups,dc=example,dc=com").as_deref(),
            Some("admins")
        );
        assert_eq!(
            first_rdn_value("CN=Domain Admins,CN=Users,DC=corp").as_deref(),
            Some("Domain Admins")
        );
        assert_eq!(first_rdn_value("cn=a\\,b,dc=x").as_deref(), Some("a,b"));
        assert_eq!(first_rdn_value("admins"), None);
        assert_eq!(first_rdn_value("cn=,dc=x"), None);
    }

    #[test]
    fn attribute_lookup_is_case_insensitive() {
        let e = Entry::new(
            "uid=a,dc=x",
            vec![
                ("mail".into(), vec![b" a@x.com ".to_vec()]),
                ("displayName".into(), vec![vec![0xff], b"A".to_vec()]),
            ],
        );
        assert_eq!(e.first("MAIL").as_deref(), Some("a@x.com"));
        assert_eq!(e.first("displayname").as_deref(), Some("A"));
        assert_eq!(e.strings("displayName"), vec!["A".to_owned()]);
        assert!(e.raw("cn").is_empty());
    }

    #[test]
    fn malformed_entries_are_none_not_panics() {
        use ldap3::asn1::TagClass;
        let bad = StructureTag {
            class: TagClass::Application,
            id: 4,
            payload: PL::P(vec![1, 2, 3]),
        };
        assert!(decode_tag(bad).is_none());
        let empty = StructureTag {
            class: TagClass::Application,
            id: 4,
            payload: PL::C(vec![]),
        };
        assert!(decode_tag(empty).is_none());
        let ok = StructureTag {
            class: TagClass::Application,
            id: 4,
            payload: PL::C(vec![
                StructureTag {
                    class: TagClass::Universal,
                    id: 4,
                    payload: PL::P(b"uid=a,dc=x".to_vec()),
                },
                StructureTag {
                    class: TagClass::Universal,
                    id: 16,
                    payload: PL::C(vec![StructureTag {
                        class: TagClass::Universal,
                        id: 16,
                        payload: PL::C(vec![
                            StructureTag {
                                class: TagClass::Universal,
                                id: 4,
                                payload: PL::P(b"uid".to_vec()),
                            },
                            StructureTag {
                                class: TagClass::Universal,
                                id: 17,
                                payload: PL::C(vec![StructureTag {
                                    class: TagClass::Universal,
                                    id: 4,
                                    payload: PL::P(b"a".to_vec()),
                                }]),
                            },
                        ]),
                    }]),
                },
            ]),
        };
        let e = decode_tag(ok).unwrap();
        assert_eq!(e.dn, "uid=a,dc=x");
        assert_eq!(e.first("uid").as_deref(), Some("a"));
    }
}
