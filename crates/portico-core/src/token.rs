//! Opaque bearer secrets (API keys, session tokens, login state) and their SHA-256 digests.
//! Only digests are stored; lookups are by digest, so no password hash runs per request.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

/// Prefix of API keys / personal access tokens.
pub const API_KEY_PREFIX: &str = "ptk_";
/// Prefix of session tokens.
pub const SESSION_PREFIX: &str = "pss_";

/// `n` random bytes from the OS CSPRNG, base64url without padding.
pub fn random_urlsafe(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 of a token's full text.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A freshly minted bearer secret: the full token (shown once) and what is stored.
pub struct Minted {
    /// The whole secret, shown to the caller once.
    pub token: SecretString,
    /// The non-secret display prefix (e.g. `ptk_AbC12345`).
    pub display_prefix: String,
    /// SHA-256 of the token.
    pub digest: Vec<u8>,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("display_prefix", &self.display_prefix)
            .finish_non_exhaustive()
    }
}

/// Mints a token `"{prefix}{8 chars}_{43 chars}"` with 256 bits of secret.
pub fn mint(prefix: &str) -> Minted {
    let head = random_urlsafe(6);
    let secret = random_urlsafe(32);
    let token = format!("{prefix}{head}_{secret}");
    let digest = digest(&token);
    Minted {
        display_prefix: format!("{prefix}{head}"),
        token: SecretString::from(token),
        digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn minted_tokens_are_distinct_and_hashed() {
        let a = mint(API_KEY_PREFIX);
        let b = mint(API_KEY_PREFIX);
        assert_ne!(a.token.expose_secret(), b.token.expose_secret());
        assert_eq!(a.digest, digest(a.token.expose_secret()));
        assert!(a.token.expose_secret().starts_with(&a.display_prefix));
        assert!(!format!("{a:?}").contains(a.token.expose_secret()));
    }
}
