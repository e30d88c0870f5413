//! RP-initiated logout: checking the `id_token_hint` (our signature, our issuer; an expired
//! token is still a valid hint).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::keys;
use crate::error::ApiError;
use crate::state::AppState;

/// What a valid hint names.
#[derive(Debug, Deserialize)]
pub struct Hint {
    /// The client.
    pub aud: String,
    /// The SSO session.
    pub sid: String,
}

/// Verifies `hint`; None when it is not an ID token Portico signed.
pub async fn verify_hint(state: &AppState, hint: &str) -> Result<Option<Hint>, ApiError> {
    if hint.len() > 8192 {
        return Ok(None);
    }
    let Ok(header) = jsonwebtoken::decode_header(hint) else {
        return Ok(None);
    };
    if !matches!(header.alg, Algorithm::ES256 | Algorithm::RS256) {
        return Ok(None);
    }
    let Some(kid) = header.kid else { return Ok(None) };
    let published = portico_store::oauth_clients::published_keys(&state.db, keys::RETIRED_OVERLAP_SECS).await?;
    let Some(k) = published
        .into_iter()
        .find(|k| k.id == kid && k.alg == format!("{:?}", header.alg))
    else {
        return Ok(None);
    };
    let Ok(jwk) = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(k.public_jwk) else {
        return Ok(None);
    };
    let Ok(key) = DecodingKey::from_jwk(&jwk) else {
        return Ok(None);
    };
    let mut v = Validation::new(header.alg);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v.set_issuer(&[state.settings.public_base()]);
    Ok(jsonwebtoken::decode::<Hint>(hint, &key, &v).ok().map(|d| d.claims))
}
