//! ID token validation (OpenID Connect Core 1.0 §3.1.3.7) on top of `openidconnect`'s verifier,
//! with Portico's rules: asymmetric allow-list, `azp`, clock skew, string `sub`.

use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use openidconnect::core::{CoreIdToken, CoreIdTokenClaims, CoreIdTokenVerifier, CoreJsonWebKeySet};
use openidconnect::{ClaimsVerificationError, ClientId, IssuerUrl, Nonce, SignatureVerificationError};
use serde_json::{Map, Value};

use crate::discovery::{allowed_algs, clip};
use crate::{ALLOWED_ID_TOKEN_ALGS, CLOCK_SKEW};

/// What the ID token must say.
pub(crate) struct Expected<'a> {
    /// The discovered issuer, compared exactly.
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: DateTime<Utc>,
}

/// A validated ID token.
pub(crate) struct Verified {
    pub claims: CoreIdTokenClaims,
    /// The payload as sent (all claims, including ones `openidconnect` does not model).
    pub payload: Map<String, Value>,
}

/// Why validation failed.
pub(crate) enum Failure {
    /// No key of the JWKS fits the token's `kid`/`alg`: worth one JWKS refetch.
    UnknownKey(String),
    /// Anything else: refuse.
    Invalid(String),
}

impl Failure {
    pub(crate) fn message(self) -> String {
        match self {
            Failure::UnknownKey(m) | Failure::Invalid(m) => m,
        }
    }
}

/// Decodes the header and payload without trusting them, for precise refusals.
type JsonObject = Map<String, Value>;

fn decode_unverified(raw: &str) -> Result<(JsonObject, JsonObject), Failure> {
    let parts: Vec<&str> = raw.split('.').collect();
    if parts.len() != 3 {
        return Err(Failure::Invalid(format!(
            "ID token is not a compact JWS (found {} parts; encrypted ID tokens are not supported)",
            parts.len()
        )));
    }
    let object = |part: &str, what: &str| -> Result<Map<String, Value>, Failure> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| Failure::Invalid(format!("ID token {what} is not base64url")))?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(Failure::Invalid(format!("ID token {what} is not a JSON object"))),
        }
    };
    Ok((object(parts[0], "header")?, object(parts[1], "payload")?))
}

/// Validates `raw` against `jwks` and `expected`.
pub(crate) fn verify(raw: &str, jwks: &CoreJsonWebKeySet, expected: &Expected<'_>) -> Result<Verified, Failure> {
    let (header, payload) = decode_unverified(raw)?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or_default().to_owned();
    if !ALLOWED_ID_TOKEN_ALGS.contains(&alg.as_str()) {
        let shown = if alg.is_empty() {
            "no alg".to_owned()
        } else {
            format!("alg `{}`", clip(&alg))
        };
        return Err(Failure::Invalid(format!(
            "ID token signed with {shown}; only {} are accepted",
            ALLOWED_ID_TOKEN_ALGS.join(", ")
        )));
    }
    match payload.get("sub") {
        None => return Err(Failure::Invalid("ID token has no `sub` claim".into())),
        Some(Value::String(s)) if s.is_empty() => return Err(Failure::Invalid("ID token `sub` claim is empty".into())),
        Some(Value::String(_)) => {}
        Some(other) => {
            return Err(Failure::Invalid(format!(
                "ID token `sub` claim is not a string (found {})",
                json_type(other)
            )));
        }
    }

    let token = CoreIdToken::from_str(raw)
        .map_err(|e| Failure::Invalid(format!("ID token is malformed: {}", clip(&e.to_string()))))?;
    let issuer = IssuerUrl::new(expected.issuer.to_owned())
        .map_err(|e| Failure::Invalid(format!("issuer `{}` is not a URL: {e}", clip(expected.issuer))))?;
    let skew = TimeDelta::from_std(CLOCK_SKEW).unwrap_or(TimeDelta::zero());
    let now = expected.now;
    let verifier =
        CoreIdTokenVerifier::new_public_client(ClientId::new(expected.client_id.to_owned()), issuer, jwks.clone())
            .set_allowed_algs(allowed_algs())
            // Further audiences are allowed only together with `azp` = client ID, checked below.
            .set_other_audience_verifier_fn(|_| true)
            // `exp` is compared with this time: a token expired less than the skew ago still passes.
            .set_time_fn(move || now - skew)
            .set_issue_time_verifier_fn(move |iat| {
                if iat > now + skew {
                    Err(format!("ID token issued in the future (iat {iat}, now {now})"))
                } else {
                    Ok(())
                }
            });
    let nonce = Nonce::new(expected.nonce.to_owned());
    let claims = token
        .into_claims(&verifier, &nonce)
        .map_err(|e| claims_failure(e, &header, &payload, now))?;

    let client_id = expected.client_id;
    match claims.authorized_party() {
        Some(azp) if azp.as_str() != client_id => {
            return Err(Failure::Invalid(format!(
                "ID token `azp` is `{}`, not this client (`{client_id}`)",
                clip(azp.as_str())
            )));
        }
        None if claims.audiences().len() > 1 => {
            return Err(Failure::Invalid(
                "ID token has several audiences but no `azp` naming this client".into(),
            ));
        }
        _ => {}
    }
    Ok(Verified { claims, payload })
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn claims_failure(
    err: ClaimsVerificationError,
    header: &Map<String, Value>,
    payload: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Failure {
    use SignatureVerificationError as S;
    let invalid = |m: String| Failure::Invalid(clip_long(m));
    match err {
        ClaimsVerificationError::SignatureVerification(S::NoMatchingKey) => {
            let kid = header
                .get("kid")
                .and_then(Value::as_str)
                .map_or_else(|| "no kid".to_owned(), |k| format!("kid `{}`", clip(k)));
            let alg = header.get("alg").and_then(Value::as_str).unwrap_or_default();
            Failure::UnknownKey(format!(
                "no key of the issuer's JWKS matches the ID token's {kid} and alg `{}`",
                clip(alg)
            ))
        }
        ClaimsVerificationError::SignatureVerification(S::CryptoError(_)) => {
            invalid("ID token signature does not verify with the issuer's key".into())
        }
        ClaimsVerificationError::SignatureVerification(S::NoSignature) => {
            invalid("ID token is unsigned (alg `none`)".into())
        }
        ClaimsVerificationError::SignatureVerification(S::AmbiguousKeyId(m)) => invalid(format!(
            "ID token names no kid and several keys could have signed it: {m}"
        )),
        ClaimsVerificationError::SignatureVerification(e) => {
            invalid(format!("ID token signature cannot be verified: {e}"))
        }
        // Our own `iat` check words its message; `exp`'s is reworded (the library reports the
        // skew-adjusted time as "current time").
        ClaimsVerificationError::Expired(m) if m.starts_with("ID token issued in the future") => invalid(m),
        ClaimsVerificationError::Expired(_) => {
            let exp = payload
                .get("exp")
                .and_then(Value::as_i64)
                .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
                .map_or_else(|| "?".to_owned(), |t| t.to_rfc3339());
            invalid(format!(
                "ID token expired at {exp} (now {}, {} s of clock skew allowed)",
                now.to_rfc3339_opts(SecondsFormat::Secs, true),
                CLOCK_SKEW.as_secs()
            ))
        }
        ClaimsVerificationError::InvalidAudience(m) => invalid(format!("ID token audience is wrong: {m}")),
        ClaimsVerificationError::InvalidIssuer(m) => invalid(format!("ID token issuer is wrong: {m}")),
        ClaimsVerificationError::InvalidNonce(m) => invalid(format!("ID token nonce is wrong: {m}")),
        ClaimsVerificationError::InvalidSubject(m) => invalid(format!("ID token subject is wrong: {m}")),
        other => invalid(format!("ID token refused: {other}")),
    }
}

fn clip_long(m: String) -> String {
    const MAX: usize = 500;
    if m.chars().count() <= MAX {
        m
    } else {
        format!("{}…", m.chars().take(MAX).collect::<String>())
    }
}
