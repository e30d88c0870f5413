//! RFC 4515 escaping of assertion values and the filter templates (`{{username}}`, `{{dn}}`).
//!
//! A username is data, never filter syntax: every byte that could change the filter's structure
//! (`*`, `(`, `)`, `\`, NUL) is written as `\XX`, and so are control characters, DEL and every
//! non-ASCII byte (RFC 4515 allows any octet to be escaped; the server reassembles the UTF-8).
//! Templates are expanded in one pass, so a value that contains `{{dn}}` is never expanded again.

use portico_core::idp::IdpError;

/// The username placeholder.
pub const USERNAME: &str = "{{username}}";
/// The user-DN placeholder.
pub const DN: &str = "{{dn}}";

/// Escapes `value` for use as an assertion value inside an LDAP search filter (RFC 4515 §3).
pub fn filter_value(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(value.len() + 8);
    for &b in value.as_bytes() {
        match b {
            b'*' | b'(' | b')' | b'\\' => push_escaped(&mut out, b, HEX),
            0x21..=0x7e | b' ' => out.push(char::from(b)),
            _ => push_escaped(&mut out, b, HEX),
        }
    }
    out
}

fn push_escaped(out: &mut String, b: u8, hex: &[u8; 16]) {
    out.push('\\');
    out.push(char::from(hex[usize::from(b >> 4)]));
    out.push(char::from(hex[usize::from(b & 0x0f)]));
}

/// Expands `template` in a single left-to-right pass: `{{username}}` becomes the escaped
/// `username`, `{{dn}}` the escaped `dn` (an error when the template uses it and none is given).
/// Substituted text is never scanned again.
pub fn render(template: &str, username: &str, dn: Option<&str>) -> Result<String, IdpError> {
    let mut out = String::with_capacity(template.len() + username.len() * 3);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if let Some(after) = tail.strip_prefix(USERNAME) {
            out.push_str(&filter_value(username));
            rest = after;
        } else if let Some(after) = tail.strip_prefix(DN) {
            let dn = dn.ok_or_else(|| IdpError::Config("{{dn}} is only available in ldapGroupSearchFilter".into()))?;
            out.push_str(&filter_value(dn));
            rest = after;
        } else {
            return Err(IdpError::Config(format!(
                "unknown placeholder in filter template near {:?}",
                truncate(tail, 24)
            )));
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Checks a filter template: bounded, known placeholders only, `{{username}}` present when
/// `needs_username`, and a valid filter once expanded.
pub fn check_template(field: &str, template: &str, needs_username: bool) -> Result<(), IdpError> {
    if template.is_empty() || template.len() > 1024 {
        return Err(IdpError::Config(format!("{field} must be 1-1024 characters")));
    }
    if needs_username && !template.contains(USERNAME) {
        return Err(IdpError::Config(format!("{field} must contain {USERNAME}")));
    }
    let sample = render(template, "sample", Some("cn=sample,dc=example,dc=com"))?;
    if ldap3::parse_filter(&sample).is_err() {
        return Err(IdpError::Config(format!("{field} is not a valid LDAP filter")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn escapes_the_rfc_4515_specials() {
        assert_eq!(filter_value("*"), "\\2a");
        assert_eq!(filter_value("("), "\\28");
        assert_eq!(filter_value(")"), "\\29");
        assert_eq!(filter_value("\\"), "\\5c");
        assert_eq!(filter_value("\0"), "\\00");
        assert_eq!(filter_value("alice*"), "alice\\2a");
        assert_eq!(filter_value("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
        assert_eq!(filter_value("alice)(|(uid=*"), "alice\\29\\28|\\28uid=\\2a");
        // An already-escaped-looking value is data: its backslash is escaped again.
        assert_eq!(filter_value("\\2a"), "\\5c2a");
    }

    #[test]
    fn leaves_ordinary_text_and_escapes_controls_and_non_ascii() {
        assert_eq!(filter_value("alice.smith@example.com"), "alice.smith@example.com");
        assert_eq!(filter_value("John Doe"), "John Doe");
        assert_eq!(filter_value("a\nb\tc\x7f"), "a\\0ab\\09c\\7f");
        assert_eq!(filter_value("é"), "\\c3\\a9");
        assert_eq!(filter_value("名"), "\\e5\\90\\8d");
    }

    #[test]
    fn agrees_with_ldap3_on_the_specials() {
        for v in ["*", "a(b)c", "x\\y", "\0", "plain"] {
            // ldap3 escapes only the five specials; ours is a superset on those inputs.
            assert_eq!(filter_value(v), ldap3::ldap_escape(v));
        }
    }

    #[test]
    fn escaped_values_parse_as_one_equality_assertion() {
        for v in [
            "*",
            "alice*",
            "*)(uid=*",
            "alice)(|(uid=*",
            "\\2a",
            "é\0\x01",
            &"x".repeat(300),
        ] {
            let f = render("(uid={{username}})", v, None).unwrap();
            assert!(ldap3::parse_filter(&f).is_ok(), "{f}");
            // No unescaped structure characters survive inside the value.
            let inner = &f[5..f.len() - 1];
            assert!(
                !inner.contains('*') && !inner.contains('(') && !inner.contains(')'),
                "{f}"
            );
        }
    }

    #[test]
    fn renders_templates_in_one_pass() {
        assert_eq!(render("(uid={{username}})", "alice", None).unwrap(), "(uid=alice)");
        assert_eq!(
            render("(|(uid={{username}})(mail={{username}}))", "a*", None).unwrap(),
            "(|(uid=a\\2a)(mail=a\\2a))"
        );
        // A username containing a placeholder is not expanded again.
        assert_eq!(
            render("(uid={{username}})", "{{dn}}", Some("cn=x")).unwrap(),
            "(uid={{dn}})"
        );
        assert_eq!(
            render("(&(member={{dn}})(cn={{username}}))", "bob", Some("uid=a(1),dc=x")).unwrap(),
            "(&(member=uid=a\\281\\29,dc=x)(cn=bob))"
        );
        assert!(render("(member={{dn}})", "bob", None).is_err());
        assert!(render("(uid={{user}})", "bob", None).is_err());
    }

    #[test]
    fn checks_templates() {
        assert!(check_template("f", "(uid={{username}})", true).is_ok());
        assert!(check_template("f", "(sAMAccountName={{username}})", true).is_ok());
        assert!(check_template(
            "f",
            "(&(objectClass=person)(|(uid={{username}})(mail={{username}})))",
            true
        )
        .is_ok());
        assert!(check_template("f", "(uid=alice)", true).is_err());
        assert!(check_template("f", "(uid={{username}}", true).is_err());
        assert!(check_template("f", "(member={{dn}})", false).is_ok());
        assert!(check_template("f", "(|(member={{dn}})(memberUid={{username}}))", false).is_ok());
        assert!(check_template("f", "", false).is_err());
    }
}
