//! Organization slugs: 1–63 characters of `a-z`, `0-9` and inner `-`.

/// True when `s` is a valid organization slug.
pub fn is_valid(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Derives a slug from a display name (lower-cased, runs of other characters become `-`).
pub fn from_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let trimmed: String = out.trim_matches('-').chars().take(63).collect();
    let trimmed = trimmed.trim_end_matches('-').to_owned();
    if trimmed.is_empty() {
        "org".to_owned()
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(is_valid("acme-corp"));
        assert!(!is_valid("-acme"));
        assert!(!is_valid("Acme"));
        assert_eq!(from_name("Acme Corp, Inc."), "acme-corp-inc");
        assert_eq!(from_name("!!!"), "org");
    }
}
