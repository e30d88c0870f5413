//! The secret box: AES-256-GCM envelopes `v1:<key-id>:<nonce>:<ciphertext>` with associated data
//! `table:row-id:column`, so a sealed value cannot be moved to another row or column. Several keys
//! can be loaded; the first is current and seals, any of them opens (rotation).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

/// Errors from the secret box.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretBoxError {
    /// A configured key is not `id:base64(32 bytes)`.
    #[error("encryption key {0} is not of the form id:base64(32 bytes)")]
    BadKey(usize),
    /// No key configured.
    #[error("no encryption key configured")]
    NoKey,
    /// Two keys share an id.
    #[error("duplicate encryption key id {0}")]
    DuplicateKeyId(String),
    /// The envelope is malformed.
    #[error("sealed value is malformed")]
    Malformed,
    /// The envelope names a key that is not loaded.
    #[error("sealed value uses unknown key id {0}")]
    UnknownKey(String),
    /// Authentication failed (wrong key, tampered value, or wrong associated data).
    #[error("sealed value failed authentication")]
    Tampered,
}

/// Where a sealed value lives; bound into the ciphertext as associated data.
#[derive(Clone, Copy, Debug)]
pub struct Slot<'a> {
    /// Table name.
    pub table: &'a str,
    /// Row id.
    pub row: &'a str,
    /// Column name.
    pub column: &'a str,
}

impl Slot<'_> {
    fn aad(&self) -> String {
        format!("{}:{}:{}", self.table, self.row, self.column)
    }
}

/// A key ring; the first key seals.
#[derive(Clone)]
pub struct SecretBox {
    keys: Vec<(String, Aes256Gcm)>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("SecretBox").field("key_ids", &ids).finish()
    }
}

impl SecretBox {
    /// Builds a key ring from `id:base64key` strings; the first is current.
    pub fn from_specs(specs: &[SecretString]) -> Result<Self, SecretBoxError> {
        if specs.is_empty() {
            return Err(SecretBoxError::NoKey);
        }
        let mut keys: Vec<(String, Aes256Gcm)> = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let (id, b64) = spec
                .expose_secret()
                .trim()
                .split_once(':')
                .ok_or(SecretBoxError::BadKey(i))?;
            let valid_id = !id.is_empty()
                && id.len() <= 32
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            let raw = STANDARD
                .decode(b64)
                .or_else(|_| URL_SAFE_NO_PAD.decode(b64))
                .map_err(|_| SecretBoxError::BadKey(i))?;
            if !valid_id || raw.len() != 32 {
                return Err(SecretBoxError::BadKey(i));
            }
            if keys.iter().any(|(k, _)| k == id) {
                return Err(SecretBoxError::DuplicateKeyId(id.to_owned()));
            }
            let cipher = Aes256Gcm::new_from_slice(&raw).map_err(|_| SecretBoxError::BadKey(i))?;
            keys.push((id.to_owned(), cipher));
        }
        Ok(Self { keys })
    }

    /// A new random key spec `id:base64key` (for `portico keys` and the development key).
    pub fn generate_spec(id: &str) -> SecretString {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        SecretString::from(format!("{id}:{}", STANDARD.encode(raw)))
    }

    /// Id of the current (sealing) key.
    pub fn current_key_id(&self) -> &str {
        self.keys.first().map(|(id, _)| id.as_str()).unwrap_or_default()
    }

    /// Seals `plaintext` for `slot` with the current key.
    pub fn seal(&self, plaintext: &str, slot: Slot<'_>) -> Result<String, SecretBoxError> {
        let (id, cipher) = self.keys.first().ok_or(SecretBoxError::NoKey)?;
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = slot.aad();
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SecretBoxError::Tampered)?;
        Ok(format!(
            "v1:{id}:{}:{}",
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(ct)
        ))
    }

    /// Opens an envelope sealed for `slot`.
    pub fn open(&self, sealed: &str, slot: Slot<'_>) -> Result<SecretString, SecretBoxError> {
        let mut parts = sealed.split(':');
        let (Some("v1"), Some(id), Some(nonce), Some(ct), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SecretBoxError::Malformed);
        };
        let cipher = self
            .keys
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, c)| c)
            .ok_or_else(|| SecretBoxError::UnknownKey(id.to_owned()))?;
        let nonce = URL_SAFE_NO_PAD.decode(nonce).map_err(|_| SecretBoxError::Malformed)?;
        let ct = URL_SAFE_NO_PAD.decode(ct).map_err(|_| SecretBoxError::Malformed)?;
        if nonce.len() != 12 {
            return Err(SecretBoxError::Malformed);
        }
        let aad = slot.aad();
        let pt = cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SecretBoxError::Tampered)?;
        String::from_utf8(pt)
            .map(SecretString::from)
            .map_err(|_| SecretBoxError::Malformed)
    }

    /// True when `sealed` was sealed with the current key (no rotation needed).
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed.split(':').nth(1) == Some(self.current_key_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(row: &str) -> Slot<'_> {
        Slot {
            table: "t",
            row,
            column: "c",
        }
    }

    #[test]
    fn seal_open_rotate_and_bind() {
        let k1 = SecretBox::generate_spec("k1");
        let k2 = SecretBox::generate_spec("k2");
        let old = SecretBox::from_specs(std::slice::from_ref(&k1)).expect("ring");
        let sealed = old.seal("s3cret", slot("r1")).expect("seal");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(old.open(&sealed, slot("r1")).expect("open").expose_secret(), "s3cret");
        assert_eq!(old.open(&sealed, slot("r2")).err(), Some(SecretBoxError::Tampered));
        let new = SecretBox::from_specs(&[k2, k1]).expect("ring");
        assert!(!new.is_current(&sealed));
        assert_eq!(new.open(&sealed, slot("r1")).expect("open").expose_secret(), "s3cret");
        let resealed = new.seal("s3cret", slot("r1")).expect("seal");
        assert!(new.is_current(&resealed));
        assert!(matches!(
            old.open(&resealed, slot("r1")),
            Err(SecretBoxError::UnknownKey(_))
        ));
        assert!(!format!("{new:?}").contains("k1:"));
        assert!(SecretBox::from_specs(&[SecretString::from("bad")]).is_err());
    }
}
