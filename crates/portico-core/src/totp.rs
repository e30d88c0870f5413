//! TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, one step of clock skew either way) and
//! the recovery codes that stand in for it. Written out over `hmac` + `sha1` (twenty lines,
//! checked against the RFC's test vectors below) rather than pulling in a crate. Pure: no clock
//! but [`current_step`], no storage; the server's TOTP service keeps the secrets and the steps.

use chrono::Utc;
use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::{ids, token};

/// Seconds per time step.
pub const STEP_SECS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Recovery codes minted at a time.
pub const RECOVERY_CODES: usize = 10;
/// Steps of clock skew accepted either way.
const SKEW_STEPS: i64 = 1;
/// Secret length (RFC 4226 §4 recommends 160 bits).
const SECRET_BYTES: usize = 20;
/// The issuer shown in authenticator apps.
const ISSUER: &str = "Portico";
/// Id prefix of a stored recovery code.
const RECOVERY_ID: &str = "rcv_";

/// The code of `secret` at time step `step` (RFC 6238 / RFC 4226 dynamic truncation).
pub fn code_at(secret: &[u8], step: i64) -> String {
    let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([h[offset] & 0x7f, h[offset + 1], h[offset + 2], h[offset + 3]]);
    format!("{:0width$}", bin % 10u32.pow(DIGITS), width = DIGITS as usize)
}

/// The time step now.
pub fn current_step() -> i64 {
    Utc::now().timestamp().div_euclid(STEP_SECS)
}

/// How a presented TOTP code compares with the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeMatch {
    /// Valid for this step, later than the last accepted one.
    Fresh(i64),
    /// Valid, but its step was already used (or an older one): a replay.
    Replayed,
    /// Not a valid code now.
    Invalid,
}

/// Compares `code` (in constant time) with the codes of the steps around `now_step`; a step at
/// or before `last_step` (the last one accepted) is a replay (RFC 6238 §5.2).
pub fn match_code(secret: &[u8], code: &str, now_step: i64, last_step: Option<i64>) -> CodeMatch {
    let mut result = CodeMatch::Invalid;
    for step in (now_step - SKEW_STEPS)..=(now_step + SKEW_STEPS) {
        if bool::from(code_at(secret, step).as_bytes().ct_eq(code.as_bytes())) {
            if last_step.is_some_and(|last| step <= last) {
                if result == CodeMatch::Invalid {
                    result = CodeMatch::Replayed;
                }
            } else {
                return CodeMatch::Fresh(step);
            }
        }
    }
    result
}

/// Whether `s` has the shape of a TOTP code (else it may be a recovery code).
pub fn is_code(s: &str) -> bool {
    s.len() == DIGITS as usize && s.bytes().all(|b| b.is_ascii_digit())
}

/// A new random secret, base32 without padding (what is sealed, stored and shown once).
pub fn new_secret() -> String {
    let mut raw = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    BASE32_NOPAD.encode(&raw)
}

/// The key bytes of a base32 secret, if it is one.
pub fn decode_secret(b32: &str) -> Option<Vec<u8>> {
    BASE32_NOPAD.decode(b32.as_bytes()).ok()
}

/// A recovery code as typed (any case, dashes and spaces ignored) in canonical form, if it can be one.
pub fn normalize_recovery_code(input: &str) -> Option<String> {
    let c: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .collect::<String>()
        .to_ascii_uppercase();
    (c.len() == 16 && c.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))).then_some(c)
}

/// Fresh recovery codes, each of 80 random bits: as shown once (`abcd-efgh-ijkl-mnop`) and as
/// stored (an id and the SHA-256 digest of the canonical form).
pub fn new_recovery_codes() -> (Vec<String>, Vec<(String, Vec<u8>)>) {
    let mut shown = Vec::with_capacity(RECOVERY_CODES);
    let mut stored = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut raw = [0u8; 10];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let canonical = BASE32_NOPAD.encode(&raw);
        let lower = canonical.to_ascii_lowercase();
        shown.push(format!(
            "{}-{}-{}-{}",
            &lower[0..4],
            &lower[4..8],
            &lower[8..12],
            &lower[12..16]
        ));
        stored.push((ids::prefixed(RECOVERY_ID), token::digest(&canonical)));
    }
    (shown, stored)
}

fn uri_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `otpauth://` URI authenticator apps read (Key Uri Format).
pub fn otpauth_uri(account: &str, secret_b32: &str) -> String {
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret_b32}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        issuer = uri_component(ISSUER),
        account = uri_component(account),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B (8 digits there; the last 6 digits are the 6-digit code).
        let secret = b"12345678901234567890";
        for (t, eight) in [
            (59i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(secret, t / STEP_SECS), &eight[2..]);
        }
    }

    #[test]
    fn replay_and_skew() {
        let secret = b"12345678901234567890";
        let now = 1000;
        let c = code_at(secret, now);
        assert_eq!(match_code(secret, &c, now, None), CodeMatch::Fresh(now));
        assert_eq!(match_code(secret, &c, now, Some(now)), CodeMatch::Replayed);
        assert_eq!(
            match_code(secret, &code_at(secret, now - 1), now, Some(now - 2)),
            CodeMatch::Fresh(now - 1)
        );
        assert_eq!(
            match_code(secret, &code_at(secret, now + 1), now, Some(now)),
            CodeMatch::Fresh(now + 1)
        );
        assert_eq!(
            match_code(secret, &code_at(secret, now - 2), now, None),
            CodeMatch::Invalid
        );
    }

    #[test]
    fn secrets_round_trip_and_codes_have_their_shape() {
        let s = new_secret();
        assert_eq!(decode_secret(&s).unwrap().len(), SECRET_BYTES);
        assert_eq!(decode_secret("not base32!"), None);
        assert!(is_code("012345"));
        assert!(!is_code("01234a") && !is_code("12345") && !is_code("1234567"));
    }

    #[test]
    fn recovery_codes_and_uri() {
        let (shown, stored) = new_recovery_codes();
        assert_eq!(shown.len(), RECOVERY_CODES);
        let canonical = normalize_recovery_code(&shown[0]).unwrap();
        assert_eq!(token::digest(&canonical), stored[0].1);
        assert_eq!(
            normalize_recovery_code(&shown[0].to_ascii_uppercase().replace('-', " ")).unwrap(),
            canonical
        );
        assert_eq!(normalize_recovery_code("123456"), None);
        let uri = otpauth_uri("a+b@example.com", "JBSWY3DPEHPK3PXP");
        assert_eq!(uri, "otpauth://totp/Portico:a%2Bb%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Portico&algorithm=SHA1&digits=6&period=30");
    }
}
