//! Email domains: normalised (trimmed, trailing dot removed, lower case, IDNA to ASCII) and
//! validated (a host name of at least two labels, never an IP address).

/// Why a domain was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DomainError {
    /// Not a syntactically valid host name.
    #[error("not a valid domain name")]
    Invalid,
    /// An IP address.
    #[error("IP addresses are not domains")]
    IpAddress,
    /// A single label (`localhost`, `com`).
    #[error("a domain needs at least two labels")]
    SingleLabel,
}

/// Normalises and validates a domain.
pub fn normalize(input: &str) -> Result<String, DomainError> {
    let t = input.trim();
    let t = t.strip_suffix('.').unwrap_or(t);
    if t.is_empty() || t.len() > 253 || t.contains(['/', ':', '@', ' ', '\\', '?', '#', '[', ']']) {
        return Err(DomainError::Invalid);
    }
    let ascii = match url::Host::parse(t).map_err(|_| DomainError::Invalid)? {
        url::Host::Domain(d) => d,
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => return Err(DomainError::IpAddress),
    };
    let ascii = ascii.to_ascii_lowercase();
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(DomainError::SingleLabel);
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if ascii.len() > 253 || !labels.iter().all(label_ok) {
        return Err(DomainError::Invalid);
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err(DomainError::IpAddress);
    }
    Ok(ascii)
}

/// The normalised domain of an email address.
pub fn of_email(email: &str) -> Option<String> {
    let (_, d) = email.trim().rsplit_once('@')?;
    normalize(d).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        assert_eq!(normalize("ExAmple.COM.").as_deref(), Ok("example.com"));
        assert_eq!(normalize(" bücher.example ").as_deref(), Ok("xn--bcher-kva.example"));
        assert_eq!(normalize("127.0.0.1"), Err(DomainError::IpAddress));
        assert_eq!(normalize("[::1]"), Err(DomainError::Invalid));
        assert_eq!(normalize("localhost"), Err(DomainError::SingleLabel));
        assert_eq!(normalize("-bad.com"), Err(DomainError::Invalid));
        assert_eq!(normalize("a..com"), Err(DomainError::Invalid));
        assert_eq!(normalize("user@x.com"), Err(DomainError::Invalid));
        assert_eq!(of_email("Alice@Example.COM").as_deref(), Some("example.com"));
    }
}
