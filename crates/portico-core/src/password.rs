//! Password hashing with Argon2id (PHC strings).

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Longest password accepted (bytes); longer inputs are refused before hashing.
pub const MAX_LEN: usize = 1024;
/// Shortest password accepted for new passwords.
pub const MIN_LEN: usize = 8;

/// Errors from hashing.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The password is shorter than [`MIN_LEN`] or longer than [`MAX_LEN`].
    #[error("password must be between {MIN_LEN} and {MAX_LEN} bytes")]
    Length,
    /// The hasher failed.
    #[error("password hashing failed")]
    Hash,
}

/// Hashes a new password with Argon2id and a random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.len() < MIN_LEN || password.len() > MAX_LEN {
        return Err(PasswordError::Length);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Hash)
}

/// Verifies `password` against a stored PHC hash; false on any mismatch or malformed hash.
pub fn verify(password: &str, phc: &str) -> bool {
    if password.is_empty() || password.len() > MAX_LEN {
        return false;
    }
    PasswordHash::new(phc)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// A fixed hash used to spend the same time on unknown accounts as on known ones.
pub fn dummy_verify(password: &str) {
    static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if let Some(h) = DUMMY.get_or_init(|| hash("dummy-password-for-timing").ok()) {
        let _ = verify(password, h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let h = hash("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong", &h));
        assert!(!verify("", &h));
        assert!(hash("short").is_err());
    }
}
